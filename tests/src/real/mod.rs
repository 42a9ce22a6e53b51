//! Real clusters: replica nodes over QUIC and RocksDB, in one process, behind a relay that
//! injects network faults, and a nemesis that injects random faults round after round.

pub mod cluster;
pub mod nemesis;
pub mod relay;

pub use cluster::{
    AppFactory, LISTED_CLIENTS_DEFAULT, LocalCluster, LocalClusterConfig, LocalClusterError,
};
pub use nemesis::RealFault;
pub use relay::Link;
