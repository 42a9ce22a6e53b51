//! View changes (PBFT §4.4, §4.5.2): VIEW-CHANGE with the stable checkpoint and prepared
//! certificates, NEW-VIEW with the view changes and the recomputed pre-prepares, backups
//! that recompute and check it, joining a higher view on f + 1 VIEW-CHANGEs, and timeouts
//! that double for each view change in a row.

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_crypto::{Digest, Signed};

use super::view_change_cause::{ViewChangeCause, ViewChangeCounts};
use super::{Evidence, MessageKey, PersistOp, Reject, Replica, Status};
use crate::message::batch_bytes;
use crate::message::{
    Batch, CheckpointCertificate, Message, NewView, Payload, PrePrepare, PreparedCertificate,
    ReplicaId, Seq, View, ViewChange,
};

/// A VIEW-CHANGE with the batches it carries.
#[derive(Clone, Debug)]
pub(super) struct ReceivedViewChange {
    pub(super) signed: Signed<ViewChange>,
    pub(super) batches: Vec<Arc<Batch>>,
}

/// How many VIEW-CHANGEs (for distinct views) are kept per replica. A replica that moved on
/// alone must still count for the view it left, or the others could wait for a quorum
/// that never comes; the bound keeps a faulty replica from filling memory with views.
pub(super) const VIEW_CHANGES_PER_REPLICA_MAX: usize = 4;

#[derive(Clone, Debug, Default)]
pub(super) struct ViewChanges {
    /// VIEW-CHANGEs for views at or above this replica's current one, per replica and view.
    received: BTreeMap<ReplicaId, BTreeMap<View, ReceivedViewChange>>,
    /// The NEW-VIEW that started the current view, to send to replicas left behind.
    pub(super) new_view: Option<Message>,
    /// PBFT §4.5.2: started when a quorum of VIEW-CHANGEs for the target view is in; if no
    /// NEW-VIEW arrives before it expires, the replica moves on to the next view.
    pub(super) timer_deadline: Option<u64>,
    /// A view change that gathers no quorum for its view (its VIEW-CHANGEs could not be
    /// delivered, or too few replicas joined) would wait forever under PBFT's rule, which
    /// starts the timer only at a quorum; this deadline, three timeouts after the view
    /// change started, moves the replica on to the next view all the same.
    pub(super) stalled_deadline: Option<u64>,
    /// The view this replica, as its primary, already sent a NEW-VIEW for.
    pub(super) new_view_sent: Option<View>,
    /// This replica's own VIEW-CHANGEs for views it left before they started (its timer
    /// ran out, or f + 1 replicas moved further), highest views kept. A peer still waiting
    /// in such a view may lack exactly this message for its quorum: it starts its timer
    /// only at 2f + 1 VIEW-CHANGEs, so without it the peer waits forever. PBFT's liveness
    /// assumes the message is retransmitted until it arrives; STATUS makes that happen
    /// (`status.rs`). Forgotten once a view starts: its NEW-VIEW serves instead.
    pub(super) earlier_own: BTreeMap<View, ReceivedViewChange>,
    /// Why the view change under way started; `None` in a normal view, and after a
    /// restart in the middle of a view change.
    pub(super) cause: Option<ViewChangeCause>,
    /// View changes started and completed.
    pub(super) counts: ViewChangeCounts,
}

impl ViewChanges {
    pub(super) fn message_count(&self) -> usize {
        self.received.values().map(BTreeMap::len).sum::<usize>()
            + self.earlier_own.len()
            + usize::from(self.new_view.is_some())
    }

    pub(super) fn get(&self, replica: ReplicaId, view: View) -> Option<&ReceivedViewChange> {
        self.received.get(&replica)?.get(&view)
    }

    /// Keeps a VIEW-CHANGE, dropping the sender's lowest views beyond the bound; returns
    /// the views dropped.
    pub(super) fn insert(&mut self, view_change: ReceivedViewChange) -> Vec<View> {
        let replica = view_change.signed.value.replica;
        let views = self.received.entry(replica).or_default();
        views.insert(view_change.signed.value.new_view, view_change);
        let mut dropped = Vec::new();
        while views.len() > VIEW_CHANGES_PER_REPLICA_MAX {
            if let Some((view, _)) = views.pop_first() {
                dropped.push(view);
            }
        }
        dropped
    }

