//! `rampart init`: writes the keys and configuration files of a new cluster.
//!
//! The output directory holds `cluster.toml`, `replica-<i>.toml` and `replica-<i>.key`
//! for every replica, and `client-<j>.toml` and `client-<j>.key` for every client.
//! `cluster.toml` is written last, so a directory without one never holds a complete
//! cluster and an interrupted run can simply be repeated.
//!
//! With `--public-keys`, `init` generates no key and writes no `.key` file: the cluster is
//! built from public keys that each host made with `rampart keygen`, so no private key
//! has to leave its host (see [`crate::files::public_keys`]).

use std::fs;
use std::path::{Path, PathBuf};

use rampart_crypto::{ClusterId, KeyPair, PublicKey, save_key_pair};

use crate::address::HostPort;
use crate::failure::Failure;
use crate::files::client::ClientFile;
use crate::files::clients::ClientsTable;
use crate::files::cluster::{
    ApplicationKind, ClusterFile, ClusterProtocol, InterlockGenesis, ReplicaEntry,
    is_three_f_plus_one,
};
use crate::files::encoding::{ClusterIdHex, KeyHex};
use crate::files::public_keys::PublicKeys;
use crate::files::replica::{MetricsTable, ReplicaFile};

/// The unit the interlock protects when `--units` is not given.
pub const DEFAULT_UNIT: &str = "reactor-1";

/// The lowest confidence that counts as a vote when `--min-confidence` is not given.
pub const DEFAULT_MIN_CONFIDENCE_PERCENT: u8 = 50;

/// Where a replica built from `--public-keys` finds its private key when `--key-path` is
/// not given: beside its configuration file. `{i}` stands for the replica's index.
pub const DEFAULT_KEY_PATH: &str = "replica-{i}.key";

/// Writes the keys and configuration files of a new cluster.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Number of replicas: n = 3f+1 with f ≥ 1 (4, 7, 10, …). With --public-keys, the
    /// file's replica lines give it.
    #[arg(long, value_name = "N", required_unless_present = "public_keys")]
    pub replicas: Option<usize>,
    /// Number of clients; for the interlock, its voting agents (at least 1). With
    /// --public-keys, the file's client lines give it.
    #[arg(long, value_name = "M", required_unless_present = "public_keys")]
    pub clients: Option<u32>,
    /// The replicated application.
    #[arg(long, value_enum, value_name = "APP")]
    pub app: ApplicationKind,
    /// Replica i listens on port P+i.
    #[arg(long, value_name = "P", default_value_t = 7100)]
    pub base_port: u16,
    /// The directory to write to; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace a cluster already in DIR. Its configuration files, the data directories
    /// under DIR/data and, unless --public-keys is given, its keys are deleted.
    #[arg(long)]
    pub force: bool,
    /// Build the cluster from these public keys instead of generating keys, and write no
    /// private key. One line per replica and client: `replica <i> <public key>` or
    /// `client <j> <public key>`, the key as `rampart keygen` prints it; `#` starts a
    /// comment.
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// With --public-keys: the path of each replica's private key on its host, written
    /// into its replica-<i>.toml (relative paths are relative to that file); `{i}` stands
    /// for the replica's index [default: replica-{i}.key].
    #[arg(long, value_name = "PATH", requires = "public_keys")]
    pub key_path: Option<String>,
    /// The replicas' hosts instead of 127.0.0.1, one per replica, comma-separated: HOST
    /// (port P+i) or HOST:PORT. Replicas whose host is a name listen on 0.0.0.0.
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Replica i serves its HTTP endpoints (/metrics, /health, /ready, /status) on TCP
    /// port M+i of its host.
    #[arg(long, value_name = "M", default_value_t = 9100)]
    pub metrics_base_port: u16,
    /// The replicas' HTTP endpoints elsewhere than their hosts, one per replica,
    /// comma-separated: HOST (port M+i) or HOST:PORT.
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub metrics_hosts: Vec<String>,
    /// K: take a checkpoint every K sequence numbers (cluster.toml's [protocol])
    /// [default: 128].
    #[arg(long, value_name = "K")]
    pub checkpoint_interval: Option<u64>,
    /// L: the log window, a multiple of K and at least 2K (cluster.toml's [protocol])
    /// [default: 2K with --checkpoint-interval, else 256].
    #[arg(long, value_name = "L")]
    pub log_window: Option<u64>,
    /// The most requests in one batch (cluster.toml's [protocol]) [default: 256].
    #[arg(long, value_name = "B")]
    pub batch_size_max: Option<usize>,
    /// Replies cached per client, and requests per client that may wait for execution at
    /// once (cluster.toml's [protocol]) [default: 64].
    #[arg(long, value_name = "W")]
    pub client_window: Option<u64>,
    /// The largest operation a request may carry, in bytes (cluster.toml's [protocol])
    /// [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    pub operation_bytes_max: Option<usize>,
    /// Let any client key connect (cluster.toml's [clients] admission = "open"). Without
    /// it, the replicas admit only the clients written here; add others to [clients] keys.
    #[arg(long)]
    pub open_admission: bool,
    /// Interlock: the units it protects, comma-separated [default: reactor-1].
    #[arg(long, value_name = "UNITS", value_delimiter = ',')]
    pub units: Vec<String>,
    /// Interlock: shutdown quorum q [default: M - ⌊(M-1)/3⌋].
    #[arg(long, value_name = "Q")]
    pub quorum: Option<u32>,
    /// Interlock: faulty agents tolerated f [default: ⌊(M-1)/3⌋].
    #[arg(long, value_name = "F")]
    pub faulty_agents: Option<u32>,
    /// Interlock: the lowest confidence, in percent, that counts as a vote [default: 50].
    #[arg(long, value_name = "PERCENT")]
    pub min_confidence: Option<u8>,
}

