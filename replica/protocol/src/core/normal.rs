//! Normal-case operation (PBFT §4.2): PRE-PREPARE, PREPARE, COMMIT, and execution in
//! sequence-number order.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{Digest, Signed};

use super::{Action, Evidence, PersistOp, Reject, Replica, Status, checkpoint_digest};
use crate::message::{
    Batch, Commit, CommitCertificate, Message, Payload, PrePrepare, Prepare, REQUEST_NUMBER_MAX,
    Reply, RequestKey, Seq, View, request_bytes,
};

impl Replica {
    /// Checks that (view, seq) can be agreed on now: the replica is in normal operation in
    /// that view, and seq lies between the watermarks (PBFT §4.2).
    fn check_agreement_slot(&self, view: View, seq: Seq) -> Result<(), Reject> {
        if !self.is_normal() {
            return Err(Reject::NotNormal);
        }
        if view < self.view {
            return Err(Reject::OldView);
        }
        if view > self.view {
            return Err(Reject::FutureView);
        }
        if seq <= self.low_watermark() {
            return Err(Reject::BelowLowWatermark);
        }
        if seq > self.high_watermark() {
            return Err(Reject::AboveHighWatermark);
        }
        Ok(())
    }

    /// PBFT §4.2: a backup accepts a PRE-PREPARE if it is in view v, the signature is the
    /// primary's (checked by the shell), n is between the watermarks, the digest is the
    /// batch's, and it accepted no other digest for (v, n).
    pub(super) fn on_pre_prepare(
        &mut self,
        pre_prepare: Signed<PrePrepare>,
        batch: Arc<Batch>,
    ) -> Result<(), Reject> {
        let PrePrepare { view, seq, digest } = pre_prepare.value;
        self.check_agreement_slot(view, seq)?;
        let bytes: usize = batch.requests.iter().map(request_bytes).sum();
        if batch.len() > self.config.batch_size_max || bytes > self.config.batch_bytes_max {
            return Err(Reject::BatchTooLarge);
        }
        if batch
            .requests
            .iter()
            .any(|r| r.value.number > REQUEST_NUMBER_MAX)
        {
            return Err(Reject::RequestNumberExhausted);
        }
        if batch.digest() != digest {
            return Err(Reject::WrongDigest);
        }
        if batch.requests.iter().any(|r| r.value.read_only) {
            return Err(Reject::ReadOnlyInBatch);
        }
        if batch
            .requests
            .iter()
            .any(|r| !self.config.clients.admits(&r.value.client.0))
        {
            return Err(Reject::ClientNotAdmitted);
        }
        let own = self.is_own(view.primary(self.config.replica_count()));
        let now = self.now;
        let slot = self.log.slot(seq, view, now);
        if let Some(existing) = &slot.round.pre_prepare {
            if existing.value.digest == digest {
                return Err(Reject::Duplicate);
            }
            let evidence = Evidence::PrePrepare {
                first: existing.clone(),
                second: pre_prepare,
            };
            self.record_evidence(evidence);
            return Err(Reject::ConflictingPrePrepare);
        }
        slot.round.pre_prepare = Some(pre_prepare.clone());
        slot.round.batch = Some(batch.clone());
        slot.touched_at = now;
        self.missing_batches.filled(seq);
        if seq > self.last_executed {
            self.requests
                .mark_assigned(batch.requests.iter().map(|r| r.value.key()));
        }
        if !own {
            self.persist(PersistOp::Message(Message::PrePrepare {
                pre_prepare,
                batch,
            }));
        }
        self.advance(seq);
        Ok(())
    }

    /// PBFT §4.2: a PREPARE is accepted from a backup of the current view for a slot
    /// between the watermarks; it counts towards prepared once it matches the pre-prepare.
    pub(super) fn on_prepare(&mut self, prepare: Signed<Prepare>) -> Result<(), Reject> {
        let Prepare {
            view,
            seq,
            digest,
            replica,
        } = prepare.value;
        self.check_agreement_slot(view, seq)?;
        if replica == view.primary(self.config.replica_count()) {
            return Err(Reject::PrepareFromPrimary);
        }
        let now = self.now;
        let slot = self.log.slot(seq, view, now);
        if let Some(existing) = slot.round.prepares.get(&replica) {
            if existing.value.digest == digest {
                return Err(Reject::Duplicate);
            }
            let evidence = Evidence::Prepare {
                first: existing.clone(),
                second: prepare,
            };
            self.record_evidence(evidence);
            return Err(Reject::ConflictingMessage);
        }
        // A peer's PREPARE is not persisted on its own: nothing this replica sends depends
        // on it until the slot is prepared, and then the `Prepared` record keeps the whole
        // certificate. One lost with a crash is a lost message, which STATUS-driven
        // retransmission recovers. Not writing it saves a write batch for most inputs.
        slot.round.prepares.insert(replica, prepare);
        self.advance(seq);
        Ok(())
    }

