//! A cluster in one process, for the demo, the benchmark and the examples: n replica
//! nodes over QUIC on 127.0.0.1, on ports the operating system picks, each with its own
//! RocksDB directory inside one temporary directory that is removed when the cluster
//! shuts down.
//!
//! Ephemeral ports without a race: of each pair of replicas, only the one with the lower id
//! dials the other (see `rampart_replica::net`), so the replicas start from the highest id
//! down, each listening on port 0 and dialing the already-running replicas above it at
//! the addresses they got. A replica never needs the address of a replica below it (it
//! would announce itself there, see `rampart_replica::net`, but has no need to: those
//! replicas dial it once they run).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rampart_crypto::{ClusterId, KeyPair};
use rampart_replica::app::StateMachine;
use rampart_replica::cluster::{ClientAdmission, Cluster};
use rampart_replica::core::Config;
use rampart_replica::fault::Behaviour;
use rampart_replica::message::ReplicaId;
use rampart_replica::net::ConnectionLimits;
use rampart_replica::node::{Node, NodeConfig, NodeStatus};

use crate::failure::Failure;

/// What to start.
#[allow(missing_debug_implementations)]
pub struct ClusterSpec {
    pub replicas: usize,
    /// The length of one protocol tick.
    pub tick: Duration,
    /// Adjusts the protocol parameters (timeouts, batching) of every replica.
    pub protocol: Box<dyn Fn(&mut Config)>,
    /// Sync every write batch to disk. The storage is deleted at the end, so only a
    /// benchmark of synced writes wants it.
    pub sync: bool,
    /// Makes each replica's application in its genesis state.
    pub application: Box<dyn Fn() -> Box<dyn StateMachine>>,
    /// Replicas to make Byzantine, and how.
    pub byzantine: BTreeMap<ReplicaId, Box<dyn Behaviour>>,
    /// Which clients the replicas admit: none unless listed (or opened).
    pub clients: ClientAdmission,
    /// Caps on client connections and handshakes; every client of an in-process cluster
    /// comes from 127.0.0.1, so many clients need more than the default per address.
    pub connection_limits: ConnectionLimits,
}

impl ClusterSpec {
    /// n replicas of `application` with the usual protocol parameters, 10 ms ticks,
    /// writes not synced, nobody Byzantine, and no client admitted until `clients` lists
    /// some.
    pub fn new(
        replicas: usize,
        application: Box<dyn Fn() -> Box<dyn StateMachine>>,
    ) -> ClusterSpec {
        ClusterSpec {
            replicas,
            tick: Duration::from_millis(10),
            protocol: Box::new(|_| {}),
            sync: false,
            application,
            byzantine: BTreeMap::new(),
            clients: ClientAdmission::default(),
            connection_limits: ConnectionLimits::default(),
        }
    }
}

/// A running in-process cluster.
#[derive(Debug)]
pub struct InProcessCluster {
    cluster: Cluster,
    protocol: Config,
    /// By replica id.
    nodes: Vec<Node>,
    storage: tempfile::TempDir,
}

impl InProcessCluster {
    /// Generates the replicas' keys and starts every replica.
    pub async fn start(spec: ClusterSpec) -> Result<InProcessCluster, Failure> {
        let ClusterSpec {
            replicas,
            tick,
            protocol: adjust,
            sync,
            application,
            mut byzantine,
            clients,
            connection_limits,
        } = spec;
        let keys = (0..replicas)
            .map(|_| KeyPair::generate())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| Failure::runtime(format_args!("cannot generate a key: {error}")))?;
        let cluster = Cluster::new(ClusterId(0), keys.iter().map(KeyPair::public_key).collect())
            .map_err(|error| Failure::runtime(format_args!("invalid cluster: {error}")))?;
        let mut protocol = Config::new(cluster);
        protocol.clients = clients;
        adjust(&mut protocol);
        // The id of any cluster: the digest of its settings. Its replicas run the one
        // application `application` makes, and leave it unnamed, as the node does.
        protocol.cluster.id = protocol.settings("").cluster_id();
        let cluster = protocol.cluster.clone();
        protocol
            .validate()
            .map_err(|error| Failure::config(format_args!("{error}")))?;
        let storage = tempfile::Builder::new()
            .prefix("rampart-")
            .tempdir()
            .map_err(|error| {
                Failure::runtime(format_args!(
                    "cannot create a temporary directory: {error}; check TMPDIR"
                ))
            })?;

        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut addresses = vec![unbound; replicas];
        let mut started: Vec<Node> = Vec::with_capacity(replicas);
        for (index, key) in keys.into_iter().enumerate().rev() {
            let replica = ReplicaId(index as u32);
            let data_dir = storage.path().join(format!("replica-{index}"));
            let mut config =
                NodeConfig::new(replica, protocol.clone(), addresses.clone(), data_dir);
            config.listen = unbound;
            config.tick = tick;
            // All replicas share this machine: one verifier thread each makes larger
            // verification batches than one per core for each of them.
            config.verify_threads = 1;
            config.store.sync = sync;
            config.connection_limits = connection_limits;
            let mut builder = Node::builder(config).key(key).application(application());
            if let Some(behaviour) = byzantine.remove(&replica) {
                builder = builder.behaviour(behaviour);
            }
            match builder.start().await {
                Ok(node) => {
                    addresses[index] = node.local_addr();
                    started.push(node);
                }
                Err(error) => {
                    for node in started {
                        let _ = node.shutdown().await;
                    }
                    return Err(Failure::runtime(format_args!(
                        "replica {index} did not start: {error}"
                    )));
                }
            }
        }
        started.reverse();
        Ok(InProcessCluster {
            cluster,
            protocol,
            nodes: started,
            storage,
        })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The protocol parameters every replica runs with.
    pub fn protocol(&self) -> &Config {
        &self.protocol
    }

    /// The address of every replica, by replica id: what clients connect to.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(Node::local_addr).collect()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Every replica's latest status, by replica id.
    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.nodes.iter().map(Node::status).collect()
    }

    /// Stops every replica, then deletes the storage. Returns the first replica error.
    pub async fn shutdown(self) -> Result<(), Failure> {
        let InProcessCluster {
            cluster: _,
            protocol: _,
            nodes,
            storage,
        } = self;
        let mut first_error = None;
        for node in nodes {
            let replica = node.id();
            if let Err(error) = node.shutdown().await {
                first_error.get_or_insert_with(|| {
                    Failure::runtime(format_args!("{replica} did not stop cleanly: {error}"))
                });
            }
        }
        let path = storage.path().display().to_string();
        storage.close().map_err(|error| {
            Failure::runtime(format_args!(
                "cannot remove the temporary storage {path}: {error}"
            ))
        })?;
        first_error.map_or(Ok(()), Err)
    }
}
