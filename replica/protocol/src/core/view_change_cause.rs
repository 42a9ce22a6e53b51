//! Why a replica starts a view change (PBFT §4.4, §4.5.2), and how many it started and
//! completed: what an operator asks first when a cluster changes views.

use std::collections::BTreeMap;
use std::fmt;

/// What made a replica leave its view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViewChangeCause {
    /// PBFT §4.4: a request this backup holds waited a whole view-change timeout without
    /// executing.
    RequestTimeout,
    /// The primary left a request unordered for an ordering timeout while it had room in
    /// its pipeline (`monitor.rs`).
    OrderTimeout,
    /// PBFT §4.5.2: f + 1 replicas moved to a later view, so at least one correct replica
    /// did.
    PeersMovedOn,
    /// PBFT §4.5.2: a quorum of VIEW-CHANGEs was in, but no NEW-VIEW came in time.
    NewViewTimeout,
    /// The view change gathered no quorum in three timeouts.
    NoQuorum,
}

impl ViewChangeCause {
    /// Every cause, for exporting counters that start at zero.
    pub const ALL: [ViewChangeCause; 5] = [
        ViewChangeCause::RequestTimeout,
        ViewChangeCause::OrderTimeout,
        ViewChangeCause::PeersMovedOn,
        ViewChangeCause::NewViewTimeout,
        ViewChangeCause::NoQuorum,
    ];

    /// A short name, for metric labels and structured logs.
    pub fn name(self) -> &'static str {
        match self {
            ViewChangeCause::RequestTimeout => "request_timeout",
            ViewChangeCause::OrderTimeout => "order_timeout",
            ViewChangeCause::PeersMovedOn => "peers_moved_on",
            ViewChangeCause::NewViewTimeout => "new_view_timeout",
            ViewChangeCause::NoQuorum => "no_quorum",
        }
    }
}

impl fmt::Display for ViewChangeCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ViewChangeCause::RequestTimeout => "a request waited a whole timeout without executing",
            ViewChangeCause::OrderTimeout => {
                "the primary left a request unordered for an ordering timeout while it had room"
            }
            ViewChangeCause::PeersMovedOn => "f + 1 replicas moved to a later view",
            ViewChangeCause::NewViewTimeout => "no NEW-VIEW came in time",
            ViewChangeCause::NoQuorum => "the view change gathered no quorum in three timeouts",
        })
    }
}

/// View changes started, by cause, and completed (a new view entered), since the replica
/// started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewChangeCounts {
    pub started: BTreeMap<ViewChangeCause, u64>,
    pub completed: u64,
}

impl ViewChangeCounts {
    pub(super) fn start(&mut self, cause: ViewChangeCause) {
        *self.started.entry(cause).or_default() += 1;
    }

    /// The view changes started, all causes together.
    pub fn started_total(&self) -> u64 {
        self.started.values().sum()
    }

    /// Adds `earlier`'s counts to these: a core rebuilt from the store (a rollback) goes on
    /// counting where the one it replaces stopped.
    pub fn add(&mut self, earlier: &ViewChangeCounts) {
        for (cause, count) in &earlier.started {
            *self.started.entry(*cause).or_default() += count;
        }
        self.completed += earlier.completed;
    }
}
