//! Client requests (PBFT §4.1, §4.5.2): which requests a replica accepts to wait for, the
//! reply cache answering retransmissions, and backups forwarding requests to the primary.
//!
//! Every request a replica will not execute gets an explicit answer when it came straight
//! from its client: the cached reply, or a [`Refusal`]. Only requests that can execute
//! (new to the reply cache, numbered within the number space, within the client's quota)
//! are kept waiting, and only those arm the timers that watch the primary (`monitor.rs`):
//! a request that can never execute would otherwise make a correct backup suspect a
//! correct primary, and a faulty client could make the cluster change views at will.
//!
//! Quotas are counted per client *and per origin*: the requests a client sent straight to
//! this replica, and those each other replica forwarded. A backup forwards only requests
//! it accepted within its own quota, so a correct primary never refuses for quota what a
//! correct backup forwarded, whatever the client sends to whom; a client that floods the
//! primary fills only its own direct quota there. Waiting requests stay bounded by
//! `n × client_window` per client. The requests a client sends straight to a replica are
//! also bounded in bytes (`client_bytes_in_flight_max`, [`Refusal::OverBytesQuota`]), so a
//! client of large operations cannot hold more of a replica's memory than that.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rampart_crypto::Signed;

use super::{Action, ClientTable, Reject, Replica, RequestStatus};
use crate::message::{
    ClientId, Message, REQUEST_NUMBER_MAX, Refusal, ReplicaId, Reply, Request, RequestKey,
    request_bytes,
};

/// Where a waiting request first came from: its quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Origin {
    Client,
    Forwarded(ReplicaId),
}

/// A request received and not yet executed.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    pub(super) request: Signed<Request>,
    pub(super) received_at: u64,
    origin: Origin,
    /// This replica received it straight from the client, so it answers the client if it
    /// drops the request unexecuted.
    from_client: bool,
    /// When this replica last forwarded it to the primary, and how often it has.
    forwarded_at: u64,
    forwards: u32,
}

/// The requests a replica knows of and has not executed.
#[derive(Clone, Debug, Default)]
pub(super) struct Requests {
    waiting: BTreeMap<RequestKey, Waiting>,
    /// Waiting requests not assigned to a pre-prepare of the current view, oldest first.
    unassigned: BTreeSet<(u64, RequestKey)>,
    /// Every waiting request, oldest first.
    by_arrival: BTreeSet<(u64, RequestKey)>,
    quota_used: BTreeMap<(ClientId, Origin), u64>,
    /// Bytes of the waiting requests each client sent straight to this replica.
    bytes_used: BTreeMap<ClientId, usize>,
    /// Requests in a pre-prepare of the current view above the last executed number.
    assigned: BTreeSet<RequestKey>,
    /// The primary's proposal order (arrival order); entries executed or assigned since
    /// are skipped when a batch is cut.
    pub(super) queue: VecDeque<RequestKey>,
}

impl Requests {
    pub(super) fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    pub(super) fn assigned_count(&self) -> usize {
        self.assigned.len()
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &RequestKey> {
        self.waiting.keys()
    }

    pub(super) fn get(&self, key: &RequestKey) -> Option<&Waiting> {
        self.waiting.get(key)
    }

    /// Whether the request waits and no pre-prepare of the current view holds it.
    pub(super) fn is_fresh(&self, key: &RequestKey) -> bool {
        self.waiting.contains_key(key) && !self.assigned.contains(key)
    }

    /// The oldest waiting request.
    pub(super) fn oldest(&self) -> Option<RequestKey> {
        self.by_arrival.first().map(|(_, key)| *key)
    }

    /// Whether the unassigned requests are worth a batch of their own while others are in
    /// flight: `count_min` of them, or enough bytes to fill a batch (a few of the largest
    /// operations fill one, and waiting for more would leave the pipeline one batch
    /// deep). Looks at no more than `count_min` requests.
    pub(super) fn worth_a_batch(&self, count_min: usize, bytes_max: usize) -> bool {
        let mut bytes = 0;
        for (count, (_, key)) in self.unassigned.iter().enumerate() {
            if count + 1 >= count_min {
                return true;
            }
            bytes += self
                .waiting
                .get(key)
                .map_or(0, |w| request_bytes(&w.request));
            if bytes >= bytes_max {
                return true;
            }
        }
        false
    }

    /// The oldest waiting request that no pre-prepare of the current view holds.
    pub(super) fn oldest_unassigned(&self) -> Option<RequestKey> {
        self.unassigned.first().map(|(_, key)| *key)
    }

    /// The quota counts, for the invariants: per client and origin, never above the window.
    pub(super) fn quota_counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.quota_used.values().copied()
    }

