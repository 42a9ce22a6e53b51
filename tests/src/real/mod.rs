//! Real clusters: replica nodes over QUIC and RocksDB, in one process, behind a relay that
//! injects network faults.

pub mod cluster;
pub mod relay;

pub use cluster::{AppFactory, LocalCluster, LocalClusterConfig, LocalClusterError};
pub use relay::Link;
