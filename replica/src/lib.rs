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
//!
//! # Layers
//!
//! Modules depend downward only, with no import cycles between them. Bottom up:
//!
//! 1. [`refusal`] and [`cluster`]: why a request is refused; the cluster description and
//!    the [`ReplicaId`](cluster::ReplicaId)s that index it. They use nothing else here.
//! 2. [`message`]: the messages, their encoding and their verification against the
//!    cluster's keys.
//! 3. [`core`]: the protocol, on messages and the cluster; [`app`] and [`apps`]: the
//!    application interface and the applications, on messages.
//! 4. [`fault`]: the fault-injection hook, on the core's seeded randomness.
//! 5. [`transfer`]: state transfer, on the core's reply cache and checkpoint digests and
//!    the fault hook; [`wire`]: the frames on the wire, on messages and state transfer.
//! 6. [`store`]: durable storage, on the core, messages and state transfer; [`net`]: the
//!    transport, on the cluster and messages.
//! 7. [`shell`]: drives the core with the store, the network and the application through
//!    its ports, and records its own metrics; it uses everything below.
//! 8. [`ops`]: metrics, health and status over HTTP, from what the shell publishes and
//!    the transport counts.
//! 9. [`node`]: the replica process, the shell over threads, QUIC and RocksDB, serving
//!    [`ops`].

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