/// The cluster's keys: generated here (private keys written beside the files), or the
/// public keys of `--public-keys` (private keys stay where they were generated).
enum Keys {
    Generated {
        replicas: Vec<KeyPair>,
        clients: Vec<KeyPair>,
    },
    Public(PublicKeys),
}

impl Keys {
    fn replicas(&self) -> Vec<PublicKey> {
        match self {
            Keys::Generated { replicas, .. } => replicas.iter().map(KeyPair::public_key).collect(),
            Keys::Public(keys) => keys.replicas.clone(),
        }
    }

    fn clients(&self) -> Vec<PublicKey> {
        match self {
            Keys::Generated { clients, .. } => clients.iter().map(KeyPair::public_key).collect(),
            Keys::Public(keys) => keys.clients.clone(),
        }
    }
}

/// How many replicas and clients the cluster has.
#[derive(Clone, Copy, Debug)]
struct Counts {
    replicas: usize,
    clients: u32,
}

/// Runs `rampart init`.
pub fn run(args: &InitArgs) -> Result<(), Failure> {
    let public_keys = args
        .public_keys
        .as_deref()
        .map(PublicKeys::load)
        .transpose()?;
    let counts = counts(args, public_keys.as_ref())?;
    let addresses = replica_addresses(args, counts.replicas)?;
    let metrics = metrics_addresses(args, &addresses)?;
    check_application_flags(args, counts.clients)?;
    let key_path = args.key_path.as_deref().unwrap_or(DEFAULT_KEY_PATH);
    if key_path.trim().is_empty() {
        return Err(Failure::config(
            "--key-path is empty; give the path of each replica's private key on its host",
        ));
    }
    let cluster_path = args.out.join("cluster.toml");
    if cluster_path.exists() && !args.force {
        return Err(Failure::config(format_args!(
            "{} already holds a cluster ({}); choose another --out directory, or pass --force \
             to replace it (its keys and data are deleted)",
            args.out.display(),
            cluster_path.display()
        )));
    }

    let keys = match public_keys {
        Some(public_keys) => Keys::Public(public_keys),
        None => Keys::Generated {
            replicas: generate_keys(counts.replicas)?,
            clients: generate_keys(counts.clients as usize)?,
        },
    };
    let client_keys = keys.clients();
    let mut cluster = ClusterFile {
        // Derived from the settings below, once they are all in place.
        cluster_id: ClusterIdHex(ClusterId(0)),
        application: args.app,
        replicas: keys
            .replicas()
            .into_iter()
            .zip(&addresses)
            .zip(&metrics)
            .map(|((key, address), metrics)| ReplicaEntry {
                key: KeyHex(key),
                address: address.to_string(),
                metrics: Some(metrics.to_string()),
            })
            .collect(),
        protocol: cluster_protocol(args),
        clients: if args.open_admission {
            ClientsTable::open()
        } else {
            ClientsTable::listed(client_keys.iter().copied())
        },
        interlock: interlock_genesis(args, &client_keys),
    };
    cluster.cluster_id = ClusterIdHex(cluster.settings().cluster_id());
    if let Some(genesis) = &cluster.interlock {
        genesis.policy().map_err(|message| {
            Failure::config(format_args!(
                "the interlock policy (--clients {}, --quorum {}, --faulty-agents {}, \
                 --min-confidence {}, --units {}): {message}",
                counts.clients,
                genesis.shutdown_quorum,
                genesis.faulty_agents_tolerated,
                genesis.min_confidence_percent,
                genesis.units.join(",")
            ))
        })?;
    }
    cluster.check().map_err(|message| {
        Failure::config(format_args!(
            "the cluster would not run: {message}; change the flags of `rampart init`"
        ))
    })?;

    fs::create_dir_all(&args.out).map_err(|error| {
        Failure::runtime(format_args!(
            "cannot create {}: {error}",
            args.out.display()
        ))
    })?;
    if args.force {
        let keep_keys = matches!(keys, Keys::Public(_));
        remove_previous_cluster(&args.out, keep_keys)?;
    }
    for (index, address) in addresses.iter().enumerate() {
        let mut replica = ReplicaFile::new(index as u32, address.listen_address());
        replica.metrics = Some(MetricsTable {
            listen: metrics[index].listen_address(),
        });
        match &keys {
            Keys::Generated { replicas, .. } => {
                write_key(&args.out.join(&replica.key), &replicas[index])?;
            }
            Keys::Public(_) => {
                replica.key = PathBuf::from(key_path.replace("{i}", &index.to_string()));
            }
        }
        let name = format!("replica-{index}.toml");
        write_text(
            &args.out.join(name),
            &replica.render().map_err(Failure::config)?,
        )?;
    }
    for index in 0..counts.clients {
        let client = ClientFile::new(index);
        if let Keys::Generated { clients, .. } = &keys {
            write_key(&args.out.join(&client.key), &clients[index as usize])?;
        }
        let name = format!("client-{index}.toml");
        write_text(
            &args.out.join(name),
            &client.render(index).map_err(Failure::config)?,
        )?;
    }
    write_text(&cluster_path, &cluster.render().map_err(Failure::config)?)?;

    println!(
        "wrote cluster {} ({} replicas, {} clients, application {}) to {}",
        cluster.cluster_id.0,
        counts.replicas,
        counts.clients,
        args.app.name(),
        args.out.display()
    );
    if let Some(path) = &args.public_keys {
        println!(
            "the keys are those of {}; no private key was written: replica i reads its own \
             from {} on its host, client j from client-<j>.key",
            path.display(),
            key_path.replace("{i}", "<i>")
        );
    }
    println!(
        "start replica i with: rampart replica --config {}",
        args.out.join("replica-<i>.toml").display()
    );
    println!(
        "see the cluster with: rampart status --config {}",
        args.out.join("cluster.toml").display()
    );
    Ok(())
}

