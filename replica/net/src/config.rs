//! Transport configuration for replicas and clients.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::address::{PeerAddress, Resolver};
use super::caps::ConnectionLimits;
use super::error::TransportError;
use crate::cluster::ClientAdmission;
use crate::settings::ClusterSettings;

/// The largest frame accepted unless configured otherwise: 16 MiB, enough for a batch of
/// requests or a state-transfer chunk.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// How a replica's transport listens, dials and buffers.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// The UDP address to listen on. Port 0 picks a free port; see
    /// [`super::ReplicaTransport::local_addr`].
    pub listen: SocketAddr,
    /// Every replica's address, in replica-id order (this replica's own entry is unused).
    /// A name is looked up with `resolver` before every dial.
    pub replica_addresses: Vec<PeerAddress>,
    /// Looks up the names among `replica_addresses`: the system's resolver by default.
    pub resolver: Resolver,
    pub limits: Limits,
    /// Caps on client connections and on handshakes in progress.
    pub connection_limits: ConnectionLimits,
    pub timing: Timing,
    /// Which clients may connect. The default admits none: list the clients' keys, or
    /// open admission explicitly.
    pub clients: ClientAdmission,
    /// The cluster settings this replica runs with, sent in every HELLO: a peer with
    /// other settings is refused, naming each setting that differs. Their replica keys
    /// must be the cluster's.
    pub settings: ClusterSettings,
}

impl TransportConfig {
    /// A configuration with the default limits and timings.
    pub fn new<A: Into<PeerAddress>>(
        listen: SocketAddr,
        replica_addresses: impl IntoIterator<Item = A>,
        settings: ClusterSettings,
    ) -> TransportConfig {
        TransportConfig {
            settings,
            listen,
            replica_addresses: replica_addresses.into_iter().map(Into::into).collect(),
            resolver: Resolver::system(),
            limits: Limits {
                max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
                queue_frames: 1024,
                inbound_frames: 4096,
            },
            connection_limits: ConnectionLimits::default(),
            timing: Timing::default(),
            clients: ClientAdmission::default(),
        }
    }
}

/// How a client's transport dials and buffers.
#[derive(Debug, Clone)]
pub struct ClientTransportConfig {
    /// The local UDP address to send from; port 0 picks a free port. None, the default,
    /// chooses one to suit the replicas' addresses (see
    /// [`ClientTransportConfig::bind_address`]).
    pub bind: Option<SocketAddr>,
    /// Every replica's address, in replica-id order.
    pub replica_addresses: Vec<SocketAddr>,
    pub limits: Limits,
    pub timing: Timing,
}

impl ClientTransportConfig {
    /// A configuration with the default limits and timings, sending from any local address
    /// of the replicas' family.
    pub fn new(replica_addresses: Vec<SocketAddr>) -> ClientTransportConfig {
        ClientTransportConfig {
            bind: None,
            replica_addresses,
            limits: Limits {
                max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
                queue_frames: 256,
                inbound_frames: 1024,
            },
            timing: Timing::default(),
        }
    }
}

impl ClientTransportConfig {
    /// The address the transport binds: `bind` if set, else a free port on the unspecified
    /// address of the replicas' family. A socket of one family cannot send to the other's
    /// addresses, so a client bound to 0.0.0.0 cannot reach replicas on IPv6.
    ///
    /// Replicas of both families get `[::]:0`, which the transport makes dual-stack: it
    /// reaches the IPv4 replicas as IPv4-mapped addresses, where `0.0.0.0:0` would not
    /// reach the IPv6 ones at all. Only IPv4 replicas (or none) get `0.0.0.0:0`, which
    /// also works on a host without IPv6.
    pub fn bind_address(&self) -> SocketAddr {
        if let Some(bind) = self.bind {
            return bind;
        }
        if self.replica_addresses.iter().any(SocketAddr::is_ipv6) {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        }
    }
}

/// How much a transport buffers, for replicas and clients alike.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Frames longer than this are refused, both when sending and when receiving.
    pub max_frame_bytes: usize,
    /// Capacity of each peer's outbound queue, in frames.
    pub queue_frames: usize,
    /// Capacity of the single inbound channel, in frames.
    pub inbound_frames: usize,
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), TransportError> {
        let invalid = |reason: String| Err(TransportError::InvalidConfig { reason });
        // The length prefix is a u32.
        if self.max_frame_bytes > u32::MAX as usize {
            return invalid(format!(
                "max_frame_bytes is {}, more than a frame's u32 length prefix can express",
                self.max_frame_bytes
            ));
        }
        if self.queue_frames == 0 || self.inbound_frames == 0 {
            return invalid("queue_frames and inbound_frames must be at least 1".to_string());
        }
        Ok(())
    }
}

/// How a transport dials and when it gives a connection up, for replicas and clients alike.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The first delay before redialing a lost peer; it doubles on every failure.
    pub reconnect_min: Duration,
    /// The longest delay between two dials of the same peer.
    pub reconnect_max: Duration,
    /// How long a dial may take before it is abandoned and retried.
    pub handshake_timeout: Duration,
    /// A connection with no traffic for this long is considered dead. Keep-alives are sent
    /// at a third of it, so only a silent peer or a broken path reaches it.
    pub idle_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl Timing {
    pub(crate) fn validate(&self) -> Result<(), TransportError> {
        let invalid = |reason: &str| {
            Err(TransportError::InvalidConfig {
                reason: reason.to_string(),
            })
        };
        if self.reconnect_min.is_zero() || self.reconnect_min > self.reconnect_max {
            return invalid("reconnect_min must be positive and at most reconnect_max");
        }
        if self.handshake_timeout.is_zero() || self.idle_timeout.is_zero() {
            return invalid("handshake_timeout and idle_timeout must be positive");
        }
        Ok(())
    }
}
