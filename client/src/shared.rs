//! What a client's calls and its router task share.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use rampart_crypto::Ed25519;
use rampart_protocol::cluster::Cluster;
use rampart_protocol::message::ClientId;

use rampart_protocol::core::Quorums;

use crate::pending::Pending;
use crate::stats::Counters;
use crate::view::ViewTracker;
use crate::window::Window;

/// State shared by every call of one client and by its router.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: ClientId,
    pub(crate) cluster: Cluster,
    pub(crate) quorums: Quorums,
    state: Mutex<State>,
    /// Woken when a request number is released, for calls waiting for room in the window,
    /// and when the client closes.
    pub(crate) room: Notify,
    /// Woken when a replica reports its view, for `connect` waiting to learn it, and when
    /// the client closes.
    pub(crate) views_reported: Notify,
    pub(crate) counters: Counters,
    /// Shared so that the decompressed keys of the replicas stay cached.
    pub(crate) verifier: Ed25519,
}

/// The mutable part, behind one lock. Critical sections are short and never await.
#[derive(Debug)]
pub(crate) struct State {
    /// Requests waiting for replies, by request number.
    pub(crate) pending: HashMap<u64, Pending>,
    pub(crate) window: Window,
    pub(crate) views: ViewTracker,
    /// The router stopped: no reply will ever arrive again.
    pub(crate) closed: bool,
    /// Until when every replica is asked to answer every request (see
    /// [`crate::ClientConfig::all_answer_after_retransmit`]).
    pub(crate) all_answer_until: Option<Instant>,
}

impl Shared {
    pub(crate) fn new(client: ClientId, cluster: Cluster, window: Window) -> Shared {
        let quorums = cluster.quorums();
        Shared {
            client,
            quorums,
            state: Mutex::new(State {
                pending: HashMap::new(),
                window,
                views: ViewTracker::new(quorums),
                closed: false,
                all_answer_until: None,
            }),
            cluster,
            room: Notify::new(),
            views_reported: Notify::new(),
            counters: Counters::default(),
            verifier: Ed25519::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// No reply will arrive any more: every waiting call ends with `Closed`.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        for pending in state.pending.values_mut() {
            pending.abandon();
        }
        drop(state);
        self.room.notify_waiters();
        self.views_reported.notify_waiters();
    }
}