    /// Each replica's highest view.
    pub(super) fn highest_views(&self) -> impl Iterator<Item = (ReplicaId, View)> + '_ {
        self.received
            .iter()
            .filter_map(|(&replica, views)| Some((replica, *views.keys().next_back()?)))
    }

    /// The VIEW-CHANGEs for `view`, in replica order.
    pub(super) fn for_view(&self, view: View) -> impl Iterator<Item = &ReceivedViewChange> {
        self.received
            .values()
            .filter_map(move |views| views.get(&view))
    }

    /// Forgets VIEW-CHANGEs for views below `view`, except that `own`'s go to
    /// [`ViewChanges::earlier_own`].
    pub(super) fn retain_from(&mut self, view: View, own: ReplicaId) {
        let mut left = Vec::new();
        for (replica, views) in &mut self.received {
            let kept = views.split_off(&view);
            let below = std::mem::replace(views, kept);
            if *replica == own {
                left.extend(below.into_values());
            }
        }
        self.received.retain(|_, views| !views.is_empty());
        for view_change in left {
            self.keep_earlier_own(view_change);
        }
    }

    /// Keeps one of this replica's own VIEW-CHANGEs for a view it already left.
    pub(super) fn keep_earlier_own(&mut self, view_change: ReceivedViewChange) {
        self.earlier_own
            .insert(view_change.signed.value.new_view, view_change);
        while self.earlier_own.len() > VIEW_CHANGES_PER_REPLICA_MAX {
            self.earlier_own.pop_first();
        }
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &ReceivedViewChange> {
        self.received.values().flat_map(BTreeMap::values)
    }

    pub(super) fn per_replica_max(&self) -> usize {
        self.received.values().map(BTreeMap::len).max().unwrap_or(0)
    }
}

/// The outcome of PBFT's NEW-VIEW computation from a set V of VIEW-CHANGEs: the latest
/// stable checkpoint in V (min-s) and the set O of pre-prepares for the new view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct NewViewPlan {
    pub(super) checkpoint: CheckpointCertificate,
    pub(super) pre_prepares: Vec<PrePrepare>,
}

/// The digest of PBFT's null request: the empty batch.
pub(super) fn null_digest() -> Digest {
    Batch::default().digest()
}

/// PBFT §4.4: min-s is the sequence number of the latest stable checkpoint in V, max-s the
/// highest sequence number in a prepared certificate in V. For each n between them, O
/// holds a pre-prepare for the digest of the prepared certificate with the highest view
/// for n, or for the null request if V has none.
pub(super) fn compute_new_view(view: View, view_changes: &[&ViewChange]) -> NewViewPlan {
    let checkpoint = view_changes
        .iter()
        .map(|vc| &vc.checkpoint)
        .max_by_key(|c| c.seq)
        .cloned()
        .unwrap_or_else(CheckpointCertificate::genesis);
    let min_s = checkpoint.seq;
    let mut best: BTreeMap<Seq, &PreparedCertificate> = BTreeMap::new();
    for certificate in view_changes.iter().flat_map(|vc| &vc.prepared) {
        if certificate.seq() <= min_s {
            continue;
        }
        let better = best
            .get(&certificate.seq())
            .is_none_or(|current| certificate.view() > current.view());
        if better {
            best.insert(certificate.seq(), certificate);
        }
    }
    let max_s = best.keys().next_back().copied().unwrap_or(min_s);
    let pre_prepares = (min_s.0 + 1..=max_s.0)
        .map(|n| PrePrepare {
            view,
            seq: Seq(n),
            digest: best
                .get(&Seq(n))
                .map_or_else(null_digest, |certificate| certificate.digest()),
        })
        .collect();
    NewViewPlan {
        checkpoint,
        pre_prepares,
    }
}