/// The numbers of replicas and clients: the flags', or the public keys file's, which the
/// flags must then agree with.
fn counts(args: &InitArgs, public_keys: Option<&PublicKeys>) -> Result<Counts, Failure> {
    let (Some(keys), Some(path)) = (public_keys, &args.public_keys) else {
        // Clap requires both flags without --public-keys.
        return Ok(Counts {
            replicas: args.replicas.unwrap_or_default(),
            clients: args.clients.unwrap_or_default(),
        });
    };
    let file = path.display();
    let replicas = keys.replicas.len();
    let clients = keys.clients.len();
    if replicas == 0 {
        return Err(Failure::config(format_args!(
            "{file} lists no replica; add a line `replica <i> <public key>` for each, with \
             the key `rampart keygen` printed on the replica's host"
        )));
    }
    if !is_three_f_plus_one(replicas) {
        return Err(Failure::config(format_args!(
            "{file} lists {replicas} replicas, but a cluster needs n = 3f+1 replicas with \
             f ≥ 1 (4, 7, 10, …); add or remove replica lines"
        )));
    }
    if let Some(flag) = args.replicas.filter(|flag| *flag != replicas) {
        return Err(Failure::config(format_args!(
            "--replicas {flag}, but {file} lists {replicas} replicas; drop --replicas or \
             correct the file"
        )));
    }
    let clients = u32::try_from(clients)
        .map_err(|_| Failure::config(format_args!("{file} lists too many clients")))?;
    if let Some(flag) = args.clients.filter(|flag| *flag != clients) {
        return Err(Failure::config(format_args!(
            "--clients {flag}, but {file} lists {clients} clients; drop --clients or correct \
             the file"
        )));
    }
    Ok(Counts { replicas, clients })
}

