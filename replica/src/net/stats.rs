//! Counters of what a transport sent, received, dropped and refused.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Connections that completed the handshake and were put to use.
    pub connections_established: u64,
}

/// The live counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    frames_dropped: AtomicU64,
    frames_oversized_refused: AtomicU64,
    handshakes_refused: AtomicU64,
    connections_established: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    // The counters are statistics: no other memory is ordered by them.
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
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

    pub(crate) fn connection_established(&self) {
        bump(&self.connections_established);
    }

    pub(crate) fn snapshot(&self) -> TransportStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TransportStats {
            frames_sent: load(&self.frames_sent),
            frames_received: load(&self.frames_received),
            frames_dropped: load(&self.frames_dropped),
            frames_oversized_refused: load(&self.frames_oversized_refused),
            handshakes_refused: load(&self.handshakes_refused),
            connections_established: load(&self.connections_established),
        }
    }
}
