//! Rampart's protocol: PBFT (Castro and Liskov, OSDI 1999 and TOCS 2002) as a sans-IO
//! state machine, its messages and the rules over them, with no storage, network or
//! threads. The client SDK and the test kit's checkers build on this crate alone; the
//! replica (`rampart-replica`) adds the shell, storage on RocksDB and the node runtime,
//! and the transport (`rampart-net`) QUIC.
//!
//! # Layers
//!
//! Modules depend downward only, with no import cycles between them. Bottom up:
//!
//! 1. [`refusal`], [`cluster`] and [`settings`]: why a request is refused; the cluster
//!    description and the [`ReplicaId`](cluster::ReplicaId)s that index it; the settings
//!    every replica must share, whose digest is the cluster id. They use nothing else here.
//! 2. [`message`]: the messages, their encoding and their verification against the
//!    cluster's keys.
//! 3. [`core`]: the protocol, on messages and the cluster (every quorum in
//!    `core/quorum.rs`); [`app`] and [`apps`]: the application interface and the
//!    applications Rampart ships, on messages.
//! 4. [`fault`]: the fault-injection hook, on the core's seeded randomness.
//! 5. [`transfer`]: state transfer, on the core's reply cache and checkpoint digests and
//!    the fault hook; [`wire`]: the frames on the wire, on messages and state transfer.

pub mod app;
pub mod apps;
pub mod cluster;
pub mod core;
pub mod fault;
pub mod message;
pub mod refusal;
pub mod settings;
pub mod transfer;
pub mod wire;
