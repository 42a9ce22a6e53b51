//! A real cluster in one process: n replica nodes over QUIC on 127.0.0.1, each with its
//! own RocksDB directory, every link passing through a [`Link`] relay so tests can cut,
//! slow and lossen the network, and stop, restart, wipe or corrupt replicas.
//!
//! Use it to test an application under faults: start a cluster with your
//! [`StateMachine`], drive it with `rampart_client::Client`s at
//! [`LocalCluster::client_addresses`], inject faults, and check the results (client
//! histories with [`crate::checker::linearizability`], replicas' checkpoint digests with
//! [`LocalCluster::safety_violations`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_crypto::{ClusterId, KeyPair, PublicKey};
use rampart_replica::app::StateMachine;
use rampart_replica::cluster::{ClientAdmission, Cluster};
use rampart_replica::core::Config;
use rampart_replica::message::{ReplicaId, Seq};
use rampart_replica::node::{Node, NodeConfig, NodeError, NodeStatus};

use crate::byzantine::MakeBehaviour;
use crate::checker::Violation;
use crate::checker::safety::SafetyChecker;

use super::relay::Link;

/// Makes the application of each replica, in its genesis state.
pub type AppFactory = Arc<dyn Fn() -> Box<dyn StateMachine> + Send + Sync>;

/// What a local cluster is made of.
#[derive(Clone)]
pub struct LocalClusterConfig {
    pub replicas: usize,
    pub app: AppFactory,
    /// Adjusts the protocol parameters (for example a short checkpoint interval).
    pub protocol: fn(&mut Config),
    pub sync: bool,
    /// RocksDB's write buffer per column family (see `StoreOptions::memtable_bytes`).
    pub memtable_bytes: usize,
    pub tick: Duration,
    /// Replicas to make Byzantine, and how.
    pub behaviours: BTreeMap<ReplicaId, MakeBehaviour>,
    /// Seeds the keys and the relays' random losses.
    pub seed: u64,
    /// The clients the replicas admit: the keys [`LocalCluster::client_key`] makes for
    /// indexes below `listed_clients`, and `other_clients`. Every other key is refused,
    /// unless `open_admission` admits any.
    pub listed_clients: u64,
    pub other_clients: Vec<PublicKey>,
    pub open_admission: bool,
}

/// How many of [`LocalCluster::client_key`]'s keys a cluster admits by default.
pub const LISTED_CLIENTS_DEFAULT: u64 = 16;

impl std::fmt::Debug for LocalClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalClusterConfig")
            .field("replicas", &self.replicas)
            .field("seed", &self.seed)
            .finish()
    }
}

impl LocalClusterConfig {
    /// n replicas running the application `app` makes, with test-friendly timing: 5 ms
    /// ticks, view changes after half a second, writes not synced.
    pub fn new(replicas: usize, app: AppFactory) -> LocalClusterConfig {
        LocalClusterConfig {
            replicas,
            app,
            protocol: |_| {},
            sync: false,
            memtable_bytes: rampart_replica::store::StoreOptions::default().memtable_bytes,
            tick: Duration::from_millis(5),
            behaviours: BTreeMap::new(),
            seed: 1,
            listed_clients: LISTED_CLIENTS_DEFAULT,
            other_clients: Vec::new(),
            open_admission: false,
        }
    }
}

/// Why a local cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    #[error("cannot bind a relay socket: {0}")]
    Relay(#[from] std::io::Error),
    #[error("replica {replica} did not start: {source}")]
    Node {
        replica: u32,
        #[source]
        source: NodeError,
    },
    #[error("invalid cluster: {reason}")]
    Cluster { reason: String },
    #[error("replica {replica} did not catch up within {waited:?}")]
    NotCaughtUp { replica: u32, waited: Duration },
}

