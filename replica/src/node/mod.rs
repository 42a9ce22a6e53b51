//! The node runtime: one replica process. It drives the protocol core with ticks and
//! verified messages, carries out its actions over QUIC and RocksDB, executes committed
//! batches on the application, and answers clients.
//!
//! ```no_run
//! # async fn run() -> Result<(), rampart_replica::node::NodeError> {
//! use rampart_replica::apps::kv::KvStore;
//! use rampart_replica::app::Typed;
//! use rampart_replica::node::{Node, NodeConfig};
//! # let (config, key): (NodeConfig, rampart_crypto::KeyPair) = unimplemented!();
//! let node = Node::builder(config)
//!     .key(key)
//!     .application(Typed::new(KvStore::new()))
//!     .start()
//!     .await?;
//! // ... serve until asked to stop ...
//! node.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Threads: the transport runs on the caller's tokio runtime; signatures are verified on
//! verifier threads (`verify.rs`); the core, the application and the store (`shell.rs`) run
//! on whichever verifier thread finds them free, and on a ticker thread for timers and
//! shutdown (`drive.rs`), so neither RocksDB nor the application ever blocks the async
//! runtime.

mod config;
mod drive;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use bytes::Bytes;
use rampart_crypto::{Ed25519, KeyPair, PublicKey, Verifier};

use crate::app::StateMachine;
use crate::core::ConfigError;
use crate::fault::Behaviour;
use crate::message::ReplicaId;
use crate::net::{Lane, PeerStats, ReplicaTransport, SendError, TransportConfig, TransportError};
use crate::ops::{Endpoints, HttpLimits, HttpServer};
use crate::shell::{Checker, Network, Ports, Shell, ShellError};
use crate::store::{Store, StoreError, StoreIdentity};

pub use crate::shell::{InboundCounters, NodeStatus, ReplicaState};
pub use crate::transfer::SNAPSHOT_BYTES_MAX;
pub use config::NodeConfig;

use drive::Driver;
use verify::spawn_verifiers;

/// The network port over QUIC.
impl Network for Arc<ReplicaTransport> {
    fn send_on(&self, lane: Lane, to: ReplicaId, frame: Bytes) -> Result<(), SendError> {
        ReplicaTransport::send_on(self, lane, to, frame)
    }

    fn send_to_client(&self, client: PublicKey, frame: Bytes) -> Result<(), SendError> {
        ReplicaTransport::send_to_client(self, client, frame)
    }
}

