//! Client requests (PBFT §4.1, §4.5.2): the reply cache answers retransmissions, backups
//! forward requests to the primary and time it, and the primary cuts batches.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rampart_crypto::Signed;

use super::{Action, Reject, Replica, RequestStatus};
use crate::message::{Batch, ClientId, Message, Payload, PrePrepare, Reply, Request, RequestKey};

/// A request received and not yet executed.
#[derive(Clone, Debug)]
struct Waiting {
    request: Signed<Request>,
    received_at: u64,
    /// When this replica last forwarded it to the primary.
    forwarded_at: u64,
}

/// The requests a replica knows of and has not executed.
#[derive(Clone, Debug, Default)]
pub(super) struct Requests {
    waiting: BTreeMap<RequestKey, Waiting>,
    per_client: BTreeMap<ClientId, u64>,
    /// Requests in a pre-prepare of the current view above the last executed number.
    assigned: BTreeSet<RequestKey>,
    /// The primary's proposal order (arrival order); entries executed or assigned since
    /// are skipped when a batch is cut.
    queue: VecDeque<RequestKey>,
    /// PBFT §4.5.2: a backup waiting for a request to execute runs this timer; when it
    /// expires, the backup starts a view change.
    timer_deadline: Option<u64>,
}

impl Requests {
    pub(super) fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    pub(super) fn mark_assigned(&mut self, keys: impl Iterator<Item = RequestKey>) {
        for key in keys {
            if self.waiting.contains_key(&key) {
                self.assigned.insert(key);
            }
        }
    }

    pub(super) fn executed(&mut self, key: RequestKey) {
        if self.waiting.remove(&key).is_some() {
            let count = self.per_client.entry(key.client).or_default();
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&key.client);
            }
        }
        self.assigned.remove(&key);
    }

    /// Forgets which requests were assigned (on entering a new view) and, for a primary,
    /// rebuilds the proposal queue from everything waiting.
    pub(super) fn reset_assignments(&mut self, is_primary: bool) {
        self.assigned.clear();
        self.queue.clear();
        if !is_primary {
            return;
        }
        let mut keys: Vec<(u64, RequestKey)> = self
            .waiting
            .iter()
            .map(|(key, waiting)| (waiting.received_at, *key))
            .collect();
        keys.sort();
        self.queue = keys.into_iter().map(|(_, key)| key).collect();
    }

    /// Drops waiting requests the reply cache says are executed (after a state transfer).
    pub(super) fn drop_executed(&mut self, clients: &super::ClientTable) {
        let done: Vec<RequestKey> = self
            .waiting
            .keys()
            .filter(|key| clients.is_executed(**key))
            .copied()
            .collect();
        for key in done {
            self.executed(key);
        }
    }

    pub(super) fn per_client_counts(&self) -> &BTreeMap<ClientId, u64> {
        &self.per_client
    }

    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub(super) fn timer_deadline_clear(&mut self) {
        self.timer_deadline = None;
    }

    pub(super) fn timer_deadline(&self) -> Option<u64> {
        self.timer_deadline
    }

    pub(super) fn assigned_count(&self) -> usize {
        self.assigned.len()
    }
}

impl Replica {
    /// A request from a client (`from_client`) or forwarded by a backup.
    pub(super) fn on_request(
        &mut self,
        request: Signed<Request>,
        from_client: bool,
    ) -> Result<(), Reject> {
        if request.value.read_only {
            return Err(Reject::ReadOnlyRequest);
        }
        let key = request.value.key();
        match self.clients.status(key) {
            RequestStatus::Executed(cached) => {
                // PBFT §4.1: a retransmission is answered from the reply cache.
                if from_client {
                    let reply = Reply {
                        view: self.view,
                        seq: cached.seq,
                        client: key.client,
                        number: key.number,
                        replica: self.id,
                        result: cached.result.clone(),
                        tentative: false,
                    };
                    self.emit(Action::Reply(reply));
                }
                return Ok(());
            }
            RequestStatus::Forgotten => return Err(Reject::RequestTooOld),
            RequestStatus::New => {}
        }
        let now = self.now;
        let forward = from_client && self.normal && !self.is_primary();
        if let Some(waiting) = self.requests.waiting.get_mut(&key) {
            // A client retransmits when it hears nothing; the primary may have missed it.
            if forward {
                waiting.forwarded_at = now;
                self.relay(self.primary(), Message::Request(request));
            }
            return Err(Reject::Duplicate);
        }
        let count = self
            .requests
            .per_client
            .get(&key.client)
            .copied()
            .unwrap_or(0);
        if count >= self.config.client_window {
            return Err(Reject::ClientWindowFull);
        }
        *self.requests.per_client.entry(key.client).or_default() += 1;
        self.requests.waiting.insert(
            key,
            Waiting {
                request: request.clone(),
                received_at: now,
                forwarded_at: now,
            },
        );
        if !self.normal {
            // Entering the next view rebuilds the proposal queue from the waiting requests.
            return Ok(());
        }
        if self.is_primary() {
            self.requests.queue.push_back(key);
            self.propose();
        } else {
            if from_client {
                self.relay(self.primary(), Message::Request(request));
            }
            if self.requests.timer_deadline.is_none() {
                self.requests.timer_deadline = Some(now + self.view_change_timeout());
            }
        }
        Ok(())
    }

