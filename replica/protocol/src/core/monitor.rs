//! How backups watch the primary: the request timer of PBFT §4.5.2, and an ordering timer
//! that catches a primary that stalls, after Aardvark (Clement et al., NSDI 2009).
//!
//! **Request timer.** A backup times the oldest request it knows and is waiting to execute.
//! The timer stops only when *that* request executes (or can no longer execute); it then
//! restarts for the next oldest one, if any (§4.5.2). Executing other requests does not
//! touch it, so a primary that keeps ordering other requests, or empty batches, while it
//! withholds one client's request loses its view within one timeout of that request
//! becoming the oldest. Only requests that can execute wait (`requests.rs`), so no client
//! can make this timer expire under a correct primary.
//!
//! **Ordering timer.** A primary can also stay just under the request timer: order every
//! request, but each one late. PBFT's timer cannot see that; Aardvark's backups demand a
//! minimum throughput from the primary instead. Rampart's form of that demand is a bound
//! on how long the primary may leave a request unordered *while it has room to order it*:
//! every request a backup holds must appear in a PRE-PREPARE within `order_timeout_ticks`
//! of the backup receiving it, counting only the ticks in which the backup sees the
//! primary's pipeline with room (fewer than `in_flight_max` pre-prepared sequence numbers
//! above its last executed one, and the next one below the high watermark). A correct
//! primary orders at once whatever fits, so the rule costs it nothing; a primary that
//! holds requests back gains at most one ordering timeout per request, whatever its
//! batches look like, because every waiting request ages at once. Clients send their
//! requests to every replica (`client` crate), so backups know what to expect. Ticks with
//! a full pipeline do not count: then the cluster is busy, not the primary idle, and
//! requests queue behind the work in flight. For one view-change timeout after a view
//! starts the ordering timer does not run (Aardvark's grace period): connections are
//! being made and the backlog of the view change is being worked off. PBFT's request
//! timer runs all the while.
//!
//! Both timers are the backup's own suspicion. As in PBFT, a view changes only when f + 1
//! replicas suspect the primary, so one confused backup cannot depose a correct primary.

use super::Replica;
use super::view_change_cause::ViewChangeCause;
use crate::message::{RequestKey, Seq};

/// The state of the timers watching the primary.
#[derive(Clone, Debug, Default)]
pub(super) struct Monitor {
    /// PBFT §4.5.2: the request this backup times, and the tick its timer expires.
    request_timer: Option<(RequestKey, u64)>,
    /// Ticks of the current view in which the primary had room to order and did not have
    /// to wait: the clock the ordering timer runs on.
    room_ticks: u64,
    /// `room_ticks` when the current view began (or this replica started watching it):
    /// requests that arrived earlier age from then.
    room_ticks_at_view_start: u64,
    /// `room_ticks` at each waiting request's arrival, for the ordering timer.
    arrivals: std::collections::BTreeMap<RequestKey, u64>,
    /// The tick the current view began (or the replica started): the ordering timer
    /// gives a new primary a grace period of one view-change timeout, as Aardvark does,
    /// in which connections are made and a backlog is worked off.
    view_started_at: u64,
    /// This view came out of a view change and has executed nothing new since: a
    /// suspicion now doubles the timeouts of the next view (see `suspect_primary`).
    stalled_since_view_change: bool,
}

impl Monitor {
    /// Starts afresh, as on entering a view at tick `now`.
    pub(super) fn reset(&mut self, now: u64) {
        self.request_timer = None;
        self.room_ticks_at_view_start = self.room_ticks;
        self.view_started_at = now;
        self.stalled_since_view_change = true;
    }

    /// The current view executed a request.
    pub(super) fn note_progress(&mut self) {
        self.stalled_since_view_change = false;
    }

    pub(super) fn request_timer(&self) -> Option<(RequestKey, u64)> {
        self.request_timer
    }

    /// How many arrivals it remembers: as many as requests wait.
    pub(super) fn arrival_count(&self) -> usize {
        self.arrivals.len()
    }
}

impl Replica {
    /// Starts the request timer for the oldest waiting request if no timer runs and this
    /// replica is a backup in normal operation.
    pub(super) fn arm_request_timer(&mut self) {
        if self.monitor.request_timer.is_some() || !self.is_normal() || self.is_primary() {
            return;
        }
        if let Some(oldest) = self.requests.oldest() {
            self.monitor.request_timer = Some((oldest, self.now + self.view_change_timeout()));
        }
    }

    /// A request arrived and waits: it starts ageing for the ordering timer.
    pub(super) fn request_arrived(&mut self, key: RequestKey) {
        self.monitor.arrivals.insert(key, self.monitor.room_ticks);
    }

    /// A request no longer waits (executed, or dropped because it can never execute):
    /// if it was the timed one, the timer restarts for the next oldest (PBFT §4.5.2).
    pub(super) fn request_gone(&mut self, key: RequestKey) {
        self.monitor.arrivals.remove(&key);
        if self
            .monitor
            .request_timer
            .is_some_and(|(timed, _)| timed == key)
        {
            self.monitor.request_timer = None;
            self.arm_request_timer();
        }
    }