/// The address of every replica, from `--hosts` or 127.0.0.1, on ports P, P+1, ….
fn replica_addresses(args: &InitArgs, count: usize) -> Result<Vec<HostPort>, Failure> {
    if !is_three_f_plus_one(count) {
        return Err(Failure::config(format_args!(
            "--replicas {count} is not 3f+1 with f ≥ 1; use 4, 7, 10, … replicas (f = 1, 2, 3, …)"
        )));
    }
    if !args.hosts.is_empty() && args.hosts.len() != count {
        return Err(Failure::config(format_args!(
            "--hosts lists {} hosts for {count} replicas; list one host per replica",
            args.hosts.len()
        )));
    }
    let last_port = usize::from(args.base_port) + count - 1;
    if args.base_port == 0 || last_port > usize::from(u16::MAX) {
        return Err(Failure::config(format_args!(
            "--base-port {} leaves no room for {count} ports; choose a port between 1 and {}",
            args.base_port,
            usize::from(u16::MAX) + 1 - count
        )));
    }
    (0..count)
        .map(|index| {
            // The range check above keeps every port within u16.
            let port = args.base_port + index as u16;
            match args.hosts.get(index) {
                None => Ok(HostPort::new("127.0.0.1", port)),
                Some(host) => host_with_port(host, port),
            }
        })
        .collect()
}

