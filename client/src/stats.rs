//! Counters of what the client ignored, for operators and tests.

use std::sync::atomic::{AtomicU64, Ordering};

use rampart_net::TransportStats;

/// A snapshot of a client's counters, each counted since it connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Frames from a replica that did not decode, or that answered for another client or
    /// with the wrong kind of reply. A correct replica never sends one.
    pub malformed_frames: u64,
    /// Replies to requests that were no longer waiting (answered, given up or cancelled).
    pub stale_replies: u64,
    /// Commit proofs attached to replies that did not verify.
    pub certificates_refused: u64,
    pub transport: TransportStats,
}

/// The live counters behind [`ClientStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    malformed_frames: AtomicU64,
    stale_replies: AtomicU64,
    certificates_refused: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    // Statistics only: no other memory is ordered by these counters.
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn malformed_frame(&self) {
        bump(&self.malformed_frames);
    }

    pub(crate) fn stale_reply(&self) {
        bump(&self.stale_replies);
    }

    pub(crate) fn certificate_refused(&self) {
        bump(&self.certificates_refused);
    }

    pub(crate) fn snapshot(&self, transport: TransportStats) -> ClientStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ClientStats {
            malformed_frames: load(&self.malformed_frames),
            stale_replies: load(&self.stale_replies),
            certificates_refused: load(&self.certificates_refused),
            transport,
        }
    }
}
