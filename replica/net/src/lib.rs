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
//! - A replica accepting `rampart-replica/2` accepts only a key the cluster lists, and
//!   learns the peer's [`ReplicaId`](crate::message::ReplicaId) from it.
//! - A replica accepting `rampart-client/1` admits only the keys
//!   [`TransportConfig::clients`] lists (none by default), or any valid ed25519 key when
//!   admission is open; the key is the client's identity. Any other key is disconnected
//!   right after the handshake with a close code its client transport reports (see
//!   [`ClientTransport::not_admitted_by`]), and the refusal is logged at most once every
//!   few seconds.
//!
//! # HELLO: settings and twins
//!
//! Before anything else, each side of a replica connection sends a HELLO: its replica id,
//! the cluster id, the cluster settings it runs with
//! ([`ClusterSettings`](rampart_protocol::settings::ClusterSettings), whose digest is the
//! cluster id) and a boot id drawn when its transport started. A peer with another
//! cluster id or other settings is refused, and both logs name each setting that differs
//! ([`TransportStats::settings_refused`]). A second process running with a replica's key
//! (a twin) is found by the peers, which refuse it while the first one lives
//! ([`TransportStats::twins_refused`]); a process that f + 1 replicas refuse so learns it
//! through [`ReplicaTransport::twin_refusal`] and must stop. A process restarted after a
//! crash is not a twin: it is accepted once its old connections are gone. See `greeting`
//! for how the two are told apart, and for what faulty replicas can and cannot do with it.
//!
//! # Connections and ordering
//!
//! One connection joins each pair of replicas: the lower id dials, the higher accepts, and
//! both use it both ways (a higher id also announces itself to each lower one that has
//! not dialed it, on a connection that carries only HELLO and its answer). Each side writes its frames (a u32 big-endian length, then the
//! bytes) on one long-lived unidirectional stream, so frames from one replica to another
//! arrive in the order they were sent while the connection lives. A lost connection is
//! redialed with exponential backoff; a newer connection from the same peer replaces the
//! older one. A peer configured by name ([`PeerAddress::Name`]) is looked up again before
//! every dial, so a replica that comes back on another IP address is found there.
//!
//! # Bounds
//!
//! - Outbound: each peer has a bounded queue; [`ReplicaTransport::send`] never waits, and
//!   drops the frame with [`SendError::QueueFull`] when the queue is full.
//! - Inbound: frames arrive in two bounded lanes, one for replicas and one for clients
//!   (see [`InboundReceiver`]); when a lane is full, its readers wait, and QUIC flow
//!   control slows the senders. A full client lane never holds up a replica's frames.
//! - A frame's memory grows only as its bytes arrive (see `frame`).
//! - Client connections and handshakes in progress are capped per IP address and in
//!   total, with QUIC Retry under load; replica peers keep capacity of their own (see
//!   [`ConnectionLimits`] and `caps`). Each peer may open one unidirectional stream at a
//!   time and no bidirectional one.
//! - A frame whose length prefix exceeds `max_frame_bytes` is refused before its body is
//!   read, and the connection that carried it is closed; its dialer reconnects.
//!
//! Everything refused is logged and counted in [`TransportStats`]; peer input never panics.
//!
//! # Layers
//!
//! The modules depend downward only. Bottom up: `error`, `stats`, `backoff`, `tasks`,
//! `close_code` and `frame`; `caps` (connection and handshake caps), `config`, `identity`
//! and `verifier` (TLS identities and key pinning), `not_admitted`, `inbound` and `queue`;
//! `hello` (the HELLO and its stream) and `greeting` (what is made of a peer's HELLO:
//! settings, twins); `tls` and `link` (one connection's streams), `announce` and
//! `endpoint`; `shared`, what a replica transport's handle and tasks share; `admission`,
//! which adds accepted connections to it; and the two handles, `replica_transport` and
//! `client_transport`.

// The protocol modules the transport builds on, under the paths it uses.
use rampart_protocol::{cluster, message, settings};

mod address;
mod admission;
mod announce;
mod backoff;
mod caps;
mod client_transport;
mod close_code;
mod config;
mod endpoint;
mod error;
pub mod frame;
mod greeting;
mod hello;
mod identity;
mod inbound;
mod link;
mod not_admitted;
mod peers;
mod queue;
mod replica_transport;
mod shared;
mod stats;
mod tasks;
mod tls;
mod verifier;

#[cfg(test)]
mod tests;

pub use address::{PeerAddress, Resolver};
pub use caps::ConnectionLimits;
pub use client_transport::ClientTransport;
pub use config::{ClientTransportConfig, DEFAULT_MAX_FRAME_BYTES, Limits, Timing, TransportConfig};
pub use error::{Peer, SendError, TransportError};
pub use greeting::TwinRefusal;
pub use inbound::{Inbound, InboundReceiver};
pub use link::Lane;
pub use peers::PeerStats;
pub use replica_transport::ReplicaTransport;
pub use stats::{StatsHandle, TransportStats};
