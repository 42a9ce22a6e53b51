//! Batches known only by their digest (PBFT §4.4, as in the paper's VIEW-CHANGE, which
//! carries digests).
//!
//! A VIEW-CHANGE or NEW-VIEW carries the batches its certificates name only while they fit
//! in a frame: with large operations, a window of prepared batches would not (with the
//! default limits, 256 batches of up to 4 MiB each). The rest stay behind, named by the
//! digests the certificates sign. A replica entering a view whose O holds a digest it has
//! no batch for keeps that PRE-PREPARE aside and asks its peers for the batch, one at a
//! time and again every status interval, starting with the replicas whose VIEW-CHANGEs
//! said they had prepared it. A batch is self-certifying: whatever its sender, it is
//! accepted only if it hashes to a digest waited for, so nothing else is kept. At least
//! f + 1 correct replicas hold every batch of O (a prepared certificate needs a quorum),
//! so the fetch ends.
//!
//! Answering: a replica answers a request for a batch from its log, at most
//! `in_flight_max` a status interval per peer, so a faulty peer cannot make it send without
//! bound.

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_crypto::{Digest, Signed};

use super::{Action, Reject, Replica};
use crate::message::{Batch, PrePrepare, ReplicaId};

/// A batch waited for.
#[derive(Clone, Debug)]
struct Missing {
    /// The PRE-PREPAREs of the current view that name it.
    pre_prepares: Vec<Signed<PrePrepare>>,
    /// Who to ask, in order; asked round-robin.
    sources: Vec<ReplicaId>,
    asked_at: Option<u64>,
    asks: usize,
}

#[derive(Clone, Debug, Default)]
pub(super) struct MissingBatches {
    waiting: BTreeMap<Digest, Missing>,
    /// Batch requests answered per peer in the current status interval.
    answered: BTreeMap<ReplicaId, (u64, u64)>,
}

impl MissingBatches {
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// The sequence numbers waiting for a batch.
    pub(super) fn seqs(&self) -> impl Iterator<Item = crate::message::Seq> + '_ {
        self.waiting
            .values()
            .flat_map(|missing| missing.pre_prepares.iter().map(|p| p.value.seq))
    }

    /// The slot at `seq` got its PRE-PREPARE with the batch some other way (relayed by a
    /// peer): it no longer waits.
    pub(super) fn filled(&mut self, seq: crate::message::Seq) {
        for missing in self.waiting.values_mut() {
            missing.pre_prepares.retain(|p| p.value.seq != seq);
        }
        self.waiting
            .retain(|_, missing| !missing.pre_prepares.is_empty());
    }

    /// Forgets everything waited for (on leaving the view).
    pub(super) fn clear(&mut self) {
        self.waiting.clear();
    }
}

impl Replica {
    /// Keeps a PRE-PREPARE of the current view whose batch is unknown, and asks for it.
    pub(super) fn await_batch(&mut self, pre_prepare: Signed<PrePrepare>, sources: Vec<ReplicaId>) {
        let digest = pre_prepare.value.digest;
        let own = self.id;
        let all_others: Vec<ReplicaId> = self
            .config
            .cluster
            .replica_ids()
            .filter(|&r| r != own)
            .collect();
        let missing = self
            .missing_batches
            .waiting
            .entry(digest)
            .or_insert_with(|| Missing {
                pre_prepares: Vec::new(),
                sources: Vec::new(),
                asked_at: None,
                asks: 0,
            });
        if missing
            .pre_prepares
            .iter()
            .all(|p| p.value.seq != pre_prepare.value.seq)
        {
            missing.pre_prepares.push(pre_prepare);
        }
        // The replicas that said they prepared it first, then every other one.
        for source in sources.into_iter().chain(all_others) {
            if source != own && !missing.sources.contains(&source) {
                missing.sources.push(source);
            }
        }
        self.ask_for_batches();
    }

    /// Asks for every missing batch not asked for within a status interval, each of the
    /// next source in turn.
    pub(super) fn ask_for_batches(&mut self) {
        let now = self.now;
        let interval = self.config.status_interval_ticks;
        let mut asks = Vec::new();
        for (digest, missing) in &mut self.missing_batches.waiting {
            if missing.asked_at.is_some_and(|at| now < at + interval) || missing.sources.is_empty()
            {
                continue;
            }
            let source = missing.sources[missing.asks % missing.sources.len()];
            missing.asks += 1;
            missing.asked_at = Some(now);
            asks.push(Action::FetchBatch {
                digest: *digest,
                from: source,
            });
        }
        for ask in asks {
            tracing::debug!(replica = %self.id, ?ask, "asking for a batch known only by digest");
            self.emit(ask);
        }
    }

    /// A batch a peer sent in answer: it takes its place in every slot waiting for its
    /// digest, and agreement goes on.
    pub(super) fn on_batch_fetched(&mut self, batch: Arc<Batch>) -> Result<(), Reject> {
        let Some(missing) = self.missing_batches.waiting.remove(&batch.digest()) else {
            return Err(Reject::UnexpectedBatch);
        };
        let now = self.now;
        let mut seqs = Vec::new();
        for pre_prepare in missing.pre_prepares {
            let seq = pre_prepare.value.seq;
            if pre_prepare.value.view != self.view || seq <= self.low_watermark() {
                continue;
            }
            let slot = self.log.slot(seq, self.view, now);
            if slot.round.pre_prepare.is_none() {
                slot.round.pre_prepare = Some(pre_prepare);
                slot.round.batch = Some(batch.clone());
                slot.touched_at = now;
                seqs.push(seq);
            }
        }
        if seqs.iter().any(|&seq| seq > self.last_executed) {
            self.requests
                .mark_assigned(batch.requests.iter().map(|r| r.value.key()));
        }
        for seq in seqs {
            self.advance(seq);
        }
        Ok(())
    }

    /// A peer asks for a batch by digest: answered from the log, within the peer's share.
    pub(super) fn on_batch_requested(
        &mut self,
        from: ReplicaId,
        digest: Digest,
    ) -> Result<(), Reject> {
        let interval_start = self.now - self.now % self.config.status_interval_ticks.max(1);
        let (start, count) = self
            .missing_batches
            .answered
            .entry(from)
            .or_insert((interval_start, 0));
        if *start != interval_start {
            *start = interval_start;
            *count = 0;
        }
        if *count >= self.config.in_flight_max {
            return Err(Reject::TooManyBatchRequests);
        }
        *count += 1;
        let batch = self.log.find_batch(digest).ok_or(Reject::UnknownBatch)?;
        self.emit(Action::SendBatch { to: from, batch });
        Ok(())
    }
}
