//! Read-only requests (PBFT §5.1.3): answered from the replica's state without ordering,
//! and linearizable with every write.
//!
//! A client accepts a read's result on 2f + 1 matching answers, but a write completes on
//! f + 1 committed replies (§4.1), or 2f + 1 tentative ones (§5.1.2). Answering a read from
//! whatever state a replica has is therefore not enough: a read issued after a write
//! completed could gather 2f + 1 answers from replicas that have not executed the write
//! yet (some correct ones lagging, and up to f faulty ones answering from old state).
//!
//! The rule that closes the gap: **a replica answers a read only once it has executed
//! every sequence number it had prepared or seen decided when the read arrived**, and
//! never while a tentative execution is pending. Why it suffices: a write that completed
//! committed at its sequence number s, so 2f + 1 replicas sent COMMIT for s, each after
//! preparing it, before the client saw the write complete, hence before the read was
//! issued. Any 2f + 1 replicas answering the read share at least f + 1 with those, at
//! least one of them correct; that one had prepared s when the read arrived, so its answer
//! reflects s and everything before it. All 2f + 1 answers match, so the accepted result
//! is that correct replica's, taken from committed state after the read was issued: the
//! read linearizes after every write that completed before it. A read that cannot gather
//! 2f + 1 matching answers in time is ordered instead by the client (§5.1.3).
//!
//! Reads wait in a bounded queue: at most `client_window` per client and
//! [`DEFERRED_READS_MAX`] in all. A read that finds the queue full is refused at once
//! ([`Refusal::OverQuota`]), which the client counts as an answer that does not match, so
//! it orders the read instead of waiting.

use std::collections::{BTreeMap, VecDeque};

use rampart_crypto::Signed;

use super::{Action, Reject, Replica, Status};
use crate::message::{ClientId, Refusal, Request, Seq};

/// How many read-only requests may wait for execution to catch up, in all.
pub const DEFERRED_READS_MAX: usize = 4_096;

/// A read waiting for execution to reach `barrier`.
#[derive(Clone, Debug)]
struct DeferredRead {
    request: Signed<Request>,
    barrier: Seq,
}

/// The reads waiting to be answered, in arrival order.
#[derive(Clone, Debug, Default)]
pub(super) struct Reads {
    waiting: VecDeque<DeferredRead>,
    per_client: BTreeMap<ClientId, u64>,
}

impl Reads {
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    fn push(&mut self, read: DeferredRead) {
        *self
            .per_client
            .entry(read.request.value.client)
            .or_default() += 1;
        self.waiting.push_back(read);
    }

    fn forget(&mut self, client: ClientId) {
        if let Some(count) = self.per_client.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                self.per_client.remove(&client);
            }
        }
    }
}

impl Replica {
    /// The sequence number a read arriving now must wait for: the highest one this replica
    /// has prepared (in any view) or seen decided.
    fn read_barrier(&self) -> Seq {
        self.log
            .slots()
            .rev()
            .find(|slot| slot.prepared.is_some() || slot.decided.is_some())
            .map_or(self.last_executed, |slot| slot.seq)
    }

    /// Whether the application's state may answer a read that must wait for `barrier`:
    /// it holds every committed batch up to it and nothing else. Not while a state
    /// transfer replaces it, nor while a batch runs or ran ahead of its commit, nor once a
    /// rolled-back execution waits to be undone (the state still holds it then).
    fn may_answer(&self, barrier: Seq) -> bool {
        matches!(self.status(), Status::Normal | Status::ViewChange)
            && self.tentative.is_none()
            && self.executing.is_none()
            && self.last_executed >= barrier
    }

    /// A read-only request from its client.
    pub(super) fn on_read_only(&mut self, request: Signed<Request>) -> Result<(), Reject> {
        let barrier = self.read_barrier();
        if self.reads.waiting.is_empty() && self.may_answer(barrier) {
            self.answer_read(request);
            return Ok(());
        }
        let client = request.value.client;
        let queued = self.reads.per_client.get(&client).copied().unwrap_or(0);
        let limit = self.config.client_window;
        if queued >= limit || self.reads.len() >= DEFERRED_READS_MAX {
            self.emit(Action::Refuse {
                client,
                number: request.value.number,
                refusal: Refusal::OverQuota { limit },
            });
            return Err(Reject::OverQuota);
        }
        self.reads.push(DeferredRead { request, barrier });
        Ok(())
    }

    /// Answers the waiting reads that execution has caught up with, in arrival order.
    pub(super) fn answer_waiting_reads(&mut self) {
        while let Some(first) = self.reads.waiting.front() {
            if !self.may_answer(first.barrier) {
                return;
            }
            if let Some(read) = self.reads.waiting.pop_front() {
                self.reads.forget(read.request.value.client);
                self.answer_read(read.request);
            }
        }
    }

    fn answer_read(&mut self, request: Signed<Request>) {
        self.emit(Action::Query {
            request,
            view: self.view,
            seq: self.last_executed,
        });
    }
}