    /// The bytes of the waiting requests `client` sent straight to this replica.
    pub(super) fn client_bytes(&self, client: ClientId) -> usize {
        self.bytes_used.get(&client).copied().unwrap_or(0)
    }

    fn insert(&mut self, key: RequestKey, waiting: Waiting) {
        *self
            .quota_used
            .entry((key.client, waiting.origin))
            .or_default() += 1;
        if waiting.origin == Origin::Client {
            *self.bytes_used.entry(key.client).or_default() += request_bytes(&waiting.request);
        }
        self.by_arrival.insert((waiting.received_at, key));
        self.unassigned.insert((waiting.received_at, key));
        self.waiting.insert(key, waiting);
    }

    /// Forgets a request (executed, or dropped); returns it if it was waiting.
    pub(super) fn remove(&mut self, key: RequestKey) -> Option<Waiting> {
        let waiting = self.waiting.remove(&key)?;
        let quota = (key.client, waiting.origin);
        if let Some(count) = self.quota_used.get_mut(&quota) {
            *count -= 1;
            if *count == 0 {
                self.quota_used.remove(&quota);
            }
        }
        if waiting.origin == Origin::Client
            && let Some(bytes) = self.bytes_used.get_mut(&key.client)
        {
            *bytes -= request_bytes(&waiting.request);
            if *bytes == 0 {
                self.bytes_used.remove(&key.client);
            }
        }
        self.by_arrival.remove(&(waiting.received_at, key));
        self.unassigned.remove(&(waiting.received_at, key));
        self.assigned.remove(&key);
        Some(waiting)
    }

    pub(super) fn mark_assigned(&mut self, keys: impl Iterator<Item = RequestKey>) {
        for key in keys {
            if let Some(waiting) = self.waiting.get(&key) {
                self.unassigned.remove(&(waiting.received_at, key));
                self.assigned.insert(key);
            }
        }
    }

    /// Forgets which requests were assigned (on entering a new view) and, for a primary,
    /// rebuilds the proposal queue from everything waiting, oldest first.
    pub(super) fn reset_assignments(&mut self, is_primary: bool) {
        self.assigned.clear();
        self.unassigned = self.by_arrival.clone();
        self.queue.clear();
        if is_primary {
            self.queue = self.by_arrival.iter().map(|(_, key)| *key).collect();
        }
    }

    /// The waiting requests of `client`, in number order.
    fn of_client(&self, client: ClientId) -> impl Iterator<Item = RequestKey> + '_ {
        let from = RequestKey { client, number: 0 };
        let to = RequestKey {
            client,
            number: u64::MAX,
        };
        self.waiting.range(from..=to).map(|(key, _)| *key)
    }
}