impl Replica {
    /// PBFT §4.4: moves to `view` and multicasts VIEW-CHANGE with the stable checkpoint (C)
    /// and the prepared certificates above it (P). Only CHECKPOINT, VIEW-CHANGE and
    /// NEW-VIEW are accepted until the new view starts.
    pub(super) fn start_view_change(&mut self, view: View, cause: ViewChangeCause) {
        assert!(view > self.view, "views only move forward");
        tracing::info!(
            replica = %self.id, from = %self.view, to = %view, cause = cause.name(),
            "view change started: {cause}"
        );
        self.view_changes.cause = Some(cause);
        self.view_changes.counts.start(cause);
        self.view = view;
        self.status = Status::ViewChange;
        self.monitor.reset(self.now);
        self.missing_batches.clear();
        self.view_changes.timer_deadline = None;
        self.view_changes.stalled_deadline = Some(self.now + 3 * self.view_change_timeout());
        self.view_changes.retain_from(view, self.id);
        self.send_view_change();
        // Others may have reached a quorum for this view before this replica joined.
        self.after_view_change_received();
    }

    /// Persists the view state and multicasts this replica's VIEW-CHANGE for its view.
    pub(super) fn send_view_change(&mut self) {
        let view = self.view;
        let stable = self.low_watermark();
        let (prepared, batches) = self.log.prepared_certificates(stable);
        let batches = self.within_batch_budget(batches);
        let view_change = ViewChange {
            new_view: view,
            replica: self.id,
            checkpoint: self.checkpoints.stable.clone(),
            prepared,
        };
        self.persist(PersistOp::ViewState {
            view,
            normal: false,
        });
        self.broadcast(Payload::ViewChange {
            view_change,
            batches,
        });
    }

    /// Checks a VIEW-CHANGE against PBFT §4.4: a valid checkpoint certificate, and prepared
    /// certificates for distinct sequence numbers within the window above it, each from an
    /// earlier view and with a quorum of matching messages.
    pub(super) fn check_view_change(&self, view_change: &ViewChange) -> Result<(), Reject> {
        self.check_checkpoint_certificate(&view_change.checkpoint)
            .map_err(|_| Reject::InvalidViewChange)?;
        let low = view_change.checkpoint.seq;
        let high = Seq(low.0 + self.config.log_window);
        let mut previous = low;
        for certificate in &view_change.prepared {
            let seq = certificate.seq();
            if seq <= previous || seq > high || certificate.view() >= view_change.new_view {
                return Err(Reject::InvalidPreparedCertificate);
            }
            previous = seq;
            self.check_prepared_certificate(certificate)?;
        }
        Ok(())
    }

    fn check_prepared_certificate(&self, certificate: &PreparedCertificate) -> Result<(), Reject> {
        // The primary's PRE-PREPARE stands for its PREPARE: a PREPARE of its own does not
        // count (PBFT §4.2).
        let primary = certificate.view().primary(self.config.replica_count());
        if certificate
            .prepares
            .iter()
            .any(|prepare| prepare.value.replica == primary)
        {
            return Err(Reject::InvalidPreparedCertificate);
        }
        let quorums = self.quorums();
        let subject = (certificate.view(), certificate.seq(), certificate.digest());
        quorums
            .check_certificate(&certificate.prepares, &subject, quorums.prepares_needed())
            .map_err(|_| Reject::InvalidPreparedCertificate)?;
        Ok(())
    }

    /// The batches this replica has for the non-null digests in `needed`: attached to a
    /// message, or in its log. Those it lacks are fetched when needed (`batch_fetch.rs`).
    fn known_batches(
        &self,
        attached: &[Arc<Batch>],
        needed: impl Iterator<Item = Digest>,
    ) -> BTreeMap<Digest, Arc<Batch>> {
        let attached: BTreeMap<Digest, &Arc<Batch>> =
            attached.iter().map(|b| (b.digest(), b)).collect();
        let null = null_digest();
        needed
            .filter(|&d| d != null)
            .filter_map(|digest| {
                let batch = attached
                    .get(&digest)
                    .map(|b| Arc::clone(b))
                    .or_else(|| self.log.find_batch(digest))?;
                Some((digest, batch))
            })
            .collect()
    }

    /// The batches a VIEW-CHANGE or NEW-VIEW carries: as many as fit in half a frame, in
    /// order. The other half is for the certificates, whose size the configuration bounds
    /// (`Config::validate`); a batch left out is fetched by digest by whoever needs it.
    fn within_batch_budget(&self, batches: Vec<Arc<Batch>>) -> Vec<Arc<Batch>> {
        let budget = self.config.frame_bytes_max / 2;
        let mut spent = 0;
        batches
            .into_iter()
            .filter(|batch| {
                let bytes = batch_bytes(batch);
                let fits = spent + bytes <= budget;
                if fits {
                    spent += bytes;
                }
                fits
            })
            .collect()
    }

