//! Counters of what a transport sent, received, dropped and refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::peers::{PeerStats, PeerTable};

/// A snapshot of a transport's counters, each counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Frames written to a QUIC stream.
    pub frames_sent: u64,
    /// Frames read from peers and handed to the inbound channel.
    pub frames_received: u64,
    /// Frames dropped on the way out: a full queue, or a connection lost while writing.
    pub frames_dropped: u64,
    /// Frames refused because their length prefix exceeded the maximum.
    pub frames_oversized_refused: u64,
    /// Peers refused: a certificate naming the wrong or an unknown key, or a peer that
    /// asked for a role (replica, client) it may not have.
    pub handshakes_refused: u64,
    /// Replica connections refused because the peer's HELLO carries another cluster id or
    /// other cluster settings.
    pub settings_refused: u64,
    /// Replica connections refused as twins: another process with the peer's key is live.
    pub twins_refused: u64,
    /// Connections of ours that a peer refused for our cluster settings.
    pub peer_refused_settings: u64,
    /// Connections of ours that a peer refused as a twin of a process it serves.
    pub peer_refused_twin: u64,
    /// Connections that completed the handshake and were put to use.
    pub connections_established: u64,
    /// Connection attempts refused because a cap on client connections (in total, or from
    /// one IP address) was reached, on the first packet or after the handshake.
    pub connections_over_cap_refused: u64,
    /// Handshakes ignored because a cap on handshakes in progress was reached.
    pub handshakes_over_cap_ignored: u64,
    /// Handshakes asked to prove their address first (QUIC Retry), the replica being busy.
    pub handshakes_retried: u64,
    /// Client connections open now.
    pub client_connections_open: u64,
    /// Handshakes in progress now.
    pub handshakes_in_progress: u64,
}

/// The live counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    frames_dropped: AtomicU64,
    frames_oversized_refused: AtomicU64,
    handshakes_refused: AtomicU64,
    settings_refused: AtomicU64,
    twins_refused: AtomicU64,
    peer_refused_settings: AtomicU64,
    peer_refused_twin: AtomicU64,
    connections_established: AtomicU64,
    connections_over_cap_refused: AtomicU64,
    handshakes_over_cap_ignored: AtomicU64,
    handshakes_retried: AtomicU64,
    client_connections_open: AtomicU64,
    handshakes_in_progress: AtomicU64,
    /// Per replica peer (none for a client's transport).
    pub(crate) peers: PeerTable,
}

fn bump(counter: &AtomicU64) {
    // The counters are statistics: no other memory is ordered by them.
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Moves a gauge up or down by one.
fn step(gauge: &AtomicU64, up: bool) {
    if up {
        gauge.fetch_add(1, Ordering::Relaxed);
    } else {
        gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    /// The counters of a replica's transport in a cluster of `replicas`.
    pub(crate) fn for_replicas(replicas: usize) -> Counters {
        Counters {
            peers: PeerTable::new(replicas),
            ..Counters::default()
        }
    }

    pub(crate) fn frame_sent(&self) {
        bump(&self.frames_sent);
    }

    pub(crate) fn frame_received(&self) {
        bump(&self.frames_received);
    }

    pub(crate) fn frame_dropped(&self) {
        bump(&self.frames_dropped);
    }

    pub(crate) fn frame_oversized(&self) {
        bump(&self.frames_oversized_refused);
    }

    pub(crate) fn handshake_refused(&self) {
        bump(&self.handshakes_refused);
    }

    pub(crate) fn settings_refused(&self) {
        bump(&self.settings_refused);
    }

    pub(crate) fn twin_refused(&self) {
        bump(&self.twins_refused);
    }

    pub(crate) fn peer_refused_settings(&self) {
        bump(&self.peer_refused_settings);
    }

    pub(crate) fn peer_refused_twin(&self) {
        bump(&self.peer_refused_twin);
    }

    pub(crate) fn connection_established(&self) {
        bump(&self.connections_established);
    }

    pub(crate) fn connection_capped(&self) {
        bump(&self.connections_over_cap_refused);
    }

    pub(crate) fn handshake_capped(&self) {
        bump(&self.handshakes_over_cap_ignored);
    }

    pub(crate) fn handshake_retried(&self) {
        bump(&self.handshakes_retried);
    }

    /// One more client connection open if `up`, one fewer otherwise.
    pub(crate) fn client_connection_open(&self, up: bool) {
        step(&self.client_connections_open, up);
    }

    /// One more handshake in progress if `up`, one fewer otherwise.
    pub(crate) fn handshake_in_progress(&self, up: bool) {
        step(&self.handshakes_in_progress, up);
    }

    pub(crate) fn snapshot(&self) -> TransportStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TransportStats {
            frames_sent: load(&self.frames_sent),
            frames_received: load(&self.frames_received),
            frames_dropped: load(&self.frames_dropped),
            frames_oversized_refused: load(&self.frames_oversized_refused),
            handshakes_refused: load(&self.handshakes_refused),
            settings_refused: load(&self.settings_refused),
            twins_refused: load(&self.twins_refused),
            peer_refused_settings: load(&self.peer_refused_settings),
            peer_refused_twin: load(&self.peer_refused_twin),
            connections_established: load(&self.connections_established),
            connections_over_cap_refused: load(&self.connections_over_cap_refused),
            handshakes_over_cap_ignored: load(&self.handshakes_over_cap_ignored),
            handshakes_retried: load(&self.handshakes_retried),
            client_connections_open: load(&self.client_connections_open),
            handshakes_in_progress: load(&self.handshakes_in_progress),
        }
    }
}

/// A transport's counters, readable for as long as anyone holds the handle, the transport
/// itself gone or not: for metrics, which must not keep a transport from shutting down.
#[derive(Debug, Clone)]
pub struct StatsHandle(pub(crate) Arc<Counters>);

impl StatsHandle {
    pub fn stats(&self) -> TransportStats {
        self.0.snapshot()
    }

    /// Per replica peer, by replica id (empty for a client's transport).
    pub fn peer_stats(&self) -> Vec<PeerStats> {
        self.0.peers.snapshot()
    }
}
