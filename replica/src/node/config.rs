//! The configuration of one replica process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::core;
use crate::message::ReplicaId;
use crate::net::{ConnectionLimits, DEFAULT_MAX_FRAME_BYTES, PeerAddress, Resolver};
use crate::settings::ClusterSettings;
use crate::store::StoreOptions;

/// Everything a replica needs besides its key and its application.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This replica's index in the cluster description.
    pub replica: ReplicaId,
    /// The protocol parameters, including the cluster description and which clients may
    /// connect (`protocol.clients`; none by default).
    pub protocol: core::Config,
    /// Every replica's address, by replica id. A name is looked up with `resolver` before
    /// every dial, so a peer that moves to another IP address is found there.
    pub addresses: Vec<PeerAddress>,
    /// Looks up the names among `addresses`: the system's resolver by default.
    pub resolver: Resolver,
    /// Where to listen; usually this replica's entry in `addresses`.
    pub listen: SocketAddr,
    /// The RocksDB data directory.
    pub data_dir: PathBuf,
    /// Storage: whether every write batch is synced to disk before anything that depends
    /// on it is sent (the default; off, a crash of the machine, not just of the process,
    /// can lose the last batches), and the scale of RocksDB's buffers.
    pub store: StoreOptions,
    /// The length of one protocol tick.
    pub tick: Duration,
    /// Threads that verify signatures; 0 means one per core.
    pub verify_threads: usize,
    /// The largest frame accepted from a peer or client.
    pub max_frame_bytes: usize,
    /// Caps on client connections and handshakes in progress.
    pub connection_limits: ConnectionLimits,
    /// Seed of the core's random choices (which peer to fetch state from first).
    pub seed: u64,
    /// Where to serve `/metrics`, `/health`, `/ready` and `/status` over HTTP; nowhere if
    /// `None` (the default).
    pub metrics_listen: Option<SocketAddr>,
    /// The replicated application's name: one of the cluster settings every replica must
    /// share (see [`ClusterSettings`](crate::settings::ClusterSettings)), so that a replica
    /// running another application is refused by its peers. Empty by default; `rampart`
    /// names its applications `kv` and `interlock`.
    pub application: String,
}

impl NodeConfig {
    /// A configuration with the usual defaults: 10 ms ticks, synced writes, one verifier
    /// thread per core.
    pub fn new<A: Into<PeerAddress>>(
        replica: ReplicaId,
        protocol: core::Config,
        addresses: impl IntoIterator<Item = A>,
        data_dir: PathBuf,
    ) -> NodeConfig {
        let addresses: Vec<PeerAddress> = addresses.into_iter().map(Into::into).collect();
        let listen = addresses.get(replica.0 as usize).map_or_else(
            || SocketAddr::from(([127, 0, 0, 1], 0)),
            PeerAddress::listen_address,
        );
        NodeConfig {
            replica,
            protocol,
            addresses,
            resolver: Resolver::system(),
            listen,
            data_dir,
            store: StoreOptions::default(),
            tick: Duration::from_millis(10),
            verify_threads: 0,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            connection_limits: ConnectionLimits::default(),
            seed: u64::from(replica.0),
            metrics_listen: None,
            application: String::new(),
        }
    }

    /// The cluster settings this replica runs with, which its transport exchanges with
    /// every peer.
    pub fn settings(&self) -> ClusterSettings {
        self.protocol.settings(&self.application)
    }

    pub(super) fn verifier_threads(&self) -> usize {
        if self.verify_threads > 0 {
            self.verify_threads
        } else {
            std::thread::available_parallelism().map_or(2, usize::from)
        }
    }
}
