//! The QUIC transport between replicas, and between clients and replicas. It moves
//! length-framed bytes between authenticated peers and knows nothing of PBFT.
//!
//! # Identity
//!
//! Every process presents a self-signed certificate made from its ed25519 key (the key
//! that signs its protocol messages), and TLS 1.3 proves it holds that key. There is no
//! certificate authority: each side pins the key it expects.
//!
//! - A replica dialing replica i accepts only a certificate naming `cluster.replicas[i]`.
//! - A replica accepting `rampart-replica/1` accepts only a key the cluster lists, and
//!   learns the peer's [`ReplicaId`](crate::message::ReplicaId) from it.
//! - A replica accepting `rampart-client/1` accepts any valid ed25519 key (or only the
//!   keys in [`TransportConfig::allowed_clients`]); the key is the client's identity.
//!
//! # Connections and ordering
//!
//! One connection joins each pair of replicas: the lower id dials, the higher accepts, and
//! both use it both ways. Each side writes its frames (a u32 big-endian length, then the
//! bytes) on one long-lived unidirectional stream, so frames from one replica to another
//! arrive in the order they were sent while the connection lives. A lost connection is
//! redialed with exponential backoff; a newer connection from the same peer replaces the
//! older one.
//!
//! # Bounds
//!
//! - Outbound: each peer has a bounded queue; [`ReplicaTransport::send`] never waits, and
//!   drops the frame with [`SendError::QueueFull`] when the queue is full.
//! - Inbound: everything arrives on one bounded channel; when it is full, readers wait, and
//!   QUIC flow control slows the senders.
//! - A frame whose length prefix exceeds `max_frame_bytes` is refused before its body is
//!   read, and the connection that carried it is closed; its dialer reconnects.
//!
//! Everything refused is logged and counted in [`TransportStats`]; peer input never panics.

mod admission;
mod backoff;
mod client_transport;
mod config;
mod endpoint;
mod error;
pub mod frame;
mod identity;
mod link;
mod queue;
mod replica_transport;
mod stats;
mod tasks;
mod tls;
mod verifier;

#[cfg(test)]
mod tests;

pub use client_transport::ClientTransport;
pub use config::{ClientTransportConfig, DEFAULT_MAX_FRAME_BYTES, Limits, Timing, TransportConfig};
pub use error::{Peer, SendError, TransportError};
pub use replica_transport::{Inbound, ReplicaTransport};
pub use stats::TransportStats;
