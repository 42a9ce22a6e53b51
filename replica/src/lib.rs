//! The Rampart replica: a Byzantine-fault-tolerant replicated state machine after PBFT
//! (Castro and Liskov, OSDI 1999 and TOCS 2002).
//!
//! Three crates make it, each depending only on those before it:
//!
//! - `rampart-protocol` (`replica/protocol/`): the protocol as a sans-IO state machine
//!   ([`core`]), its [`message`]s, the [`cluster`] description, the application interface
//!   ([`app`]) and the shipped applications ([`apps`]), state [`transfer`] and the frames
//!   on the [`wire`]. No storage, network or threads: the client SDK and the test kit's
//!   checkers need nothing more;
//! - `rampart-net` (`replica/net/`): the QUIC transport ([`net`]);
//! - this crate: the [`shell`] that carries out the core's actions over ports, durable
//!   storage on RocksDB ([`store`]), the replica process ([`node`]) and its operations
//!   endpoints ([`ops`]). The protocol's modules are re-exported here under their own
//!   names, so `rampart_replica::message::Request` and the like keep working.
//!
//! # Layers of this crate
//!
//! 1. [`store`]: durable storage, on the core, messages and state transfer.
//! 2. [`shell`]: drives the core with the store, the network and the application through
//!    its ports, and records its own metrics; it uses everything below.
//! 3. [`ops`]: metrics, health and status over HTTP, from what the shell publishes and
//!    the transport counts.
//! 4. [`node`]: the replica process, the shell over threads, QUIC and RocksDB, serving
//!    [`ops`].

pub use rampart_net as net;
pub use rampart_protocol::{
    app, apps, cluster, core, fault, message, refusal, settings, transfer, wire,
};

pub mod node;
pub mod ops;
pub mod shell;
pub mod store;