    /// Every tick: the request timer, then the ordering timer. Either one that expires
    /// starts a view change.
    pub(super) fn check_primary(&mut self) {
        if !self.is_normal() || self.is_primary() {
            self.monitor.request_timer = None;
            return;
        }
        if self.check_request_timer() {
            return;
        }
        self.check_order_timer();
    }

    /// Returns whether it started a view change.
    fn check_request_timer(&mut self) -> bool {
        let Some((_, deadline)) = self.monitor.request_timer else {
            return false;
        };
        if self.now < deadline {
            return false;
        }
        if self.transfer.is_some() {
            // This replica is behind a stable checkpoint, which 2f+1 replicas (so at least
            // f+1 correct ones) signed after executing past it: the view is making
            // progress, and the requests waiting here are waiting for this replica's own
            // state, not for the primary. Suspecting the primary now would take this
            // replica alone into a view nobody else wants, where it would stay, of no use,
            // until f+1 others left the current view too. The timer runs again in full
            // once the state is installed; correct replicas that are not behind still
            // suspect a primary that ignores a request.
            tracing::debug!(replica = %self.id, view = %self.view, "request timer expired while fetching state: waiting");
            let later = self.now + self.view_change_timeout();
            if let Some((_, deadline)) = self.monitor.request_timer.as_mut() {
                *deadline = later;
            }
            return false;
        }
        self.monitor.request_timer = None;
        self.suspect_primary(ViewChangeCause::RequestTimeout);
        true
    }

    /// PBFT §4.5.2: a backup that suspects the primary moves to the next view; if this
    /// view itself came out of a view change and has executed nothing new, the timers of
    /// the next one are twice as long, so that views in a row that cannot make progress
    /// (messages slower than the timeouts, a faulty primary after another) end in one that
    /// lasts long enough.
    fn suspect_primary(&mut self, cause: ViewChangeCause) {
        if self.monitor.stalled_since_view_change {
            self.view_changes_in_a_row = self.view_changes_in_a_row.saturating_add(1);
        }
        self.start_view_change(self.view.next(), cause);
    }

    /// The ordering timeout, doubled like the view-change timeout for every view change
    /// in a row without progress: a primary deposed because its batches could not reach
    /// the backups in time (large batches on a slow network) gets more time in the views
    /// that follow, until one makes progress.
    fn order_timeout(&self) -> u64 {
        let doubled = self
            .config
            .order_timeout_ticks
            .saturating_mul(1u64 << self.view_changes_in_a_row.min(32));
        doubled.min(self.config.view_change_timeout_max_ticks)
    }

    fn check_order_timer(&mut self) {
        let grace = self.view_change_timeout();
        if self.now < self.monitor.view_started_at + grace {
            self.monitor.room_ticks_at_view_start = self.monitor.room_ticks;
            return;
        }
        if self.transfer.is_some() || !self.primary_has_room() {
            return;
        }
        self.monitor.room_ticks += 1;
        let Some(oldest) = self.requests.oldest_unassigned() else {
            return;
        };
        let arrived = self
            .monitor
            .arrivals
            .get(&oldest)
            .copied()
            .unwrap_or(self.monitor.room_ticks)
            .max(self.monitor.room_ticks_at_view_start);
        if self.monitor.room_ticks - arrived >= self.order_timeout() {
            tracing::debug!(
                replica = %self.id, view = %self.view, request = ?oldest,
                "the primary left this request unordered for an ordering timeout"
            );
            self.suspect_primary(ViewChangeCause::OrderTimeout);
        }
    }

    /// Whether, as far as this backup can see, a correct primary would order another batch
    /// now (the rule of `batching.rs`): its pipeline holds fewer than `in_flight_max`
    /// pre-prepared, unexecuted sequence numbers, the next one is within the high
    /// watermark, and either nothing is in flight, a batch delay is configured (the
    /// ordering timeout exceeds it), or enough requests wait to be worth a batch of their
    /// own while others are in flight.
    fn primary_has_room(&self) -> bool {
        let mut in_flight = 0u64;
        let mut highest = self.last_executed;
        for slot in self.log.slots_above(self.last_executed) {
            if slot.round.pre_prepare.is_some() {
                in_flight += 1;
                highest = highest.max(slot.seq);
            }
        }
        let pipeline_open = in_flight == 0
            || self.config.batch_delay_ticks > 0
            || self
                .requests
                .worth_a_batch(self.config.pipeline_batch_min, self.config.batch_bytes_max);
        in_flight < self.config.in_flight_max && highest < self.high_watermark() && pipeline_open
    }

    /// The timed request and its deadline, for tests and checks.
    pub fn request_timer(&self) -> Option<(RequestKey, u64)> {
        self.monitor.request_timer()
    }

    /// The sequence number the backup expects next from the primary (for status).
    pub fn last_pre_prepared(&self) -> Seq {
        self.log
            .slots()
            .rev()
            .find(|slot| slot.round.pre_prepare.is_some())
            .map_or(self.last_executed, |slot| slot.seq)
    }
}