/// Where each replica serves its HTTP endpoints: `--metrics-hosts`, or the replica's own
/// host, on ports M, M+1, ….
fn metrics_addresses(args: &InitArgs, replicas: &[HostPort]) -> Result<Vec<HostPort>, Failure> {
    let count = replicas.len();
    if !args.metrics_hosts.is_empty() && args.metrics_hosts.len() != count {
        return Err(Failure::config(format_args!(
            "--metrics-hosts lists {} hosts for {count} replicas; list one host per replica",
            args.metrics_hosts.len()
        )));
    }
    let last_port = usize::from(args.metrics_base_port) + count - 1;
    if args.metrics_base_port == 0 || last_port > usize::from(u16::MAX) {
        return Err(Failure::config(format_args!(
            "--metrics-base-port {} leaves no room for {count} ports; choose a port between 1 \
             and {}",
            args.metrics_base_port,
            usize::from(u16::MAX) + 1 - count
        )));
    }
    let addresses: Vec<HostPort> = replicas
        .iter()
        .enumerate()
        .map(|(index, replica)| {
            // The range check above keeps every port within u16.
            let port = args.metrics_base_port + index as u16;
            match args.metrics_hosts.get(index) {
                None => Ok(HostPort::new(replica.host.clone(), port)),
                Some(host) => with_port("--metrics-hosts", host, port),
            }
        })
        .collect::<Result<_, _>>()?;
    for (index, address) in addresses.iter().enumerate() {
        if let Some(first) = addresses[..index].iter().position(|other| other == address) {
            return Err(Failure::config(format_args!(
                "replicas {first} and {index} would both serve metrics on {address}; give \
                 --metrics-hosts a port for each"
            )));
        }
    }
    Ok(addresses)
}

/// `HOST:PORT` as given, or `HOST` on `port`.
fn host_with_port(host: &str, port: u16) -> Result<HostPort, Failure> {
    with_port("--hosts", host, port)
}

/// `HOST:PORT` as given, or `HOST` on `port`; errors name `flag`.
fn with_port(flag: &str, host: &str, port: u16) -> Result<HostPort, Failure> {
    let refused = |reason: String| Failure::config(format_args!("{flag}: {reason}"));
    if let Ok(address) = host.parse::<HostPort>() {
        return Ok(address);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let address = HostPort::new(bare, port);
    address.to_string().parse::<HostPort>().map_err(refused)
}

/// The shared protocol tunables: the defaults, with the flags' values. They are cluster
/// settings (the cluster id is their digest, and a loaded cluster.toml must match it), so
/// every one of them has a flag here: editing the file is not the way to change them. A
/// log window of two checkpoint intervals keeps the defaults' proportion, and is the
/// smallest the protocol accepts.
fn cluster_protocol(args: &InitArgs) -> ClusterProtocol {
    let defaults = ClusterProtocol::default();
    let checkpoint_interval = args
        .checkpoint_interval
        .unwrap_or(defaults.checkpoint_interval);
    let log_window = match (args.log_window, args.checkpoint_interval) {
        (Some(window), _) => window,
        (None, Some(interval)) => interval.saturating_mul(2),
        (None, None) => defaults.log_window,
    };
    ClusterProtocol {
        checkpoint_interval,
        log_window,
        batch_size_max: args.batch_size_max.unwrap_or(defaults.batch_size_max),
        client_window: args.client_window.unwrap_or(defaults.client_window),
        operation_bytes_max: args
            .operation_bytes_max
            .unwrap_or(defaults.operation_bytes_max),
    }
}

/// Refuses interlock settings for another application, and an interlock without agents.
fn check_application_flags(args: &InitArgs, clients: u32) -> Result<(), Failure> {
    match args.app {
        ApplicationKind::Interlock if clients == 0 => Err(Failure::config(
            "--app interlock needs at least one client to act as its voting agent; pass \
             --clients 1 or more (with --public-keys, list client keys)",
        )),
        ApplicationKind::Kv
            if !args.units.is_empty()
                || args.quorum.is_some()
                || args.faulty_agents.is_some()
                || args.min_confidence.is_some() =>
        {
            Err(Failure::config(
                "--units, --quorum, --faulty-agents and --min-confidence configure the \
                 interlock; drop them or pass --app interlock",
            ))
        }
        _ => Ok(()),
    }
}

/// The interlock's genesis policy: the clients are its agents, with the flags' values or
/// the defaults (f = ⌊(M-1)/3⌋ and q = M - f, the largest quorum that f silent agents
/// cannot block).
fn interlock_genesis(args: &InitArgs, client_keys: &[PublicKey]) -> Option<InterlockGenesis> {
    if args.app != ApplicationKind::Interlock {
        return None;
    }
    // The caller's count of clients fits a u32.
    let agents = client_keys.len() as u32;
    let default_faulty = agents.saturating_sub(1) / 3;
    let units = if args.units.is_empty() {
        vec![DEFAULT_UNIT.to_string()]
    } else {
        args.units.clone()
    };
    Some(InterlockGenesis {
        registered_agents: client_keys.iter().map(|key| KeyHex(*key)).collect(),
        units,
        shutdown_quorum: args.quorum.unwrap_or(agents - default_faulty),
        faulty_agents_tolerated: args.faulty_agents.unwrap_or(default_faulty),
        min_confidence_percent: args
            .min_confidence
            .unwrap_or(DEFAULT_MIN_CONFIDENCE_PERCENT),
    })
}

fn generate_keys(count: usize) -> Result<Vec<KeyPair>, Failure> {
    (0..count)
        .map(|_| {
            KeyPair::generate()
                .map_err(|error| Failure::runtime(format_args!("cannot generate a key: {error}")))
        })
        .collect()
}

fn write_key(path: &Path, key: &KeyPair) -> Result<(), Failure> {
    save_key_pair(path, key).map_err(|error| Failure::runtime(format_args!("{error}")))
}

fn write_text(path: &Path, text: &str) -> Result<(), Failure> {
    fs::write(path, text)
        .map_err(|error| Failure::runtime(format_args!("cannot write {}: {error}", path.display())))
}

/// Deletes what an earlier `rampart init` wrote to `directory`: numbered replica and
/// client files and keys (unless `keep_keys`: they were not made by `init`), and the
/// replicas' data directories under `data/`. Other files are left alone.
fn remove_previous_cluster(directory: &Path, keep_keys: bool) -> Result<(), Failure> {
    let file_suffixes: &[&str] = if keep_keys {
        &[".toml"]
    } else {
        &[".toml", ".key"]
    };
    let removal_failed = |path: &Path, error: std::io::Error| {
        Failure::runtime(format_args!(
            "cannot remove {} of the previous cluster: {error}",
            path.display()
        ))
    };
    for (folder, suffixes) in [
        (directory.to_path_buf(), file_suffixes),
        (directory.join("data"), &[""][..]),
    ] {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if !suffixes.iter().any(|suffix| is_generated(name, suffix)) {
                continue;
            }
            let path = entry.path();
            let removed = if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|error| removal_failed(&path, error))?;
        }
    }
    Ok(())
}