    /// PBFT §4.2: a COMMIT is accepted from any replica of the current view for a slot
    /// between the watermarks.
    pub(super) fn on_commit(&mut self, commit: Signed<Commit>) -> Result<(), Reject> {
        let Commit {
            view,
            seq,
            digest,
            replica,
        } = commit.value;
        self.check_agreement_slot(view, seq)?;
        let now = self.now;
        let slot = self.log.slot(seq, view, now);
        if let Some(existing) = slot.round.commits.get(&replica) {
            if existing.value.digest == digest {
                return Err(Reject::Duplicate);
            }
            let evidence = Evidence::Commit {
                first: existing.clone(),
                second: commit,
            };
            self.record_evidence(evidence);
            return Err(Reject::ConflictingMessage);
        }
        // Like a PREPARE (see `on_prepare`): the `Decided` record keeps the quorum once
        // the slot commits.
        slot.round.commits.insert(replica, commit);
        self.advance(seq);
        Ok(())
    }

    /// A commit certificate relayed by a peer: a quorum of matching COMMITs proves the
    /// batch committed at its sequence number in whatever view they are from, so it is
    /// accepted in any view, even during a view change.
    pub(super) fn on_commit_certificate(
        &mut self,
        certificate: CommitCertificate,
    ) -> Result<(), Reject> {
        let (_, seq, _) = self.check_commit_certificate(&certificate)?;
        if seq <= self.low_watermark() {
            return Err(Reject::BelowLowWatermark);
        }
        if seq > self.high_watermark() {
            return Err(Reject::AboveHighWatermark);
        }
        let (view, now) = (self.view, self.now);
        let slot = self.log.slot(seq, view, now);
        if let Some(existing) = &slot.decided {
            if existing.batch.digest() != certificate.batch.digest() {
                // Two quorums committed different batches: more than f replicas are faulty.
                tracing::error!(replica = %self.id, %seq, "conflicting commit certificates");
            }
            return Err(Reject::Duplicate);
        }
        slot.decided = Some(certificate.clone());
        slot.touched_at = now;
        self.persist(PersistOp::Decided(certificate));
        self.execute_next();
        Ok(())
    }

    /// Checks a commit certificate: a quorum of COMMITs from distinct replicas for one
    /// (view, seq, digest), and the batch with that digest. Returns the subject.
    pub(super) fn check_commit_certificate(
        &self,
        certificate: &CommitCertificate,
    ) -> Result<(View, Seq, Digest), Reject> {
        let subject = certificate
            .subject()
            .ok_or(Reject::InvalidCommitCertificate)?;
        let quorums = self.quorums();
        quorums
            .check_certificate(&certificate.commits, &subject, quorums.quorum())
            .map_err(|_| Reject::InvalidCommitCertificate)?;
        if certificate.batch.digest() != subject.2 {
            return Err(Reject::WrongDigest);
        }
        Ok(subject)
    }

    pub(super) fn record_evidence(&mut self, evidence: Evidence) {
        let culprit = evidence.culprit(self.config.replica_count());
        tracing::warn!(replica = %self.id, %culprit, ?evidence, "evidence of a faulty replica");
        if self.evidence.add(culprit, evidence.clone()) {
            self.persist(PersistOp::Evidence(evidence));
        }
    }