    /// The primary cuts batches while there are requests to order, a free pipeline slot and
    /// room below the high watermark (PBFT §4.2; batching and pipelining as in §5.1).
    pub(super) fn propose(&mut self) {
        if !self.normal || !self.is_primary() || self.transfer.is_some() {
            return;
        }
        loop {
            let seq = self.next_seq;
            if seq > self.high_watermark() {
                return;
            }
            let in_flight = seq.0.saturating_sub(self.last_executed.0 + 1);
            if in_flight >= self.config.in_flight_max {
                return;
            }
            // Executed or already assigned requests are skipped lazily, from the front,
            // so a busy primary does not scan its whole queue for every batch.
            let requests = &mut self.requests;
            let fresh = |key: &RequestKey| {
                requests.waiting.contains_key(key) && !requests.assigned.contains(key)
            };
            while requests.queue.front().is_some_and(|key| !fresh(key)) {
                requests.queue.pop_front();
            }
            let Some(oldest) = requests
                .queue
                .front()
                .and_then(|key| requests.waiting.get(key))
            else {
                return;
            };
            // The queue may still hold a few stale keys further back; counting them only
            // makes a batch go out a little early.
            let waiting = requests.queue.len();
            let full = waiting >= self.config.batch_size_max;
            let waited = self.now.saturating_sub(oldest.received_at);
            let delay = self.config.batch_delay_ticks;
            let ready = full
                || waiting >= self.config.pipeline_batch_min
                || (in_flight == 0 && waited >= delay)
                || (delay > 0 && waited >= delay);
            if !ready {
                return;
            }
            let mut keys: Vec<RequestKey> = Vec::with_capacity(self.config.batch_size_max);
            while keys.len() < self.config.batch_size_max {
                let Some(key) = requests.queue.pop_front() else {
                    break;
                };
                if requests.waiting.contains_key(&key) && !requests.assigned.contains(&key) {
                    keys.push(key);
                }
            }
            let batch: Vec<Signed<Request>> = keys
                .iter()
                .filter_map(|key| requests.waiting.get(key).map(|w| w.request.clone()))
                .collect();
            requests.assigned.extend(keys);
            let batch = Arc::new(Batch::new(batch));
            self.next_seq = seq.next();
            let pre_prepare = PrePrepare {
                view: self.view,
                seq,
                digest: batch.digest(),
            };
            self.broadcast(Payload::PrePrepare { pre_prepare, batch });
        }
    }

    /// Restarts the backup's request timer after an execution: stopped if nothing waits,
    /// otherwise running again for the full timeout (PBFT §4.5.2).
    pub(super) fn restart_request_timer(&mut self) {
        self.requests.timer_deadline =
            if self.requests.is_empty() || !self.normal || self.is_primary() {
                None
            } else {
                Some(self.now + self.view_change_timeout())
            };
    }

    pub(super) fn check_request_timer(&mut self) {
        let Some(deadline) = self.requests.timer_deadline else {
            return;
        };
        if !self.normal || self.is_primary() {
            self.requests.timer_deadline = None;
            return;
        }
        if self.now >= deadline && self.transfer.is_some() {
            // This replica is behind a stable checkpoint, which 2f+1 replicas (so at least
            // f+1 correct ones) signed after executing past it: the view is making
            // progress, and the requests waiting here are waiting for this replica's own
            // state, not for the primary. Suspecting the primary now would take this
            // replica alone into a view nobody else wants, where it would stay, of no use,
            // until f+1 others left the current view too. The timer runs again in full once
            // the state is installed; correct replicas that are not behind still suspect a
            // primary that ignores a request.
            tracing::debug!(replica = %self.id, view = %self.view, "request timer expired while fetching state: waiting");
            self.requests.timer_deadline = Some(self.now + self.view_change_timeout());
            return;
        }
        if self.now >= deadline {
            tracing::info!(replica = %self.id, view = %self.view, "request timer expired: changing view");
            self.requests.timer_deadline = None;
            self.start_view_change(self.view.next());
        }
    }

    /// A backup forwards the requests that no pre-prepare has picked up for a while again:
    /// the forward, or the primary, may have been lost.
    pub(super) fn reforward_waiting_requests(&mut self) {
        if !self.normal || self.is_primary() {
            return;
        }
        let now = self.now;
        let interval = self.config.status_interval_ticks;
        let primary = self.primary();
        let mut relays = Vec::new();
        for (key, waiting) in self.requests.waiting.iter_mut() {
            if !self.requests.assigned.contains(key) && now >= waiting.forwarded_at + interval {
                waiting.forwarded_at = now;
                relays.push(Message::Request(waiting.request.clone()));
            }
        }
        for message in relays {
            self.relay(primary, message);
        }
    }

    /// Marks the requests of every pre-prepared batch not yet executed as assigned, so
    /// that a primary does not order them again and a backup does not forward them.
    pub(super) fn mark_preprepared_requests_assigned(&mut self) {
        let keys: Vec<RequestKey> = self
            .log
            .slots_above(self.last_executed)
            .filter_map(|slot| slot.round.batch.as_ref())
            .flat_map(|batch| batch.requests.iter().map(|r| r.value.key()))
            .collect();
        self.requests.mark_assigned(keys.into_iter());
    }

    /// On entering a new view: the new primary queues every waiting request that O did
    /// not order; backups forward theirs to it and restart their timers.
    pub(super) fn requests_enter_view(&mut self) {
        let is_primary = self.is_primary();
        self.requests.reset_assignments(is_primary);
        self.mark_preprepared_requests_assigned();
        if self.is_primary() {
            self.requests.timer_deadline = None;
            return;
        }
        let primary = self.primary();
        let now = self.now;
        let mut relays = Vec::new();
        for (key, waiting) in self.requests.waiting.iter_mut() {
            if !self.requests.assigned.contains(key) {
                waiting.forwarded_at = now;
                relays.push(Message::Request(waiting.request.clone()));
            }
        }
        for message in relays {
            self.relay(primary, message);
        }
        self.requests.timer_deadline = if self.requests.is_empty() {
            None
        } else {
            Some(now + self.view_change_timeout())
        };
    }
}
