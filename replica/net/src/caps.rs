//! Caps on what clients and strangers may hold of a replica: connections and unfinished
//! handshakes, per remote IP address and in total.
//!
//! A connection attempt is judged on its first packet, before any cryptography: beyond a
//! handshake cap it is ignored (a genuine client sends its first packet again and gets in
//! when the load has passed), and beyond a connection cap it is refused. Once
//! `handshakes_before_retry` handshakes are in progress, an address that has not proved it
//! receives what is sent to it is asked to (a QUIC Retry, which costs the replica no
//! state), so a flood from forged addresses holds no handshake at all.
//!
//! Replica peers keep capacity of their own. A replica dials from the socket it listens
//! on, so its handshakes come from its listed address: they are not counted against the
//! caps above but against a small reserve of their own, and a forged packet from a
//! replica's address is asked to prove it as soon as that reserve is in use. After the
//! handshake, a connection in the replica role is never capped; the caps count client
//! connections only. A replica that reaches its peers from another address (behind NAT)
//! competes with the clients for handshakes, though not for connections.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::warn;

use super::error::TransportError;
use super::stats::Counters;

/// How many connections and handshakes a replica allows clients and strangers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Client connections open at once, from every address together.
    pub connections_max: usize,
    /// Client connections open at once from one IP address.
    pub connections_per_ip_max: usize,
    /// Handshakes in progress at once, from every address but the replicas'.
    pub handshakes_max: usize,
    /// Handshakes in progress at once from one IP address.
    pub handshakes_per_ip_max: usize,
    /// From this many handshakes in progress on, a new one must first prove its address
    /// (QUIC Retry); 0 asks every one of them.
    pub handshakes_before_retry: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            connections_max: 128,
            connections_per_ip_max: 32,
            handshakes_max: 64,
            handshakes_per_ip_max: 16,
            handshakes_before_retry: 16,
        }
    }
}

impl ConnectionLimits {
    /// Checks that the limits are consistent and let at least one client in.
    pub fn validate(&self) -> Result<(), TransportError> {
        let invalid = |reason: &str| {
            Err(TransportError::InvalidConfig {
                reason: reason.to_string(),
            })
        };
        if self.connections_per_ip_max == 0 || self.handshakes_per_ip_max == 0 {
            return invalid(
                "connections_per_ip_max and handshakes_per_ip_max must be at least 1, or no \
                 client could connect",
            );
        }
        if self.connections_per_ip_max > self.connections_max {
            return invalid("connections_per_ip_max must be at most connections_max");
        }
        if self.handshakes_per_ip_max > self.handshakes_max {
            return invalid("handshakes_per_ip_max must be at most handshakes_max");
        }
        if self.handshakes_before_retry > self.handshakes_max {
            return invalid("handshakes_before_retry must be at most handshakes_max");
        }
        Ok(())
    }
}

/// Handshakes in progress from replica addresses, per replica: a peer redialing after a
/// lost connection needs one, and a spare covers a dial racing its own retry.
const REPLICA_HANDSHAKES_PER_PEER: usize = 2;

/// The shortest time between two log lines about the same kind of refusal: a stranger can
/// cause refusals as fast as it sends packets, and must not be able to flood the log.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Why a connection attempt was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Connections,
    ConnectionsFromAddress,
    Handshakes,
    HandshakesFromAddress,
    ReplicaHandshakes,
}

impl Refusal {
    const ALL: [Refusal; 5] = [
        Refusal::Connections,
        Refusal::ConnectionsFromAddress,
        Refusal::Handshakes,
        Refusal::HandshakesFromAddress,
        Refusal::ReplicaHandshakes,
    ];

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Connections => "the replica holds as many client connections as it allows",
            Refusal::ConnectionsFromAddress => {
                "the replica holds as many client connections from this address as it allows"
            }
            Refusal::Handshakes => "the replica has as many handshakes in progress as it allows",
            Refusal::HandshakesFromAddress => {
                "the replica has as many handshakes in progress from this address as it allows"
            }
            Refusal::ReplicaHandshakes => {
                "the replica has as many handshakes in progress from replica addresses as it \
                 allows"
            }
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What to do with a connection attempt, judged on its first packet.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Go on with the handshake, holding `slot` until it ends.
    Accept(HandshakeSlot),
    /// Ask the peer to prove its address first.
    Retry,
    /// Tell the peer it is refused (QUIC CONNECTION_REFUSED).
    Refuse(Refusal),
    /// Drop the packet without an answer.
    Ignore(Refusal),
}

