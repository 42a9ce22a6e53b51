//! The transport's errors: starting a transport, and handing it a frame.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use rampart_crypto::PublicKey;

use crate::message::ReplicaId;

/// Why a transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "cannot bind the UDP socket {address}: {source}; if the address is in use, stop the \
         process holding it or choose another address or port for `listen` in the transport \
         configuration"
    )]
    Bind {
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot build the TLS certificate for this process's key: {reason}")]
    Certificate { reason: String },
    #[error("cannot configure TLS or QUIC: {reason}")]
    Tls { reason: String },
    #[error("invalid transport configuration: {reason}")]
    InvalidConfig { reason: String },
    #[error("cannot draw a random boot id: {reason}; the system's random source failed")]
    BootId { reason: String },
}

/// The other end of a link: a replica, or a client known by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Replica(ReplicaId),
    Client(PublicKey),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Replica(replica) => write!(f, "replica {replica}"),
            Peer::Client(key) => write!(f, "client {}", key.short()),
        }
    }
}

/// Why a frame was not queued. The frame is dropped; PBFT tolerates message loss, so
/// callers normally count the error and carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the outbound queue to {peer} is full ({capacity} frames); the frame was dropped")]
    QueueFull { peer: Peer, capacity: usize },
    #[error("the frame has {length} bytes, more than the maximum of {max_frame_bytes}")]
    FrameTooLarge {
        length: usize,
        max_frame_bytes: usize,
    },
    #[error("{replica} is not another replica of this cluster")]
    UnknownReplica { replica: ReplicaId },
    #[error("client {} is not connected", client.short())]
    ClientNotConnected { client: PublicKey },
    #[error("the transport is shut down")]
    ShutDown,
}