impl Replica {
    /// A request from its client (`from_client`) or forwarded by the backup `forwarded_by`.
    pub(super) fn on_request(
        &mut self,
        request: Signed<Request>,
        forwarded_by: Option<ReplicaId>,
    ) -> Result<(), Reject> {
        let from_client = forwarded_by.is_none();
        if request.value.read_only {
            return Err(Reject::ReadOnlyRequest);
        }
        if !self.config.clients.admits(&request.value.client.0) {
            // The transport refuses such a client before it can send anything, so this
            // one was relayed by a faulty replica; nobody waits for an answer.
            return Err(Reject::ClientNotAdmitted);
        }
        let key = request.value.key();
        if key.number > REQUEST_NUMBER_MAX {
            self.refuse(from_client, key, Refusal::NumberSpaceExhausted);
            return Err(Reject::RequestNumberExhausted);
        }
        match self.clients.status(key) {
            RequestStatus::Executed(_) => {
                // PBFT §4.1: a retransmission is answered from the reply cache.
                if from_client {
                    self.answer_from_cache(key);
                }
                return Ok(());
            }
            RequestStatus::Forgotten => {
                let floor = self.clients.floor(key.client);
                self.refuse(from_client, key, Refusal::TooOld { floor });
                return Err(Reject::RequestTooOld);
            }
            RequestStatus::New => {}
        }
        let now = self.now;
        let forward = from_client && self.is_normal() && !self.is_primary();
        if let Some(waiting) = self.requests.waiting.get_mut(&key) {
            waiting.from_client |= from_client;
            // A client retransmits when it hears nothing; the primary may have missed it.
            if forward && !self.requests.assigned.contains(&key) {
                waiting.forwarded_at = now;
                waiting.forwards += 1;
                self.relay(self.primary(), Message::Request(request));
            }
            return Err(Reject::Duplicate);
        }
        let origin = forwarded_by.map_or(Origin::Client, Origin::Forwarded);
        let used = self
            .requests
            .quota_used
            .get(&(key.client, origin))
            .copied()
            .unwrap_or(0);
        let window = self.config.client_window;
        let limit = match (origin, self.config.client_requests_in_flight_max) {
            (Origin::Client, Some(max)) => max.min(window),
            _ => window,
        };
        if used >= limit {
            self.refuse(from_client, key, Refusal::OverQuota { limit });
            return Err(Reject::OverQuota);
        }
        if origin == Origin::Client {
            let used_bytes = self.requests.client_bytes(key.client);
            let limit_bytes = self.config.client_bytes_in_flight_max;
            if used_bytes > 0 && used_bytes + request_bytes(&request) > limit_bytes {
                let limit_bytes = limit_bytes as u64;
                self.refuse(from_client, key, Refusal::OverBytesQuota { limit_bytes });
                return Err(Reject::OverBytesQuota);
            }
        }
        self.requests.insert(
            key,
            Waiting {
                request: request.clone(),
                received_at: now,
                origin,
                from_client,
                forwarded_at: now,
                forwards: 0,
            },
        );
        self.request_arrived(key);
        if !self.is_normal() {
            // Entering the next view rebuilds the proposal queue from the waiting requests.
            return Ok(());
        }
        if self.is_primary() {
            self.requests.queue.push_back(key);
            self.propose();
        } else {
            // Clients send every request to every replica, the primary included, so a
            // backup does not forward a request on its first arrival (that would make the
            // primary receive and check each request n times). It forwards a request the
            // primary has not ordered after a status interval
            // (`reforward_waiting_requests`), and at once one its client had to send
            // again (above).
            self.arm_request_timer();
        }
        Ok(())
    }