    /// A VIEW-CHANGE from a peer (or this replica's own, handed back signed).
    pub(super) fn on_view_change(
        &mut self,
        signed: Signed<ViewChange>,
        batches: Vec<Arc<Batch>>,
    ) -> Result<(), Reject> {
        let view_change = &signed.value;
        let replica = view_change.replica;
        let target = view_change.new_view;
        if target < self.view || (target == self.view && self.is_normal()) {
            // The sender is behind; the NEW-VIEW of this view brings it up to date. This
            // replica's own old VIEW-CHANGE, relayed back to it, asks for nothing.
            if self.is_normal()
                && !self.is_own(replica)
                && let Some(new_view) = self.view_changes.new_view.clone()
            {
                self.relay(replica, new_view);
            }
            return Err(Reject::OldView);
        }
        self.check_view_change(view_change)?;
        if let Some(existing) = self.view_changes.get(replica, target) {
            if existing.signed == signed {
                return Err(Reject::Duplicate);
            }
            let evidence = Evidence::ViewChange {
                first: existing.signed.clone(),
                second: signed,
            };
            self.record_evidence(evidence);
            return Err(Reject::ConflictingMessage);
        }
        let own = self.is_own(replica);
        if !own {
            self.persist(PersistOp::Message(Message::ViewChange {
                view_change: signed.clone(),
                batches: batches.clone(),
            }));
        }
        let dropped = self
            .view_changes
            .insert(ReceivedViewChange { signed, batches });
        if !own {
            // What memory no longer keeps, the disk does not either: a peer gets at most
            // `VIEW_CHANGES_PER_REPLICA_MAX` VIEW-CHANGEs in both, whatever views it names.
            for view in dropped {
                self.persist(PersistOp::ForgetMessage(MessageKey::ViewChange {
                    view,
                    replica,
                }));
            }
        }
        self.after_view_change_received();
        Ok(())
    }

    /// Reacts to the VIEW-CHANGEs held: join a view f + 1 replicas have moved to (PBFT
    /// §4.5.2), start the timer at a quorum for the target view, and, as its primary, send
    /// NEW-VIEW.
    pub(super) fn after_view_change_received(&mut self) {
        let quorums = self.quorums();
        // The highest view that f + 1 replicas have reached: at least one correct replica
        // is there, so a faulty one cannot drag this replica forward alone.
        let reached = quorums
            .highest_reached(self.view_changes.highest_views(), quorums.weak_quorum())
            .filter(|&view| view > self.view);
        if let Some(view) = reached {
            self.start_view_change(view, ViewChangeCause::PeersMovedOn);
            return;
        }
        if !self.is_changing_view() {
            return;
        }
        let voters = self
            .view_changes
            .for_view(self.view)
            .map(|vc| vc.signed.value.replica);
        if quorums.distinct(voters) < quorums.quorum() {
            return;
        }
        if self.view_changes.timer_deadline.is_none() {
            self.view_changes.timer_deadline = Some(self.now + self.view_change_timeout());
        }
        if self.is_primary()
            && self.view_changes.new_view_sent != Some(self.view)
            && self.view_changes.get(self.id, self.view).is_some()
        {
            self.send_new_view();
        }
    }

    /// The new primary builds NEW-VIEW from a quorum of VIEW-CHANGEs, its own first.
    fn send_new_view(&mut self) {
        let view = self.view;
        let quorum = self.quorums().quorum();
        let mut chosen: Vec<&ReceivedViewChange> = Vec::with_capacity(quorum);
        if let Some(own) = self.view_changes.get(self.id, view) {
            chosen.push(own);
        }
        chosen.extend(
            self.view_changes
                .for_view(view)
                .filter(|vc| vc.signed.value.replica != self.id)
                .take(quorum - 1),
        );
        let values: Vec<&ViewChange> = chosen.iter().map(|vc| &vc.signed.value).collect();
        let plan = compute_new_view(view, &values);
        let attached: Vec<Arc<Batch>> = chosen.iter().flat_map(|vc| vc.batches.clone()).collect();
        let found = self.known_batches(&attached, plan.pre_prepares.iter().map(|p| p.digest));
        let batches = self.within_batch_budget(found.into_values().collect());
        let view_changes = chosen.iter().map(|vc| vc.signed.clone()).collect();
        self.view_changes.new_view_sent = Some(view);
        tracing::info!(replica = %self.id, %view, pre_prepares = plan.pre_prepares.len(), "sending NEW-VIEW");
        self.broadcast(Payload::NewView {
            view,
            view_changes,
            pre_prepares: plan.pre_prepares,
            batches,
        });
    }

