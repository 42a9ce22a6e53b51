//! The Rampart replica: a Byzantine-fault-tolerant replicated state machine after PBFT
//! (Castro and Liskov, OSDI 1999 and TOCS 2002).
//!
//! - [`core`]: the protocol as a sans-IO state machine;
//! - [`message`]: the messages, their signatures and their verification;
//! - [`cluster`]: the cluster description shared by replicas and clients;
//! - [`app`] and [`apps`]: the application interface and the applications Rampart ships;
//! - [`shell`]: the core, the application and the store, and the carrying out of the
//!   core's actions, over ports that the node runtime and the simulator each fill;
//! - [`node`]: the replica process: the shell on threads, over QUIC and RocksDB;
//! - [`net`]: the QUIC transport; [`store`]: durable storage on RocksDB;
//! - [`transfer`]: state transfer in chunks checked against the signed checkpoint digest;
//! - [`ops`]: metrics, health, readiness and status over HTTP, and rate-limited logs.

pub mod app;
pub mod apps;
pub mod cluster;
pub mod core;
pub mod fault;
pub mod message;
pub mod net;
pub mod node;
pub mod ops;
pub mod refusal;
pub mod shell;
pub mod store;
pub mod transfer;
pub mod wire;
