//! Counters per replica peer: bytes each way, connections made, and connections serving
//! now, for an operator who wants to see which link is slow or down.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::Peer;
use crate::message::ReplicaId;

/// A snapshot of what the transport counted for one other replica since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub replica: ReplicaId,
    /// Bytes of frames written to the peer, length prefixes included.
    pub bytes_sent: u64,
    /// Bytes of frames read from the peer, length prefixes included.
    pub bytes_received: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Connections to the peer that completed their handshake.
    pub connections_established: u64,
    /// Whether a connection to the peer is being served now.
    pub connected: bool,
}

#[derive(Debug, Default)]
struct Counters {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    connections_established: AtomicU64,
    /// Connections being served: briefly two while a newer one replaces an older one.
    serving: AtomicU64,
}

/// The live counters of every replica peer, by replica id (this replica's own entry stays
/// at zero). Client peers are not counted here: their number is unbounded.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    peers: Vec<Counters>,
}

/// The size of a frame on the wire: its bytes and its 4-byte length prefix.
pub(crate) fn wire_bytes(frame_bytes: usize) -> u64 {
    frame_bytes as u64 + 4
}

impl PeerTable {
    pub(crate) fn new(replicas: usize) -> PeerTable {
        PeerTable {
            peers: (0..replicas).map(|_| Counters::default()).collect(),
        }
    }

    fn of(&self, peer: Peer) -> Option<&Counters> {
        match peer {
            Peer::Replica(replica) => self.peers.get(replica.0 as usize),
            Peer::Client(_) => None,
        }
    }

    // Statistics: no other memory is ordered by these counters.

    pub(crate) fn sent(&self, peer: Peer, frames: u64, bytes: u64) {
        if let Some(counters) = self.of(peer) {
            counters.frames_sent.fetch_add(frames, Ordering::Relaxed);
            counters.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub(crate) fn received(&self, peer: Peer, bytes: u64) {
        if let Some(counters) = self.of(peer) {
            counters.frames_received.fetch_add(1, Ordering::Relaxed);
            counters.bytes_received.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub(crate) fn established(&self, peer: Peer) {
        if let Some(counters) = self.of(peer) {
            counters
                .connections_established
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection to `peer` is served until the guard drops.
    pub(crate) fn serving(&self, peer: Peer) -> Serving<'_> {
        let counters = self.of(peer);
        if let Some(counters) = counters {
            counters.serving.fetch_add(1, Ordering::Relaxed);
        }
        Serving { counters }
    }

    pub(crate) fn snapshot(&self) -> Vec<PeerStats> {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        self.peers
            .iter()
            .enumerate()
            .map(|(index, counters)| PeerStats {
                replica: ReplicaId(index as u32),
                bytes_sent: load(&counters.bytes_sent),
                bytes_received: load(&counters.bytes_received),
                frames_sent: load(&counters.frames_sent),
                frames_received: load(&counters.frames_received),
                connections_established: load(&counters.connections_established),
                connected: load(&counters.serving) > 0,
            })
            .collect()
    }
}

/// Counts a connection as served while it lives.
#[derive(Debug)]
pub(crate) struct Serving<'a> {
    counters: Option<&'a Counters>,
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        if let Some(counters) = self.counters {
            counters.serving.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_peers_are_counted_and_clients_are_not() {
        let table = PeerTable::new(4);
        let peer = Peer::Replica(ReplicaId(2));
        table.sent(peer, 2, 100);
        table.received(peer, 40);
        table.established(peer);
        let client = Peer::Client(rampart_crypto::KeyPair::from_seed(9).public_key());
        table.sent(client, 1, 10);
        let (first, second) = (table.serving(peer), table.serving(peer));
        assert!(table.snapshot()[2].connected);
        drop(first);
        assert!(table.snapshot()[2].connected, "the newer connection serves");
        drop(second);
        let stats = table.snapshot();
        assert_eq!(
            stats[2],
            PeerStats {
                replica: ReplicaId(2),
                bytes_sent: 100,
                bytes_received: 40,
                frames_sent: 2,
                frames_received: 1,
                connections_established: 1,
                connected: false,
            }
        );
        assert_eq!(stats.iter().map(|s| s.bytes_sent).sum::<u64>(), 100);
        assert!(table.snapshot().iter().all(|s| !s.connected));
        // Out of range: ignored, not a panic.
        table.sent(Peer::Replica(ReplicaId(9)), 1, 1);
    }
}
