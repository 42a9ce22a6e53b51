//! Everything a replica needs before it starts, read and checked from its files: the
//! node configuration, its key and its application. Every failure here is reported as a
//! configuration problem naming the file to fix, before anything is opened or bound.

use std::path::{Path, PathBuf};

use rampart_crypto::{CryptoError, KeyPair, PublicKey, load_key_pair};
use rampart_replica::cluster::Cluster;
use rampart_replica::message::ReplicaId;
use rampart_replica::node::NodeConfig;

use crate::address::HostPort;
use crate::failure::Failure;
use crate::files::cluster::{Application, ClusterFile};
use crate::files::replica::ReplicaFile;
use crate::files::{self, resolve};

/// A replica ready to start.
#[derive(Debug)]
pub struct Setup {
    /// The configuration file, as given on the command line, for messages.
    pub config_path: PathBuf,
    pub node: NodeConfig,
    pub key: KeyPair,
    pub application: Application,
}

/// Reads the replica's file, the cluster file it names and its key, and checks that they
/// belong together. `key` and `data_dir` override the file's paths.
pub fn load(
    config_path: &Path,
    key: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<Setup, Failure> {
    let file: ReplicaFile = files::load(config_path, "the replica configuration")?;
    let in_file =
        |message: String| Failure::config(format_args!("{}: {message}", config_path.display()));
    let tick = file.tick().map_err(in_file)?;
    let connection_limits = file.limits.connection_limits().map_err(in_file)?;

    let cluster_path = resolve(config_path, &file.cluster);
    let spec = ClusterFile::load(&cluster_path)?;
    let replica = ReplicaId(file.replica);
    let expected = spec.cluster.key(replica).ok_or_else(|| {
        in_file(format!(
            "replica = {}, but {} lists replicas 0 to {}; set `replica` to this replica's \
             index",
            file.replica,
            cluster_path.display(),
            spec.cluster.size() - 1
        ))
    })?;

    let key_path = key.map_or_else(|| resolve(config_path, &file.key), Path::to_path_buf);
    let key = load_key_pair(&key_path).map_err(|error| in_file(key_file_problem(error)))?;
    if key.public_key() != expected {
        return Err(in_file(key_mismatch(
            &spec.cluster,
            replica,
            &key_path,
            &cluster_path,
            key.public_key(),
        )));
    }

    let mut protocol = file.protocol.config(spec.cluster.clone(), &spec.protocol);
    protocol.client_bytes_in_flight_max = file.limits.client_bytes_in_flight_max;
    protocol.client_requests_in_flight_max = file.limits.client_requests_in_flight_max;
    protocol.clients = spec.clients.clone();
    protocol
        .validate()
        .map_err(|error| in_file(format!("[protocol]: {error}")))?;

    // Names are not looked up here but before every dial, so that a replica starts while
    // a peer's name does not resolve yet, and finds a peer that moved to another address.
    let addresses = spec.addresses.iter().map(HostPort::peer_address);

    let data_dir = data_dir.map_or_else(|| resolve(config_path, &file.data_dir), Path::to_path_buf);
    let mut node = NodeConfig::new(replica, protocol, addresses, data_dir);
    node.listen = file.listen;
    node.store.sync = file.sync;
    node.tick = tick;
    node.verify_threads = file.verify_threads;
    node.max_frame_bytes = file.max_frame_bytes;
    node.connection_limits = connection_limits;
    node.metrics_listen = file.metrics.map(|metrics| metrics.listen);
    // The settings the node's HELLOs carry are the file's, whose digest is the cluster id.
    node.application = spec.application.name().to_string();
    debug_assert_eq!(node.settings().cluster_id(), node.protocol.cluster.id);
    Ok(Setup {
        config_path: config_path.to_path_buf(),
        node,
        key,
        application: spec.application,
    })
}

/// Why the key file cannot be used, with what to do about it.
fn key_file_problem(error: CryptoError) -> String {
    match error {
        // Says which `chmod` to run.
        CryptoError::KeyFilePermissions { .. } => error.to_string(),
        CryptoError::KeyFileIo { .. } => format!("{error}; check the path in `key`"),
        _ => format!("{error}; use the key file `rampart init` wrote for this replica"),
    }
}

/// The key file holds another key than the cluster lists for this replica.
fn key_mismatch(
    cluster: &Cluster,
    replica: ReplicaId,
    key_path: &Path,
    cluster_path: &Path,
    found: PublicKey,
) -> String {
    let owner = match cluster.replica_with_key(&found) {
        Some(other) => format!(" (replica {}'s key)", other.0),
        None => String::new(),
    };
    let expected = cluster
        .key(replica)
        .map_or_else(String::new, |key| key.short());
    let replica = replica.0;
    format!(
        "key file {} holds key {}…{owner}, but {} lists {expected}… for replica {replica}; use \
         the key written for replica {replica}",
        key_path.display(),
        found.short(),
        cluster_path.display(),
    )
}