    /// PBFT §4.4: a backup accepts NEW-VIEW for view v if it is signed by v's primary (the
    /// shell checked), its VIEW-CHANGEs are a valid quorum for v, and O is exactly what the
    /// backup computes from them. Then it enters v.
    pub(super) fn on_new_view(
        &mut self,
        signed: Signed<NewView>,
        batches: Vec<Arc<Batch>>,
    ) -> Result<(), Reject> {
        let new_view = &signed.value;
        let view = new_view.view;
        if view < self.view || (view == self.view && self.is_normal()) {
            return Err(Reject::OldView);
        }
        let quorums = self.quorums();
        quorums
            .check_certificate(&new_view.view_changes, &view, quorums.quorum())
            .map_err(|_| Reject::InvalidNewView)?;
        for view_change in &new_view.view_changes {
            self.check_view_change(&view_change.value)
                .map_err(|_| Reject::InvalidNewView)?;
        }
        let values: Vec<&ViewChange> = new_view.view_changes.iter().map(|vc| &vc.value).collect();
        let plan = compute_new_view(view, &values);
        let received: Vec<&PrePrepare> = new_view.pre_prepares.iter().map(|p| &p.value).collect();
        if received.len() != plan.pre_prepares.len()
            || received
                .iter()
                .zip(&plan.pre_prepares)
                .any(|(a, b)| *a != b)
        {
            return Err(Reject::NewViewMismatch);
        }
        let found = self.known_batches(&batches, plan.pre_prepares.iter().map(|p| p.digest));
        let own = self.is_own(view.primary(self.config.replica_count()));
        self.enter_view(view, (signed, batches), own, plan.checkpoint, &found);
        Ok(())
    }

    /// Enters `view` after a valid NEW-VIEW (with the batches it carried): the log moves to
    /// the new view, the stable checkpoint of V is adopted, the pre-prepares of O are
    /// accepted, and backups prepare them.
    fn enter_view(
        &mut self,
        view: View,
        (signed, attached): (Signed<NewView>, Vec<Arc<Batch>>),
        own: bool,
        checkpoint: CheckpointCertificate,
        batches: &BTreeMap<Digest, Arc<Batch>>,
    ) {
        let cause = self.view_changes.cause.take();
        self.view_changes.counts.completed += 1;
        tracing::info!(
            replica = %self.id, %view,
            cause = cause.map_or("new_view", ViewChangeCause::name),
            "view change completed: entering view {view}{}",
            cause.map_or_else(String::new, |cause| format!(" (started because {cause})"))
        );
        let pre_prepares = signed.value.pre_prepares.clone();
        let new_view = Message::NewView {
            new_view: signed.clone(),
            batches: attached,
        };
        self.view = view;
        self.view_changes.timer_deadline = None;
        self.view_changes.stalled_deadline = None;
        self.view_changes.retain_from(view.next(), self.id);
        self.view_changes.earlier_own.clear();
        self.persist(PersistOp::ViewState { view, normal: true });
        if !own {
            self.persist(PersistOp::Message(new_view.clone()));
        }
        self.persist(PersistOp::PruneViewsBelow { view });
        self.view_changes.new_view = Some(new_view);
        self.log.enter_view(view, self.now);
        // Adopt V's checkpoint while still not normal, so nothing is proposed before O is in.
        self.stabilize(checkpoint);
        self.status = Status::Normal;
        let now = self.now;
        let mut max_seq = self.low_watermark();
        for pre_prepare in pre_prepares {
            let seq = pre_prepare.value.seq;
            max_seq = max_seq.max(seq);
            if seq <= self.low_watermark() {
                continue;
            }
            let digest = pre_prepare.value.digest;
            let batch = if digest == null_digest() {
                Batch::null()
            } else if let Some(batch) = batches.get(&digest) {
                batch.clone()
            } else {
                // Known only by digest: fetched from the replicas that prepared it.
                let sources = signed
                    .value
                    .view_changes
                    .iter()
                    .filter(|vc| vc.value.prepared.iter().any(|c| c.digest() == digest))
                    .map(|vc| vc.value.replica)
                    .collect();
                self.await_batch(pre_prepare, sources);
                continue;
            };
            let slot = self.log.slot(seq, view, now);
            slot.round.pre_prepare = Some(pre_prepare);
            slot.round.batch = Some(batch);
            slot.touched_at = now;
        }
        self.next_seq = max_seq.next();
        self.requests_enter_view();
        for seq in self.log.seqs() {
            self.advance(seq);
        }
        self.execute_next();
        self.propose();
    }