#[derive(Debug, Default)]
struct Counts {
    handshakes: usize,
    handshakes_by_ip: HashMap<IpAddr, usize>,
    replica_handshakes: usize,
    connections: usize,
    connections_by_ip: HashMap<IpAddr, usize>,
}

/// Adds one to `ip`'s count.
fn add(counts: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    *counts.entry(ip).or_default() += 1;
}

/// Takes one from `ip`'s count, forgetting the address at zero so that the map holds only
/// addresses with something in progress.
fn remove(counts: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(count) = counts.get_mut(&ip) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&ip);
        }
    }
}

/// The caps of one replica's transport, and what they currently count.
#[derive(Debug)]
pub(crate) struct Caps {
    limits: ConnectionLimits,
    replica_addresses: HashSet<SocketAddr>,
    replica_handshakes_max: usize,
    counts: Mutex<Counts>,
    counters: Arc<Counters>,
    /// When each kind of refusal was last logged, and how many went unlogged since.
    logged: Mutex<[(Option<Instant>, u64); Refusal::ALL.len()]>,
}

impl Caps {
    /// Caps for a replica whose peers dial from `replica_addresses`.
    pub(crate) fn new(
        limits: ConnectionLimits,
        replica_addresses: &[SocketAddr],
        counters: Arc<Counters>,
    ) -> Arc<Caps> {
        Arc::new(Caps {
            limits,
            replica_addresses: replica_addresses.iter().copied().collect(),
            replica_handshakes_max: REPLICA_HANDSHAKES_PER_PEER * replica_addresses.len(),
            counts: Mutex::new(Counts::default()),
            counters,
            logged: Mutex::new([(None, 0); Refusal::ALL.len()]),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Every update leaves the counts consistent, so a poisoned lock is still usable.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Judges a connection attempt from `remote` on its first packet; `validated` tells
    /// whether the peer proved its address already (it answered a Retry).
    pub(crate) fn judge(self: &Arc<Self>, remote: SocketAddr, validated: bool) -> Verdict {
        let verdict = self.decide(remote, validated);
        match &verdict {
            Verdict::Accept(_) => {}
            Verdict::Retry => self.counters.handshake_retried(),
            Verdict::Refuse(refusal) => {
                self.counters.connection_capped();
                self.log(*refusal, remote);
            }
            Verdict::Ignore(refusal) => {
                self.counters.handshake_capped();
                self.log(*refusal, remote);
            }
        }
        verdict
    }

    fn decide(self: &Arc<Self>, remote: SocketAddr, validated: bool) -> Verdict {
        let ip = remote.ip();
        let mut counts = self.counts();
        if self.replica_addresses.contains(&remote) {
            if !validated && (counts.replica_handshakes > 0 || self.loaded(&counts)) {
                return Verdict::Retry;
            }
            if counts.replica_handshakes >= self.replica_handshakes_max {
                return Verdict::Ignore(Refusal::ReplicaHandshakes);
            }
            counts.replica_handshakes += 1;
            self.counters.handshake_in_progress(true);
            return Verdict::Accept(HandshakeSlot {
                caps: Arc::clone(self),
                ip: None,
            });
        }
        let limits = &self.limits;
        if counts.connections >= limits.connections_max {
            return Verdict::Refuse(Refusal::Connections);
        }
        if counts.connections_by_ip.get(&ip).copied().unwrap_or(0) >= limits.connections_per_ip_max
        {
            return Verdict::Refuse(Refusal::ConnectionsFromAddress);
        }
        if counts.handshakes >= limits.handshakes_max {
            return Verdict::Ignore(Refusal::Handshakes);
        }
        if counts.handshakes_by_ip.get(&ip).copied().unwrap_or(0) >= limits.handshakes_per_ip_max {
            return Verdict::Ignore(Refusal::HandshakesFromAddress);
        }
        if !validated && self.loaded(&counts) {
            return Verdict::Retry;
        }
        counts.handshakes += 1;
        add(&mut counts.handshakes_by_ip, ip);
        self.counters.handshake_in_progress(true);
        Verdict::Accept(HandshakeSlot {
            caps: Arc::clone(self),
            ip: Some(ip),
        })
    }

    /// Whether enough handshakes are in progress that new ones must prove their address.
    fn loaded(&self, counts: &Counts) -> bool {
        counts.handshakes >= self.limits.handshakes_before_retry
    }

    /// Counts a client connection from `remote` for as long as the returned slot lives, or
    /// says which cap it would exceed. Checked again after the handshake, because the
    /// handshakes in progress when the first packet was judged may have filled the caps.
    pub(crate) fn open_client_connection(
        self: &Arc<Self>,
        remote: SocketAddr,
    ) -> Result<ConnectionSlot, Refusal> {
        let ip = remote.ip();
        let refusal = {
            let mut counts = self.counts();
            if counts.connections >= self.limits.connections_max {
                Refusal::Connections
            } else if counts.connections_by_ip.get(&ip).copied().unwrap_or(0)
                >= self.limits.connections_per_ip_max
            {
                Refusal::ConnectionsFromAddress
            } else {
                counts.connections += 1;
                add(&mut counts.connections_by_ip, ip);
                self.counters.client_connection_open(true);
                return Ok(ConnectionSlot {
                    caps: Arc::clone(self),
                    ip,
                });
            }
        };
        self.counters.connection_capped();
        self.log(refusal, remote);
        Err(refusal)
    }

    /// Logs a refusal, at most once per [`REFUSAL_LOG_INTERVAL`] for each kind, with the
    /// number of refusals of that kind left unlogged since the last line.
    fn log(&self, refusal: Refusal, remote: SocketAddr) {
        let now = Instant::now();
        let unlogged = {
            let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
            let (last, unlogged) = &mut logged[refusal.index()];
            if last.is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_INTERVAL) {
                *unlogged += 1;
                return;
            }
            *last = Some(now);
            std::mem::take(unlogged)
        };
        warn!(
            %remote,
            reason = refusal.reason(),
            unlogged_since_last_line = unlogged,
            "turned a connection attempt away"
        );
    }
}

/// A handshake in progress, counted against the caps until dropped.
#[derive(Debug)]
pub(crate) struct HandshakeSlot {
    caps: Arc<Caps>,
    /// `None` for a handshake from a replica's address.
    ip: Option<IpAddr>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut counts = self.caps.counts();
        match self.ip {
            Some(ip) => {
                counts.handshakes -= 1;
                remove(&mut counts.handshakes_by_ip, ip);
            }
            None => counts.replica_handshakes -= 1,
        }
        self.caps.counters.handshake_in_progress(false);
    }
}

/// An open client connection, counted against the caps until dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    caps: Arc<Caps>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.caps.counts();
        counts.connections -= 1;
        remove(&mut counts.connections_by_ip, self.ip);
        self.caps.counters.client_connection_open(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    const REPLICA: [u8; 4] = [10, 0, 0, 1];

    fn caps(limits: ConnectionLimits) -> Arc<Caps> {
        let replicas = [address(REPLICA, 7100), address(REPLICA, 7101)];
        Caps::new(limits, &replicas, Arc::default())
    }

    fn small() -> ConnectionLimits {
        ConnectionLimits {
            connections_max: 3,
            connections_per_ip_max: 2,
            handshakes_max: 4,
            handshakes_per_ip_max: 2,
            handshakes_before_retry: 3,
        }
    }

    fn accepted(verdict: Verdict) -> HandshakeSlot {
        match verdict {
            Verdict::Accept(slot) => slot,
            other => panic!("expected the attempt to be accepted, got {other:?}"),
        }
    }

    #[test]
    fn handshakes_are_capped_per_address_and_in_total_and_freed_when_done() {
        let caps = caps(small());
        let a = address([192, 0, 2, 1], 1);
        let b = address([192, 0, 2, 2], 1);
        let first = accepted(caps.judge(a, false));
        let _second = accepted(caps.judge(a, false));
        assert!(matches!(
            caps.judge(a, true),
            Verdict::Ignore(Refusal::HandshakesFromAddress)
        ));
        // Three in progress: a new address must prove itself first, then gets in.
        let _third = accepted(caps.judge(b, false));
        assert!(matches!(caps.judge(b, false), Verdict::Retry));
        let _fourth = accepted(caps.judge(b, true));
        assert!(matches!(
            caps.judge(address([192, 0, 2, 3], 1), true),
            Verdict::Ignore(Refusal::Handshakes)
        ));
        drop(first);
        let _fifth = accepted(caps.judge(address([192, 0, 2, 3], 1), true));
        assert_eq!(caps.counters.snapshot().handshakes_over_cap_ignored, 2);
        assert_eq!(caps.counters.snapshot().handshakes_retried, 1);
        assert_eq!(caps.counters.snapshot().handshakes_in_progress, 4);
    }

    #[test]
    fn client_connections_are_capped_per_address_and_in_total() {
        let caps = caps(small());
        let a = address([192, 0, 2, 1], 1);
        let b = address([192, 0, 2, 2], 1);
        let first = caps.open_client_connection(a).expect("room");
        let _second = caps.open_client_connection(a).expect("room");
        assert_eq!(
            caps.open_client_connection(a).err(),
            Some(Refusal::ConnectionsFromAddress)
        );
        assert!(matches!(
            caps.judge(a, true),
            Verdict::Refuse(Refusal::ConnectionsFromAddress)
        ));
        let _third = caps.open_client_connection(b).expect("room");
        assert!(matches!(
            caps.judge(address([192, 0, 2, 3], 1), true),
            Verdict::Refuse(Refusal::Connections)
        ));
        drop(first);
        accepted(caps.judge(a, true));
        assert_eq!(caps.counters.snapshot().client_connections_open, 2);
        assert!(caps.counts().connections_by_ip.len() <= 2);
    }

    #[test]
    fn replica_addresses_keep_their_own_handshakes_when_strangers_fill_the_caps() {
        let caps = caps(small());
        let mut strangers = Vec::new();
        for host in 1..=2u8 {
            for _ in 0..2 {
                strangers.push(accepted(caps.judge(address([192, 0, 2, host], 1), true)));
            }
        }
        let _connections: Vec<ConnectionSlot> = (1..=3u8)
            .map(|host| {
                caps.open_client_connection(address([192, 0, 2, host], 1))
                    .expect("room")
            })
            .collect();
        assert!(matches!(
            caps.judge(address([192, 0, 2, 9], 1), true),
            Verdict::Refuse(_)
        ));
        // A replica's dial is asked to prove its address (a forger at that address could
        // not answer), and once it has, is accepted despite the strangers.
        let replica = address(REPLICA, 7101);
        assert!(matches!(caps.judge(replica, false), Verdict::Retry));
        let _replica = accepted(caps.judge(replica, true));
        // Only a replica's exact address counts: its IP with another port is a stranger.
        assert!(matches!(
            caps.judge(address(REPLICA, 9999), true),
            Verdict::Refuse(_)
        ));
    }

    #[test]
    fn forged_packets_from_a_replica_address_hold_at_most_one_handshake() {
        let caps = caps(ConnectionLimits::default());
        let replica = address(REPLICA, 7100);
        let _forged = accepted(caps.judge(replica, false));
        for _ in 0..100 {
            assert!(matches!(caps.judge(replica, false), Verdict::Retry));
        }
        let _real = accepted(caps.judge(replica, true));
        let _spare = accepted(caps.judge(replica, true));
        let _another = accepted(caps.judge(replica, true));
        assert!(matches!(
            caps.judge(replica, true),
            Verdict::Ignore(Refusal::ReplicaHandshakes)
        ));
    }

    #[test]
    fn inconsistent_limits_are_refused() {
        assert!(ConnectionLimits::default().validate().is_ok());
        let mut limits = ConnectionLimits::default();
        limits.connections_per_ip_max = limits.connections_max + 1;
        assert!(limits.validate().is_err());
        let limits = ConnectionLimits {
            handshakes_per_ip_max: 0,
            ..ConnectionLimits::default()
        };
        assert!(limits.validate().is_err());
        let mut limits = ConnectionLimits::default();
        limits.handshakes_before_retry = limits.handshakes_max + 1;
        assert!(limits.validate().is_err());
    }
}
