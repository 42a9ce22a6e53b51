//! The cluster a benchmark runs against: n replica nodes in this process, over QUIC on
//! 127.0.0.1, with RocksDB in a temporary directory.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use rampart_crypto::{ClusterId, KeyPair};
use rampart_replica::app::{AppError, ApplyContext, StateMachine};
use rampart_replica::cluster::Cluster;
use rampart_replica::core::Config;
use rampart_replica::message::{ClientId, ReplicaId};
use rampart_replica::node::{Node, NodeConfig};

use crate::failure::Failure;

/// The null application: every operation does nothing and returns nothing, so that the
/// benchmark measures the replication, not an application.
#[derive(Debug, Default)]
pub struct Null;

impl StateMachine for Null {
    fn apply(&mut self, _context: &ApplyContext, _operation: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    fn query(&self, _client: &ClientId, _operation: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), AppError> {
        Ok(())
    }
}

/// What the benchmark's cluster is made of.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    pub replicas: usize,
    pub batch_size_max: usize,
    pub batch_delay_ticks: u64,
    /// Overrides the protocol's default pipelining depth.
    pub in_flight_max: Option<u64>,
    pub sync: bool,
}

/// A running benchmark cluster.
#[derive(Debug)]
pub struct BenchCluster {
    pub cluster: Cluster,
    pub addresses: Vec<SocketAddr>,
    pub protocol: Config,
    nodes: Vec<Node>,
    _storage: tempfile::TempDir,
}

/// Free UDP ports on 127.0.0.1: bound, read and released. Another process could take one
/// in between; the benchmark then fails to start with a clear error and can be rerun.
fn free_addresses(count: usize) -> Result<Vec<SocketAddr>, Failure> {
    let sockets = (0..count)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Failure::runtime(format_args!("cannot find free ports: {error}")))?;
    sockets
        .iter()
        .map(|socket| socket.local_addr())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Failure::runtime(format_args!("cannot find free ports: {error}")))
}

impl BenchCluster {
    pub async fn start(settings: &ClusterSettings) -> Result<BenchCluster, Failure> {
        let keys: Vec<KeyPair> = (0..settings.replicas)
            .map(|_| KeyPair::generate())
            .collect::<Result<_, _>>()
            .map_err(|error| Failure::runtime(format_args!("cannot generate keys: {error}")))?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id)
            .map_err(|error| Failure::runtime(format_args!("no randomness: {error}")))?;
        let cluster = Cluster::new(
            ClusterId(u64::from_le_bytes(id)),
            keys.iter().map(KeyPair::public_key).collect(),
        )
        .map_err(|error| Failure::config(format_args!("--replicas: {error}")))?;
        let mut protocol = Config::new(cluster.clone());
        protocol.batch_size_max = settings.batch_size_max;
        protocol.batch_delay_ticks = settings.batch_delay_ticks;
        if let Some(in_flight_max) = settings.in_flight_max {
            protocol.in_flight_max = in_flight_max;
        }
        protocol
            .validate()
            .map_err(|error| Failure::config(format_args!("{error}")))?;
        let addresses = free_addresses(settings.replicas)?;
        let storage = tempfile::tempdir().map_err(|error| {
            Failure::runtime(format_args!("cannot create a temporary directory: {error}"))
        })?;
        let mut nodes = Vec::with_capacity(settings.replicas);
        for (index, key) in keys.into_iter().enumerate() {
            let replica = ReplicaId(index as u32);
            let mut config = NodeConfig::new(
                replica,
                protocol.clone(),
                addresses.clone(),
                storage.path().join(format!("replica-{index}")),
            );
            config.store.sync = settings.sync;
            // All replicas share this machine: one verifier thread each makes larger
            // verification batches than one per core for each of them.
            config.verify_threads = 1;
            let node = Node::builder(config)
                .key(key)
                .application(Null)
                .start()
                .await
                .map_err(|error| {
                    Failure::runtime(format_args!("replica {index} did not start: {error}"))
                })?;
            nodes.push(node);
        }
        Ok(BenchCluster {
            cluster,
            addresses,
            protocol,
            nodes,
            _storage: storage,
        })
    }

    /// The highest sequence number any replica executed.
    pub fn executed_sequence_numbers(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.status().last_executed.0)
            .max()
            .unwrap_or(0)
    }

    /// The highest view any replica reached (a view change during a benchmark is worth
    /// reporting).
    pub fn highest_view(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.status().view.0)
            .max()
            .unwrap_or(0)
    }

    pub async fn shutdown(self) {
        for node in self.nodes {
            if let Err(error) = tokio::time::timeout(Duration::from_secs(10), node.shutdown()).await
            {
                tracing::warn!(%error, "a replica did not stop in time");
            }
        }
    }
}