    /// PBFT §4.5.2: if no NEW-VIEW arrives in time after a quorum of VIEW-CHANGEs, move on
    /// to the next view, with twice the timeout.
    pub(super) fn check_view_change_timer(&mut self) {
        if !self.is_changing_view() {
            self.view_changes.timer_deadline = None;
            self.view_changes.stalled_deadline = None;
            return;
        }
        if self.view_changes.stalled_deadline.is_none() {
            // After a restart in the middle of a view change.
            self.view_changes.stalled_deadline = Some(self.now + 3 * self.view_change_timeout());
        }
        let expired = |deadline: Option<u64>| deadline.is_some_and(|at| self.now >= at);
        if expired(self.view_changes.timer_deadline) {
            self.view_changes_in_a_row = self.view_changes_in_a_row.saturating_add(1);
            self.start_view_change(self.view.next(), ViewChangeCause::NewViewTimeout);
        } else if expired(self.view_changes.stalled_deadline) {
            self.view_changes_in_a_row = self.view_changes_in_a_row.saturating_add(1);
            self.start_view_change(self.view.next(), ViewChangeCause::NoQuorum);
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rampart_crypto::{ClusterId, KeyPair, Signed};

    use crate::message::Prepare;

    fn certificate(view: u64, seq: u64, digest: Digest) -> PreparedCertificate {
        let key = KeyPair::from_seed(0);
        let pre_prepare = PrePrepare {
            view: View(view),
            seq: Seq(seq),
            digest,
        };
        let prepare = Prepare {
            view: View(view),
            seq: Seq(seq),
            digest,
            replica: ReplicaId(1),
        };
        PreparedCertificate {
            pre_prepare: Signed::sign(ClusterId(0), pre_prepare, &key).expect("signs"),
            prepares: vec![Signed::sign(ClusterId(0), prepare, &key).expect("signs")],
        }
    }

    fn view_change(
        replica: u32,
        checkpoint_seq: u64,
        prepared: Vec<PreparedCertificate>,
    ) -> ViewChange {
        ViewChange {
            new_view: View(5),
            replica: ReplicaId(replica),
            checkpoint: CheckpointCertificate {
                seq: Seq(checkpoint_seq),
                state_digest: Digest::default(),
                proof: Vec::new(),
            },
            prepared,
        }
    }

    #[test]
    fn o_takes_the_highest_view_certificate_and_fills_gaps_with_null_requests() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = Digest::of(b"c");
        let v0 = view_change(0, 10, vec![certificate(1, 11, a), certificate(1, 14, c)]);
        let v1 = view_change(1, 10, vec![certificate(3, 11, b)]);
        let v2 = view_change(2, 0, vec![certificate(4, 9, a)]);
        let plan = compute_new_view(View(5), &[&v0, &v1, &v2]);
        assert_eq!(plan.checkpoint.seq, Seq(10));
        let digests: Vec<(u64, Digest)> = plan
            .pre_prepares
            .iter()
            .map(|p| (p.seq.0, p.digest))
            .collect();
        assert_eq!(
            digests,
            vec![(11, b), (12, null_digest()), (13, null_digest()), (14, c)]
        );
        assert!(plan.pre_prepares.iter().all(|p| p.view == View(5)));
    }

    #[test]
    fn o_is_empty_without_prepared_certificates_above_the_checkpoint() {
        let v0 = view_change(0, 20, vec![]);
        let v1 = view_change(1, 10, vec![certificate(1, 15, Digest::of(b"x"))]);
        let plan = compute_new_view(View(5), &[&v0, &v1]);
        assert_eq!(plan.checkpoint.seq, Seq(20));
        assert!(plan.pre_prepares.is_empty());
    }
}