/// Why a replica cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the node is missing its {what}; call NodeBuilder::{what}(..) before start()")]
    Incomplete { what: &'static str },
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(
        "replica {replica}: the key file holds public key {found}, but the cluster lists {expected} for this replica; use the key file written for replica {replica}"
    )]
    KeyMismatch {
        replica: u32,
        expected: String,
        found: String,
    },
    #[error("replica id {replica} is not in a cluster of {size} replicas")]
    UnknownReplica { replica: u32, size: usize },
    #[error(
        "{addresses} replica addresses for a cluster of {replicas}; list one address per replica"
    )]
    AddressCount { addresses: usize, replicas: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Shell(ShellError),
    #[error("the replica thread could not start: {reason}")]
    Thread { reason: String },
    #[error("the replica thread panicked")]
    Panicked,
    #[error("cannot listen for metrics on TCP {address}: {source}")]
    MetricsBind {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl From<ShellError> for NodeError {
    fn from(error: ShellError) -> NodeError {
        match error {
            ShellError::Store(error) => NodeError::Store(error),
            other => NodeError::Shell(other),
        }
    }
}

/// Builds a node: configuration, key, application, and optionally a data directory and a
/// fault-injection behaviour (tests only).
#[allow(missing_debug_implementations)]
pub struct NodeBuilder {
    config: NodeConfig,
    key: Option<KeyPair>,
    application: Option<Box<dyn StateMachine>>,
    behaviour: Option<Box<dyn Behaviour>>,
}

impl NodeBuilder {
    pub fn key(mut self, key: KeyPair) -> NodeBuilder {
        self.key = Some(key);
        self
    }

    /// The replicated application, in its genesis state; a restarting replica restores it
    /// from its newest stored checkpoint.
    pub fn application(mut self, application: impl StateMachine) -> NodeBuilder {
        self.application = Some(Box::new(application));
        self
    }

    /// Overrides the configuration's data directory.
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> NodeBuilder {
        self.config.data_dir = path.into();
        self
    }

    /// Makes this replica Byzantine, for fault-injection tests. Never in production.
    pub fn behaviour(mut self, behaviour: Box<dyn Behaviour>) -> NodeBuilder {
        self.behaviour = Some(behaviour);
        self
    }

    /// Opens the store, recovers from it, binds the transport and starts the replica.
    pub async fn start(self) -> Result<Node, NodeError> {
        let NodeBuilder {
            config,
            key,
            application,
            behaviour,
        } = self;
        let mut config = config;
        // The core bounds every message by the frame cap it will be sent under.
        config.protocol.frame_bytes_max = config.max_frame_bytes;
        let key = key.ok_or(NodeError::Incomplete { what: "key" })?;
        let app = application.ok_or(NodeError::Incomplete {
            what: "application",
        })?;
        config.protocol.validate()?;
        let cluster = config.protocol.cluster.clone();
        let id = config.replica;
        let expected = cluster.key(id).ok_or(NodeError::UnknownReplica {
            replica: id.0,
            size: cluster.size(),
        })?;
        if expected != key.public_key() {
            return Err(NodeError::KeyMismatch {
                replica: id.0,
                expected: expected.to_string(),
                found: key.public_key().to_string(),
            });
        }
        if config.addresses.len() != cluster.size() {
            return Err(NodeError::AddressCount {
                addresses: config.addresses.len(),
                replicas: cluster.size(),
            });
        }

        let identity = StoreIdentity {
            cluster: cluster.id,
            replica: id,
            key: key.public_key(),
        };
        let store = Store::open(&config.data_dir, &identity, config.store, cluster.size())?;
        let protocol = Arc::new(config.protocol.clone());

        let mut transport_config =
            TransportConfig::new(config.listen, config.addresses.clone(), config.settings());
        transport_config.resolver = config.resolver.clone();
        transport_config.limits.max_frame_bytes = config.max_frame_bytes;
        transport_config.clients = config.protocol.clients.clone();
        transport_config.connection_limits = config.connection_limits;
        let (transport, inbound) =
            ReplicaTransport::start(id, &key, &cluster, transport_config).await?;
        let transport = Arc::new(transport);
        let local_addr = transport.local_addr();

        let (status_sender, status) = watch::channel(NodeStatus {
            replica: id,
            running: true,
            normal: true,
            ..NodeStatus::default()
        });
        let ports = Ports {
            store,
            network: transport.clone(),
            signer: Arc::new(key),
            status: status_sender,
            observer: None,
        };
        // Recovery: the newest checkpoint state restores the application; the core
        // rebuilds itself from everything else the store holds, and resumes half-done work
        // before anything else.
        let mut shell = Shell::recover(protocol.clone(), id, config.seed, app, ports, behaviour)?;
        shell.flush()?;
        let core = shell.core();
        tracing::info!(
            replica = %id, view = %core.view(), checkpoint = %core.last_executed(),
            data_dir = %config.data_dir.display(), "replica starting"
        );
        let verifier: Arc<dyn Verifier> = Arc::new(Ed25519::new());
        let checker = Arc::new(Checker::new(
            cluster.clone(),
            protocol.limits(),
            verifier,
            shell.progress(),
        ));
        let counters = checker.counters().clone();
        let endpoints = Arc::new(Endpoints {
            registry: crate::ops::metrics::registry(
                id,
                &shell.metrics(),
                crate::ops::collect::NodeCollector {
                    status: status.clone(),
                    inbound: counters.clone(),
                    transport: transport.stats_handle(),
                    data_dir: config.data_dir.clone(),
                },
            ),
            status: status.clone(),
            transport: transport.stats_handle(),
        });
        let metrics_server = match config.metrics_listen {
            Some(address) => Some(
                HttpServer::bind(address, HttpLimits::default(), endpoints.handler())
                    .await
                    .map_err(|source| NodeError::MetricsBind { address, source })?,
            ),
            None => None,
        };
        if let Some(server) = &metrics_server {
            tracing::info!(replica = %id, address = %server.local_addr(), "serving /metrics, /health, /ready and /status");
        }
        let watch = crate::ops::spawn_watch(
            status.clone(),
            counters.clone(),
            transport.stats_handle(),
            cluster.size(),
        );
        let driver = Arc::new(Driver::new(shell, config.tick));
        let thread_error = |error: std::io::Error| NodeError::Thread {
            reason: error.to_string(),
        };
        let ticker = {
            let driver = driver.clone();
            std::thread::Builder::new()
                .name(format!("rampart-replica-{}", id.0))
                .spawn(move || driver.run_ticker())
                .map_err(thread_error)?
        };
        let verifiers = spawn_verifiers(
            inbound,
            driver.clone(),
            checker,
            config.verifier_threads(),
            &format!("rampart-replica-{}", id.0),
        )
        .map_err(thread_error)?;
        Ok(Node {
            id,
            local_addr,
            public_key: expected,
            status,
            counters,
            driver,
            ticker: Some(ticker),
            verifiers,
            transport,
            endpoints,
            metrics_server,
            watch: Some(watch),
        })
    }
}

/// A running replica.
#[derive(Debug)]
pub struct Node {
    id: ReplicaId,
    local_addr: std::net::SocketAddr,
    public_key: PublicKey,
    status: watch::Receiver<NodeStatus>,
    counters: Arc<InboundCounters>,
    driver: Arc<Driver>,
    ticker: Option<std::thread::JoinHandle<Result<(), NodeError>>>,
    /// The verifier threads; they end when the transport closes its inbound channel.
    verifiers: Vec<std::thread::JoinHandle<()>>,
    transport: Arc<ReplicaTransport>,
    endpoints: Arc<Endpoints>,
    /// Serves the endpoints, when the configuration names an address for them.
    metrics_server: Option<HttpServer>,
    /// Logs refusals and unreachable peers (see `ops`).
    watch: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Starts building a node with this configuration.
    pub fn builder(config: NodeConfig) -> NodeBuilder {
        NodeBuilder {
            config,
            key: None,
            application: None,
            behaviour: None,
        }
    }

    pub fn id(&self) -> ReplicaId {
        self.id
    }

    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The address the transport listens on (useful with port 0).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// The replica's latest published state.
    pub fn status(&self) -> NodeStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status the replica publishes.
    pub fn watch_status(&self) -> watch::Receiver<NodeStatus> {
        self.status.clone()
    }

    /// Counters of the inbound pipeline (undecodable frames, invalid signatures, ...).
    pub fn inbound_counters(&self) -> &InboundCounters {
        &self.counters
    }

    /// The transport's counters.
    pub fn transport_stats(&self) -> crate::net::TransportStats {
        self.transport.stats()
    }

    /// What the transport counted for each replica peer, by replica id.
    pub fn peer_stats(&self) -> Vec<PeerStats> {
        self.transport.peer_stats()
    }

    /// Where `/metrics`, `/health`, `/ready` and `/status` are served, if they are.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server.as_ref().map(HttpServer::local_addr)
    }

    /// The replica's metrics in Prometheus' text format, as `/metrics` answers.
    pub fn metrics_text(&self) -> String {
        self.endpoints.metrics_text()
    }

    /// Resolves when the replica must stop on its own: a storage failure, or f + 1 peers
    /// refusing this process because another one already runs with its key (see
    /// [`ReplicaTransport::twin_refusal`]); returns why.
    pub async fn failed(&self) -> String {
        let mut status = self.status.clone();
        let stopped = async {
            loop {
                if let Some(reason) = status.borrow().failed.clone() {
                    return reason;
                }
                if status.changed().await.is_err() {
                    return "the replica stopped".to_string();
                }
            }
        };
        tokio::select! {
            reason = stopped => reason,
            twin = self.transport.twin_refusal() => twin.to_string(),
        }
    }

    /// Stops the replica: the ticker thread carries out what is queued and makes it durable,
    /// then the transport closes. Returns the error that stopped the replica earlier, if any.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        if let Some(server) = self.metrics_server.take() {
            server.shutdown().await;
        }
        if let Some(watch) = self.watch.take() {
            watch.abort();
        }
        self.driver.stop();
        let result = match self.ticker.take() {
            Some(thread) => tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|_| NodeError::Panicked)?
                .map_err(|_| NodeError::Panicked)?,
            None => Ok(()),
        };
        match Arc::try_unwrap(self.transport) {
            Ok(transport) => transport.shutdown().await,
            Err(_) => tracing::warn!("transport still shared at shutdown"),
        }
        // With the transport gone, the inbound channel is closed and the verifiers end.
        let verifiers = std::mem::take(&mut self.verifiers);
        let _ = tokio::task::spawn_blocking(move || {
            for verifier in verifiers {
                let _ = verifier.join();
            }
        })
        .await;
        result
    }
}