/// Whether `name` is `replica-<number><suffix>` or `client-<number><suffix>`.
fn is_generated(name: &str, suffix: &str) -> bool {
    let Some(stem) = name.strip_suffix(suffix) else {
        return false;
    };
    let number = stem
        .strip_prefix("replica-")
        .or_else(|| stem.strip_prefix("client-"));
    number.is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_recognised() {
        assert!(is_generated("replica-12.toml", ".toml"));
        assert!(is_generated("client-0.key", ".key"));
        assert!(is_generated("replica-3", ""));
        assert!(!is_generated("replica-.toml", ".toml"));
        assert!(!is_generated("cluster.toml", ".toml"));
        assert!(!is_generated("replica-1.toml.bak", ".toml"));
        assert!(!is_generated("notes-1.toml", ".toml"));
    }

    #[test]
    fn hosts_take_the_replica_port_unless_they_name_one() {
        let port = |host: &str| host_with_port(host, 7101).map(|a| a.to_string());
        assert_eq!(port("replica-1"), Ok("replica-1:7101".to_string()));
        assert_eq!(port("replica-1:9000"), Ok("replica-1:9000".to_string()));
        assert_eq!(port("10.0.0.1"), Ok("10.0.0.1:7101".to_string()));
        assert_eq!(port("::1"), Ok("[::1]:7101".to_string()));
        assert!(port("bad host").is_err());
    }
}