    /// Answers a retransmitted request from the reply cache (PBFT §4.1).
    fn answer_from_cache(&mut self, key: RequestKey) {
        if let RequestStatus::Executed(cached) = self.clients.status(key) {
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
    }

    /// Tells the client why its request will not run, if it came straight from it (a
    /// forwarded request's client hears from the replicas it sent it to).
    fn refuse(&mut self, from_client: bool, key: RequestKey, refusal: Refusal) {
        if from_client {
            self.emit(Action::Refuse {
                client: key.client,
                number: key.number,
                refusal,
            });
        }
    }

    /// After the reply cache moved on for `clients` (an execution, a state transfer):
    /// drops their waiting requests that can no longer execute, answering their clients
    /// with the cached reply or a refusal. Without this, a request superseded by a higher
    /// number of the same client (the reply cache forgets numbers below the window) would
    /// wait forever and keep the backups' timers running against a correct primary.
    pub(super) fn drop_superseded(&mut self, clients: impl IntoIterator<Item = ClientId>) {
        let clients: BTreeSet<ClientId> = clients.into_iter().collect();
        for client in clients {
            let done: Vec<RequestKey> = self
                .requests
                .of_client(client)
                .filter(|key| self.clients.status(*key) != RequestStatus::New)
                .collect();
            for key in done {
                let Some(waiting) = self.requests.remove(key) else {
                    continue;
                };
                self.request_gone(key);
                if !waiting.from_client {
                    continue;
                }
                match self.clients.status(key) {
                    RequestStatus::Executed(_) => self.answer_from_cache(key),
                    _ => {
                        let floor = self.clients.floor(client);
                        self.refuse(true, key, Refusal::TooOld { floor });
                    }
                }
            }
        }
    }

    /// Drops every waiting request the reply cache says is done (after a state transfer).
    pub(super) fn drop_all_superseded(&mut self) {
        let clients: Vec<ClientId> = self.requests.waiting.keys().map(|key| key.client).collect();
        self.drop_superseded(clients);
    }

    /// A backup forwards the requests that no pre-prepare has picked up for a while again:
    /// the forward, or the primary, may have been lost. Each request is forwarded again
    /// with a growing interval (doubling, up to eight status intervals or half an ordering
    /// timeout, whichever is shorter), and at most
    /// `batch_bytes_max` bytes of them per status interval, oldest first, so large
    /// requests cannot crowd the primary's link with copies of themselves.
    pub(super) fn reforward_waiting_requests(&mut self) {
        if !self.is_normal() || self.is_primary() {
            return;
        }
        let now = self.now;
        let interval = self.config.status_interval_ticks;
        let budget = self.config.batch_bytes_max;
        let primary = self.primary();
        let mut spent = 0;
        let mut relays = Vec::new();
        let keys: Vec<RequestKey> = self
            .requests
            .unassigned
            .iter()
            .map(|(_, key)| *key)
            .collect();
        for key in keys {
            let Some(waiting) = self.requests.waiting.get_mut(&key) else {
                continue;
            };
            // Doubling, but never past half an ordering timeout: the primary must have the
            // request well before a backup suspects it of leaving it unordered.
            let backoff = interval
                .saturating_mul(1 << waiting.forwards.min(3))
                .min((self.config.order_timeout_ticks / 2).max(1));
            if now < waiting.forwarded_at.saturating_add(backoff) {
                continue;
            }
            let bytes = request_bytes(&waiting.request);
            if spent + bytes > budget && spent > 0 {
                break;
            }
            spent += bytes;
            waiting.forwarded_at = now;
            waiting.forwards = waiting.forwards.saturating_add(1);
            relays.push(Message::Request(waiting.request.clone()));
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
        self.monitor.reset(self.now);
        if is_primary {
            return;
        }
        let primary = self.primary();
        let now = self.now;
        let mut relays = Vec::new();
        for (_, key) in &self.requests.unassigned {
            if let Some(waiting) = self.requests.waiting.get_mut(key) {
                waiting.forwarded_at = now;
                waiting.forwards = 1;
                relays.push(Message::Request(waiting.request.clone()));
            }
        }
        for message in relays {
            self.relay(primary, message);
        }
        self.arm_request_timer();
    }
}

/// Which requests of a batch to execute: those new to the reply cache, once each, and not
/// made obsolete by a higher number of the same client earlier in the same batch (which
/// moves the cache's floor past them as it executes). Every replica applies the same rule
/// to the same committed batch, so they execute the same requests.
pub(super) fn executable<'a>(
    requests: &'a [Signed<Request>],
    clients: &ClientTable,
    window: u64,
) -> Vec<&'a Signed<Request>> {
    let mut seen = BTreeSet::new();
    let mut highest: BTreeMap<ClientId, u64> = BTreeMap::new();
    let mut chosen = Vec::with_capacity(requests.len());
    for request in requests {
        let key = request.value.key();
        if key.number > REQUEST_NUMBER_MAX
            || clients.status(key) != RequestStatus::New
            || !seen.insert(key)
        {
            continue;
        }
        if let Some(&above) = highest.get(&key.client)
            && key.number < above.saturating_add(1).saturating_sub(window)
        {
            continue;
        }
        let entry = highest.entry(key.client).or_insert(key.number);
        *entry = (*entry).max(key.number);
        chosen.push(request);
    }
    chosen
}