    /// Takes every step the slot's state now allows: PREPARE once pre-prepared (backups),
    /// COMMIT once prepared, execution once committed-local (PBFT §4.2).
    pub(super) fn advance(&mut self, seq: Seq) {
        if !self.is_normal() {
            return;
        }
        let primary = self.primary();
        let quorums = self.quorums();
        let (id, view, now) = (self.id, self.view, self.now);
        let Some(slot) = self.log.get_mut(seq) else {
            return;
        };
        let Some(digest) = slot.round.digest() else {
            return;
        };
        debug_assert_eq!(slot.view, view);
        let mut sends = Vec::new();
        let mut persists = Vec::new();
        if id != primary && !slot.round.prepare_sent {
            slot.round.prepare_sent = true;
            sends.push(Payload::Prepare(Prepare {
                view,
                seq,
                digest,
                replica: id,
            }));
        }
        if !slot.prepared_in_view()
            && let Some(certificate) = slot.round.prepared_certificate(primary, quorums)
        {
            let batch = slot.round.batch.clone().unwrap_or_else(Batch::null);
            slot.prepared = Some((certificate.clone(), batch.clone()));
            slot.touched_at = now;
            persists.push(PersistOp::Prepared { certificate, batch });
        }
        if slot.prepared_in_view() && !slot.round.commit_sent {
            slot.round.commit_sent = true;
            sends.push(Payload::Commit(Commit {
                view,
                seq,
                digest,
                replica: id,
            }));
        }
        if slot.decided.is_none()
            && let Some(certificate) = slot.round.commit_certificate(primary, quorums)
        {
            slot.decided = Some(certificate.clone());
            slot.touched_at = now;
            persists.push(PersistOp::Decided(certificate));
        }
        for op in persists {
            self.persist(op);
        }
        for payload in sends {
            self.broadcast(payload);
        }
        // Committed, or (with tentative execution) prepared: either may let it run.
        if seq == self.last_executed.next() {
            self.execute_next();
        }
    }

    /// Hands the next batch to the shell, if execution is not busy or suspended by a state
    /// transfer: the next committed one, or, with tentative execution, the next one that
    /// has prepared in this view once everything before it has committed (PBFT §5.1.2).
    /// Requests already executed (by number, per client) are left out, which makes
    /// execution exactly-once (PBFT §4.1).
    pub(super) fn execute_next(&mut self) {
        let suspended = matches!(self.status(), Status::Transferring | Status::Recovering);
        if self.executing.is_some() || suspended {
            return;
        }
        let seq = self.last_executed.next();
        let Some(slot) = self.log.get(seq) else {
            return;
        };
        if let Some(certificate) = &slot.decided {
            let batch = certificate.batch.clone();
            match self.tentative.take() {
                Some(tentative) if tentative.digest == batch.digest() => {
                    self.commit_tentative(tentative)
                }
                Some(tentative) => {
                    tracing::warn!(
                        replica = %self.id, %seq, "a batch executed tentatively committed \
                         with another digest; rolling back to durable state"
                    );
                    debug_assert_eq!(tentative.seq, seq);
                    self.status = Status::Recovering;
                    self.emit(Action::Rollback);
                }
                None => self.hand_out(seq, &batch, false),
            }
            return;
        }
        let may_run_ahead = self.config.tentative_execution
            && self.tentative.is_none()
            && self.is_normal()
            && slot.prepared_in_view()
            && !seq.0.is_multiple_of(self.config.checkpoint_interval);
        if may_run_ahead && let Some(batch) = slot.round.batch.clone() {
            self.hand_out(seq, &batch, true);
        }
    }

    /// Emits the execution of `batch` at `seq`, leaving out requests already executed
    /// (see [`super::requests::executable`]).
    fn hand_out(&mut self, seq: Seq, batch: &Arc<Batch>, tentative: bool) {
        let requests: Vec<_> =
            super::requests::executable(&batch.requests, &self.clients, self.config.client_window)
                .into_iter()
                .cloned()
                .collect();
        let keys: Vec<RequestKey> = requests.iter().map(|r| r.value.key()).collect();
        let digest = batch.digest();
        if tentative {
            self.tentative = Some(Tentative {
                seq,
                view: self.view,
                digest,
                results: None,
            });
        }
        self.executing = Some(keys);
        let checkpoint = seq.0.is_multiple_of(self.config.checkpoint_interval);
        self.emit(Action::Execute(super::Execution {
            seq,
            view: self.view,
            digest,
            requests,
            checkpoint,
            tentative,
        }));
    }