/// A running local cluster.
#[allow(missing_debug_implementations)]
pub struct LocalCluster {
    config: LocalClusterConfig,
    cluster: Cluster,
    protocol: Config,
    keys: Vec<KeyPair>,
    /// (from, to): the relay `from` uses to reach `to`.
    peer_links: BTreeMap<(ReplicaId, ReplicaId), Link>,
    /// The relay clients use to reach each replica.
    client_links: Vec<Link>,
    nodes: Vec<Option<Node>>,
    root: tempfile::TempDir,
    safety: Arc<Mutex<SafetyChecker>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl LocalCluster {
    /// Starts every replica and waits until they are running.
    pub async fn start(config: LocalClusterConfig) -> Result<LocalCluster, LocalClusterError> {
        let keys: Vec<KeyPair> = (0..config.replicas as u64)
            .map(|i| KeyPair::from_seed(config.seed.wrapping_mul(7919).wrapping_add(i)))
            .collect();
        let cluster = Cluster::new(
            ClusterId(config.seed),
            keys.iter().map(KeyPair::public_key).collect(),
        )
        .map_err(|error| LocalClusterError::Cluster {
            reason: error.to_string(),
        })?;
        let mut protocol = Config::new(cluster.clone());
        protocol.clients = if config.open_admission {
            ClientAdmission::Open
        } else {
            let indexed = (0..config.listed_clients)
                .map(|index| client_key_for(config.seed, index).public_key());
            ClientAdmission::listed(indexed.chain(config.other_clients.iter().copied()))
        };
        protocol.status_interval_ticks = 10;
        protocol.view_change_timeout_ticks = 100;
        (config.protocol)(&mut protocol);
        let mut peer_links = BTreeMap::new();
        for from in cluster.replica_ids() {
            for to in cluster.replica_ids().filter(|&to| to != from) {
                let seed = config.seed ^ (u64::from(from.0) << 16) ^ u64::from(to.0);
                peer_links.insert((from, to), Link::bind(None, seed).await?);
            }
        }
        let mut client_links = Vec::new();
        for replica in cluster.replica_ids() {
            client_links.push(Link::bind(None, config.seed ^ u64::from(replica.0) << 40).await?);
        }
        let root = tempfile::tempdir()?;
        let mut local = LocalCluster {
            nodes: (0..config.replicas).map(|_| None).collect(),
            config,
            cluster,
            protocol,
            keys,
            peer_links,
            client_links,
            root,
            safety: Arc::new(Mutex::new(SafetyChecker::default())),
            watchers: Vec::new(),
        };
        for replica in local.cluster.replica_ids().collect::<Vec<_>>() {
            local.start_node(replica).await?;
        }
        Ok(local)
    }

    /// Where a replica keeps its RocksDB data.
    pub fn data_dir(&self, replica: ReplicaId) -> std::path::PathBuf {
        self.root.path().join(format!("replica-{}", replica.0))
    }

    /// The addresses `replica` uses for its peers: its relay links to them.
    fn addresses_seen_by(&self, replica: ReplicaId) -> Vec<SocketAddr> {
        self.cluster
            .replica_ids()
            .map(|peer| match self.peer_links.get(&(replica, peer)) {
                Some(link) => link.address(),
                None => SocketAddr::from(([127, 0, 0, 1], 0)),
            })
            .collect()
    }

    /// Points every link that leads to `replica`, from its peers and from clients, at
    /// `address`.
    fn route_to(&self, replica: ReplicaId, address: SocketAddr) {
        for ((_, to), link) in &self.peer_links {
            if *to == replica {
                link.set_target(Some(address));
            }
        }
        self.client_links[replica.0 as usize].set_target(Some(address));
    }

    async fn start_node(&mut self, replica: ReplicaId) -> Result<(), LocalClusterError> {
        let addresses = self.addresses_seen_by(replica);
        let mut config = NodeConfig::new(
            replica,
            self.protocol.clone(),
            addresses,
            self.data_dir(replica),
        );
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.store.sync = self.config.sync;
        config.store.memtable_bytes = self.config.memtable_bytes;
        config.tick = self.config.tick;
        config.verify_threads = 1;
        let mut builder = Node::builder(config)
            .key(self.keys[replica.0 as usize].clone())
            .application((self.config.app)());
        if let Some(make) = self.config.behaviours.get(&replica) {
            builder = builder.behaviour(make(replica, self.config.replicas));
        }
        let node = builder
            .start()
            .await
            .map_err(|source| LocalClusterError::Node {
                replica: replica.0,
                source,
            })?;
        self.route_to(replica, node.local_addr());
        if !self.config.behaviours.contains_key(&replica) {
            self.watch_checkpoints(&node);
        }
        self.nodes[replica.0 as usize] = Some(node);
        Ok(())
    }

    /// Feeds every checkpoint a correct replica reports to the safety checker.
    fn watch_checkpoints(&mut self, node: &Node) {
        let mut status = node.watch_status();
        let safety = self.safety.clone();
        let replica = node.id();
        self.watchers.push(tokio::spawn(async move {
            let mut last: Option<Seq> = None;
            loop {
                let checkpoint = status.borrow().last_checkpoint;
                if let Some((seq, digest)) = checkpoint
                    && last != Some(seq)
                {
                    last = Some(seq);
                    lock(&safety).checkpoint(replica, seq, digest);
                }
                if status.changed().await.is_err() {
                    return;
                }
            }
        }));
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn protocol(&self) -> &Config {
        &self.protocol
    }

    /// The addresses clients use, by replica id (through the client relays).
    pub fn client_addresses(&self) -> Vec<SocketAddr> {
        self.client_links.iter().map(Link::address).collect()
    }

    /// A client key, derived from the cluster's seed. The replicas admit those with an
    /// index below [`LocalClusterConfig::listed_clients`].
    pub fn client_key(&self, index: u64) -> KeyPair {
        client_key_for(self.config.seed, index)
    }

    pub fn node(&self, replica: ReplicaId) -> Option<&Node> {
        self.nodes.get(replica.0 as usize)?.as_ref()
    }

    pub fn status(&self, replica: ReplicaId) -> Option<NodeStatus> {
        self.node(replica).map(Node::status)
    }

    pub fn replica_ids(&self) -> Vec<ReplicaId> {
        self.cluster.replica_ids().collect()
    }

    /// Stops a replica gracefully; its data directory stays.
    pub async fn stop(&mut self, replica: ReplicaId) -> Result<(), NodeError> {
        if let Some(node) = self.nodes[replica.0 as usize].take() {
            node.shutdown().await?;
        }
        Ok(())
    }

    /// Stops a replica the way `kill -9` does, as far as its peers and clients can tell:
    /// its links are cut while it stops, so nobody hears its connections close, and are
    /// restored once it is gone. What it had made durable stays in its data directory.
    pub async fn crash(&mut self, replica: ReplicaId) -> Result<(), NodeError> {
        self.cut_off(replica, true);
        let stopped = self.stop(replica).await;
        self.cut_off(replica, false);
        stopped
    }

    /// Blocks or restores every link to and from a replica, its clients' included.
    fn cut_off(&self, replica: ReplicaId, blocked: bool) {
        for link in self.links_of(replica) {
            link.set_blocked(blocked);
        }
        self.client_links[replica.0 as usize].set_blocked(blocked);
    }

    /// Starts a stopped replica again from its data directory.
    pub async fn restart(&mut self, replica: ReplicaId) -> Result<(), LocalClusterError> {
        if self.nodes[replica.0 as usize].is_none() {
            self.start_node(replica).await?;
        }
        Ok(())
    }

    /// Stops a replica, deletes its data directory, and starts it empty.
    pub async fn wipe(&mut self, replica: ReplicaId) -> Result<(), LocalClusterError> {
        self.stop(replica)
            .await
            .map_err(|source| LocalClusterError::Node {
                replica: replica.0,
                source,
            })?;
        let _ = std::fs::remove_dir_all(self.data_dir(replica));
        self.start_node(replica).await
    }

    fn links_of(&self, replica: ReplicaId) -> impl Iterator<Item = &Link> {
        self.peer_links
            .iter()
            .filter(move |((from, to), _)| *from == replica || *to == replica)
            .map(|(_, link)| link)
    }

    /// Stops `replica` and starts, in its place and on its links, a process holding `key`
    /// instead of the replica's key, with a forged cluster description that lists `key`
    /// for `replica`. The real replicas pin the keys of the true description, so the
    /// impostor can neither join nor speak for the replica. Returns the impostor.
    pub async fn start_impostor(
        &mut self,
        replica: ReplicaId,
        key: KeyPair,
    ) -> Result<Node, LocalClusterError> {
        self.stop(replica)
            .await
            .map_err(|source| LocalClusterError::Node {
                replica: replica.0,
                source,
            })?;
        let mut forged = self.cluster.clone();
        forged.replicas[replica.0 as usize] = key.public_key();
        let mut protocol = self.protocol.clone();
        protocol.cluster = forged;
        let addresses = self.addresses_seen_by(replica);
        let dir = self.root.path().join(format!("impostor-{}", replica.0));
        let mut config = NodeConfig::new(replica, protocol, addresses, dir);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.store.sync = false;
        config.tick = self.config.tick;
        let impostor = Node::builder(config)
            .key(key)
            .application((self.config.app)())
            .start()
            .await
            .map_err(|source| LocalClusterError::Node {
                replica: replica.0,
                source,
            })?;
        self.route_to(replica, impostor.local_addr());
        Ok(impostor)
    }

    /// Cuts a replica off from its peers (clients still reach it).
    pub fn isolate(&self, replica: ReplicaId) {
        for link in self.links_of(replica) {
            link.set_blocked(true);
        }
    }

    /// Splits the replicas into groups that cannot reach each other.
    pub fn partition(&self, groups: &[&[ReplicaId]]) {
        for ((from, to), link) in &self.peer_links {
            let group_of = |r: &ReplicaId| groups.iter().position(|g| g.contains(r));
            if group_of(from) != group_of(to) {
                link.set_blocked(true);
            }
        }
    }

    /// Delays every datagram to and from a replica: a slow replica.
    pub fn slow(&self, replica: ReplicaId, delay: Duration) {
        let millis = delay.as_millis() as u64;
        for link in self.links_of(replica) {
            link.forward
                .delay_ms
                .store(millis, std::sync::atomic::Ordering::Relaxed);
            link.backward
                .delay_ms
                .store(millis, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Drops this share of every datagram between replicas.
    pub fn set_loss(&self, per_mille: u64) {
        for link in self.peer_links.values() {
            link.forward
                .loss_per_mille
                .store(per_mille, std::sync::atomic::Ordering::Relaxed);
            link.backward
                .loss_per_mille
                .store(per_mille, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        for link in self.peer_links.values().chain(&self.client_links) {
            link.clear();
        }
    }

    /// Waits until `done` holds for the statuses of the running replicas, or `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&BTreeMap<ReplicaId, NodeStatus>) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let statuses: BTreeMap<ReplicaId, NodeStatus> = self
                .replica_ids()
                .into_iter()
                .filter_map(|r| self.status(r).map(|s| (r, s)))
                .collect();
            if done(&statuses) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every correct replica that is running (those without a behaviour) has
    /// executed the same sequence number and is not fetching state, and a quorum of them
    /// (2f + 1) is in one view in normal operation: the point at which their states must be
    /// equal, with the cluster live. Returns that sequence number, or `None` after
    /// `timeout`.
    ///
    /// A correct replica may sit alone in a higher view: one cut off long enough for its
    /// request timer to fire moves on, and PBFT forbids it to go back (its VIEW-CHANGE may
    /// already count). It holds the same state and rejoins at the next view change; until
    /// then it counts as one of the f, which is why only a quorum must share a view.
    pub async fn wait_converged(&self, timeout: Duration) -> Option<Seq> {
        let correct: Vec<ReplicaId> = self
            .replica_ids()
            .into_iter()
            .filter(|replica| !self.config.behaviours.contains_key(replica))
            .filter(|&replica| self.node(replica).is_some())
            .collect();
        let quorum = self.cluster.quorum();
        let mut agreed = None;
        let converged = self
            .wait_until(timeout, |statuses| {
                let seen: Option<Vec<&NodeStatus>> = correct
                    .iter()
                    .map(|replica| statuses.get(replica))
                    .collect();
                let Some(seen) = seen else {
                    return false;
                };
                let Some(first) = seen.first() else {
                    return false;
                };
                let executed = first.last_executed;
                let same_state = seen.iter().all(|status| {
                    status.running && !status.transferring && status.last_executed == executed
                });
                let live = seen.iter().any(|candidate| {
                    let together = seen
                        .iter()
                        .filter(|status| status.normal && status.view == candidate.view)
                        .count();
                    candidate.normal && together >= quorum
                });
                if same_state && live {
                    agreed = Some(executed);
                    return true;
                }
                false
            })
            .await;
        if converged { agreed } else { None }
    }

    /// Divergent checkpoint digests among correct replicas seen so far.
    pub fn safety_violations(&self) -> Vec<Violation> {
        lock(&self.safety).violations.clone()
    }

    /// Stops every replica.
    pub async fn shutdown(mut self) {
        for replica in self.replica_ids() {
            if let Err(error) = self.stop(replica).await {
                tracing::warn!(%replica, %error, "replica stopped with an error");
            }
        }
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The key of client `index` of the cluster seeded with `seed`.
fn client_key_for(seed: u64, index: u64) -> KeyPair {
    KeyPair::from_seed(seed.wrapping_mul(104_729).wrapping_add(1_000 + index))
}
