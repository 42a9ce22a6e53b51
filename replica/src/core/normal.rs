//! Normal-case operation (PBFT §4.2): PRE-PREPARE, PREPARE, COMMIT, and execution in
//! sequence-number order.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{Digest, Signed};

use super::{Action, Evidence, PersistOp, Reject, Replica, checkpoint_digest};
use crate::message::{
    Batch, Commit, CommitCertificate, Message, Payload, PrePrepare, Prepare, Reply, Seq, View,
};

impl Replica {
    /// Checks that (view, seq) can be agreed on now: the replica is in normal operation in
    /// that view, and seq lies between the watermarks (PBFT §4.2).
    fn check_agreement_slot(&self, view: View, seq: Seq) -> Result<(), Reject> {
        if !self.normal {
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
        if batch.len() > self.config.batch_size_max {
            return Err(Reject::BatchTooLarge);
        }
        if batch.digest() != digest {
            return Err(Reject::WrongDigest);
        }
        if batch.requests.iter().any(|r| r.value.read_only) {
            return Err(Reject::ReadOnlyInBatch);
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
        let mut signers = Vec::new();
        for commit in &certificate.commits {
            let c = &commit.value;
            if (c.view, c.seq, c.digest) != subject || signers.contains(&c.replica) {
                return Err(Reject::InvalidCommitCertificate);
            }
            signers.push(c.replica);
        }
        if signers.len() < self.quorum() {
            return Err(Reject::InvalidCommitCertificate);
        }
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
        if !self.normal {
            return;
        }
        let primary = self.primary();
        let quorum = self.quorum();
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
            && let Some(certificate) = slot.round.prepared_certificate(primary, quorum)
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
        let mut decided = false;
        if slot.decided.is_none()
            && let Some(certificate) = slot.round.commit_certificate(primary, quorum)
        {
            slot.decided = Some(certificate.clone());
            slot.touched_at = now;
            persists.push(PersistOp::Decided(certificate));
            decided = true;
        }
        for op in persists {
            self.persist(op);
        }
        for payload in sends {
            self.broadcast(payload);
        }
        if decided {
            self.execute_next();
        }
    }

    /// Hands the next committed batch to the shell, if execution is not busy or suspended
    /// by a state transfer. Requests already executed (by number, per client) are left
    /// out, which makes execution exactly-once (PBFT §4.1).
    pub(super) fn execute_next(&mut self) {
        if self.executing.is_some() || self.transfer.is_some() {
            return;
        }
        let seq = self.last_executed.next();
        let Some(batch) = self
            .log
            .get(seq)
            .and_then(|slot| slot.decided.as_ref())
            .map(|certificate| certificate.batch.clone())
        else {
            return;
        };
        let mut seen = BTreeSet::new();
        let requests: Vec<_> = batch
            .requests
            .iter()
            .filter(|r| !self.clients.is_executed(r.value.key()) && seen.insert(r.value.key()))
            .cloned()
            .collect();
        self.executing = Some(requests.iter().map(|r| r.value.key()).collect());
        let checkpoint = seq.0.is_multiple_of(self.config.checkpoint_interval);
        self.emit(Action::Execute(super::Execution {
            seq,
            view: self.view,
            digest: batch.digest(),
            requests,
            checkpoint,
        }));
    }

    /// The shell executed the batch at `seq`: cache and send the replies, take the
    /// checkpoint if one is due (PBFT §4.3), and go on with the next batch.
    pub(super) fn on_executed(
        &mut self,
        seq: Seq,
        results: Vec<Bytes>,
        app_digest: Option<Digest>,
    ) -> Result<(), Reject> {
        if self.transfer.is_some() || seq != self.last_executed.next() {
            return Err(Reject::UnexpectedExecution);
        }
        let Some(keys) = self.executing.take() else {
            return Err(Reject::UnexpectedExecution);
        };
        assert_eq!(
            keys.len(),
            results.len(),
            "the shell must return one result per executed request"
        );
        let executed_any = !keys.is_empty();
        for (key, result) in keys.into_iter().zip(results) {
            self.clients
                .record(key, seq, result.clone(), self.config.client_window);
            self.requests.executed(key);
            self.emit(Action::Reply(Reply {
                view: self.view,
                seq,
                client: key.client,
                number: key.number,
                replica: self.id,
                result,
            }));
        }
        self.last_executed = seq;
        if executed_any && self.normal {
            // PBFT §4.5.2: progress in the new view ends the run of view changes.
            self.view_changes_in_a_row = 0;
        }
        self.restart_request_timer();
        if seq.0.is_multiple_of(self.config.checkpoint_interval) {
            let app_digest =
                app_digest.expect("the shell must report a snapshot digest at a checkpoint");
            let state_digest = checkpoint_digest(seq, app_digest, &self.clients);
            self.take_checkpoint(seq, state_digest);
        }
        self.execute_next();
        self.propose();
        Ok(())
    }
}