    /// The shell executed the batch at `seq`: for a committed batch, cache and send the
    /// replies, take the checkpoint if one is due (PBFT §4.3), and go on with the next
    /// batch; for a tentative one, send tentative replies and wait for it to commit.
    pub(super) fn on_executed(
        &mut self,
        seq: Seq,
        results: Vec<Bytes>,
        app_digest: Option<Digest>,
    ) -> Result<(), Reject> {
        if self.transfer.is_some() || seq != self.last_executed.next() {
            return Err(Reject::UnexpectedExecution);
        }
        let Some(keys) = self.executing.as_ref() else {
            return Err(Reject::UnexpectedExecution);
        };
        let checkpoint = seq.0.is_multiple_of(self.config.checkpoint_interval);
        if keys.len() != results.len() || (checkpoint && app_digest.is_none()) {
            return Err(Reject::MalformedExecution);
        }
        let keys = self.executing.take().unwrap_or_default();
        let executed: Vec<(RequestKey, Bytes)> = keys.into_iter().zip(results).collect();
        if let Some(view) = self.tentative.as_ref().map(|t| t.view) {
            let replies: Vec<Action> = executed
                .iter()
                .map(|(key, result)| {
                    Action::Reply(self.reply(view, seq, *key, result.clone(), true))
                })
                .collect();
            self.out.extend(replies);
            if let Some(tentative) = self.tentative.as_mut() {
                debug_assert!(tentative.results.is_none() && tentative.seq == seq);
                tentative.results = Some(executed);
            }
            // The batch may have committed while it ran.
            self.execute_next();
            return Ok(());
        }
        let executed_any = !executed.is_empty();
        let replies = self.record_results(seq, executed);
        self.out.extend(replies.into_iter().map(Action::Reply));
        self.finish_execution(seq, executed_any, app_digest);
        Ok(())
    }

    /// Caches the results of the committed batch at `seq` (exactly-once, PBFT §4.1) and
    /// returns the replies to send. Requests of the same clients that can no longer
    /// execute (the cache's floor moved past them) stop waiting and are answered.
    fn record_results(&mut self, seq: Seq, executed: Vec<(RequestKey, Bytes)>) -> Vec<Reply> {
        let mut replies = Vec::with_capacity(executed.len());
        let mut clients = BTreeSet::new();
        for (key, result) in executed {
            self.clients
                .record(key, seq, result.clone(), self.config.client_window);
            self.requests.remove(key);
            self.request_gone(key);
            clients.insert(key.client);
            replies.push(self.reply(self.view, seq, key, result, false));
        }
        if let Some(slot) = self.log.get(seq)
            && let Some(certificate) = &slot.decided
        {
            // Requests left out of the batch's execution may be waiting too.
            clients.extend(certificate.batch.requests.iter().map(|r| r.value.client));
        }
        self.drop_superseded(clients);
        replies
    }

    /// The batch executed tentatively at `last_executed + 1` committed with the digest it
    /// ran with: its results become the committed ones.
    fn commit_tentative(&mut self, mut tentative: Tentative) {
        let Some(executed) = tentative.results.take() else {
            // Still running: execution stays busy until the results are reported, so this
            // is not reached (see `check_invariants`); were it, the commit would wait.
            self.tentative = Some(tentative);
            return;
        };
        let Tentative { seq, digest, .. } = tentative;
        let executed_any = !executed.is_empty();
        let replies = self.record_results(seq, executed);
        self.emit(Action::Committed {
            seq,
            digest,
            replies,
        });
        self.finish_execution(seq, executed_any, None);
    }

    /// What follows the execution of the committed batch at `seq`.
    fn finish_execution(&mut self, seq: Seq, executed_any: bool, app_digest: Option<Digest>) {
        self.last_executed = seq;
        if executed_any && self.is_normal() {
            // PBFT §4.5.2: progress in the new view ends the run of view changes.
            self.view_changes_in_a_row = 0;
            self.monitor.note_progress();
        }
        // At a checkpoint the digest is there: `on_executed` refuses a report without it,
        // and no tentative execution runs at a checkpoint (see `check_invariants`).
        if seq.0.is_multiple_of(self.config.checkpoint_interval)
            && let Some(app_digest) = app_digest
        {
            let state_digest = checkpoint_digest(seq, app_digest, &self.clients);
            self.take_checkpoint(seq, state_digest);
        }
        self.execute_next();
        self.propose();
    }

    fn reply(
        &self,
        view: View,
        seq: Seq,
        key: RequestKey,
        result: Bytes,
        tentative: bool,
    ) -> Reply {
        Reply {
            view,
            seq,
            client: key.client,
            number: key.number,
            replica: self.id,
            result,
            tentative,
        }
    }
}

/// A batch executed before it committed (PBFT §5.1.2). Only the batch right after the last
/// committed one runs ahead, so undoing it means going back to committed state.
#[derive(Clone, Debug)]
pub(super) struct Tentative {
    pub(super) seq: Seq,
    /// The view it prepared in: clients match tentative replies on it.
    view: View,
    pub(super) digest: Digest,
    /// The executed requests and their results, once the shell reports them.
    results: Option<Vec<(RequestKey, Bytes)>>,
}

impl Tentative {
    pub(super) fn has_results(&self) -> bool {
        self.results.is_some()
    }
}
