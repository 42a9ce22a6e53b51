//! Recovery from stable storage: a restarted replica rebuilds its protocol state from what
//! it persisted, so it never contradicts a message it sent before the crash, then resumes
//! where the persisted state says it was.

use std::sync::Arc;

use super::{Action, ClientTable, PersistedState, Replica, Status};
use crate::core::view_change::ReceivedViewChange;
use crate::message::{Batch, Message, Seq};

/// The checkpoint the shell restored the application from: its sequence number and the
/// reply cache stored with it. Genesis is sequence number 0 with an empty cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub seq: Seq,
    pub client_table: ClientTable,
}

impl Replica {
    /// Rebuilds a replica from its persisted state and the checkpoint the application was
    /// restored from. Returns the replica and the actions that resume its work: executing
    /// what it had committed above the checkpoint, sending what it had decided to send, and
    /// fetching the state of a stable checkpoint it had not reached.
    pub fn recover(
        config: Arc<super::Config>,
        id: crate::message::ReplicaId,
        seed: u64,
        persisted: &PersistedState,
        restored: Restored,
    ) -> (Replica, Vec<Action>) {
        let mut replica = Replica::new(config, id, seed);
        replica.view = persisted.view;
        // Recovering until everything persisted is back in place; then the status it had.
        replica.status = Status::Recovering;
        let status = if persisted.normal {
            Status::Normal
        } else {
            Status::ViewChange
        };
        replica.checkpoints.stable = persisted.stable.clone();
        replica.last_executed = restored.seq;
        replica.clients = restored.client_table;
        let stable = replica.low_watermark();
        let n = replica.config.replica_count();
        for evidence in &persisted.evidence {
            replica.evidence.add(evidence.culprit(n), evidence.clone());
        }
        for (seq, (certificate, batch)) in persisted.prepared.range(stable.next()..) {
            let slot = replica.log.slot(*seq, replica.view, 0);
            slot.prepared = Some((certificate.clone(), batch.clone()));
            // Peers' PREPAREs are not persisted on their own (see `persist.rs`). A slot
            // that prepared in the current view gets them back from its certificate, so it
            // can commit without waiting for its peers to resend them (`restore_message`
            // keeps only those of the current view).
            for prepare in &certificate.prepares {
                replica.restore_message(&Message::Prepare(prepare.clone()), status);
            }
        }
        for message in persisted.messages.values() {
            replica.restore_message(message, status);
        }
        for (seq, certificate) in persisted.decided.range(stable.next()..) {
            let slot = replica.log.slot(*seq, replica.view, 0);
            slot.decided = Some(certificate.clone());
        }
        replica.restore_primary_position();
        replica.status = status;
        replica.resume();
        let actions = std::mem::take(&mut replica.out);
        if cfg!(debug_assertions) {
            replica.check_invariants();
        }
        (replica, actions)
    }

    /// Puts one persisted message back where the running replica, in `status`, kept it.
    fn restore_message(&mut self, message: &Message, status: Status) {
        let normal = status == Status::Normal;
        let view = self.view;
        let stable = self.low_watermark();
        let in_window = |seq: Seq| seq > stable;
        match message {
            Message::PrePrepare { pre_prepare, batch } => {
                let v = &pre_prepare.value;
                if v.view == view && in_window(v.seq) {
                    self.restore_pre_prepare(pre_prepare.clone(), batch.clone());
                }
            }
            Message::Prepare(prepare) => {
                let v = &prepare.value;
                if v.view == view && in_window(v.seq) {
                    let slot = self.log.slot(v.seq, view, 0);
                    slot.round
                        .prepares
                        .entry(v.replica)
                        .or_insert_with(|| prepare.clone());
                    if v.replica == self.id {
                        slot.round.prepare_sent = true;
                    }
                }
            }
            Message::Commit(commit) => {
                let v = &commit.value;
                if v.view == view && in_window(v.seq) {
                    let slot = self.log.slot(v.seq, view, 0);
                    slot.round
                        .commits
                        .entry(v.replica)
                        .or_insert_with(|| commit.clone());
                    if v.replica == self.id {
                        slot.round.commit_sent = true;
                    }
                }
            }
            Message::Checkpoint(checkpoint) => {
                if checkpoint.value.seq > stable {
                    if checkpoint.value.replica == self.id {
                        self.checkpoints
                            .own
                            .insert(checkpoint.value.seq, checkpoint.value.state_digest);
                    }
                    // The store keeps every vote accepted above the stable checkpoint,
                    // including those the running replica had already let go of beyond
                    // the bound per sender; the bound applies again here.
                    let _ = self.checkpoints.insert(checkpoint.clone());
                }
            }
            Message::ViewChange {
                view_change,
                batches,
            } => {
                let target = view_change.value.new_view;
                let relevant = target > view || (target == view && !normal);
                let received = ReceivedViewChange {
                    signed: view_change.clone(),
                    batches: batches.clone(),
                };
                if relevant {
                    // The store forgets what the running replica let go of beyond the
                    // bound per sender, so this keeps what the running replica kept.
                    let _ = self.view_changes.insert(received);
                } else if target < view && !normal && view_change.value.replica == self.id {
                    // Still stored because no view has started since: see `earlier_own`.
                    self.view_changes.keep_earlier_own(received);
                }
            }
            Message::NewView { new_view, batches } => {
                if new_view.value.view == view && !normal {
                    // This replica's own NEW-VIEW, made durable before it was handed back:
                    // it is entered in `resume`, so the primary never builds a second one.
                    self.restored_new_view = Some((new_view.clone(), batches.clone()));
                } else if new_view.value.view == view && normal {
                    for pre_prepare in &new_view.value.pre_prepares {
                        if !in_window(pre_prepare.value.seq) {
                            continue;
                        }
                        let digest = pre_prepare.value.digest;
                        let batch = batches
                            .iter()
                            .find(|b| b.digest() == digest)
                            .cloned()
                            .or_else(|| (digest == Batch::default().digest()).then(Batch::null))
                            .or_else(|| self.log.find_batch(digest));
                        match batch {
                            Some(batch) => self.restore_pre_prepare(pre_prepare.clone(), batch),
                            None => {
                                // Known only by digest: fetched again, as on entering the view.
                                let sources = new_view
                                    .value
                                    .view_changes
                                    .iter()
                                    .filter(|vc| {
                                        vc.value.prepared.iter().any(|c| c.digest() == digest)
                                    })
                                    .map(|vc| vc.value.replica)
                                    .collect();
                                self.recovered_without_batch
                                    .push((pre_prepare.clone(), sources));
                            }
                        }
                    }
                    self.view_changes.new_view = Some(message.clone());
                    if new_view.value.view.primary(self.config.replica_count()) == self.id {
                        self.view_changes.new_view_sent = Some(view);
                    }
                }
            }
            Message::Request(_) | Message::Status(_) | Message::CommitCertificate(_) => {}
        }
    }

    fn restore_pre_prepare(
        &mut self,
        pre_prepare: rampart_crypto::Signed<crate::message::PrePrepare>,
        batch: Arc<Batch>,
    ) {
        let view = self.view;
        let slot = self.log.slot(pre_prepare.value.seq, view, 0);
        if slot.round.pre_prepare.is_none() && batch.digest() == pre_prepare.value.digest {
            slot.round.pre_prepare = Some(pre_prepare);
            slot.round.batch = Some(batch);
        }
    }

    /// A primary continues after the highest sequence number it assigned in its view.
    fn restore_primary_position(&mut self) {
        let highest_assigned = self
            .log
            .slots()
            .filter(|slot| slot.round.pre_prepare.is_some())
            .map(|slot| slot.seq)
            .max()
            .unwrap_or(Seq(0));
        self.next_seq = highest_assigned.max(self.low_watermark()).next();
    }

    /// Takes every step the restored state allows, as the running replica would have.
    fn resume(&mut self) {
        for (pre_prepare, sources) in std::mem::take(&mut self.recovered_without_batch) {
            let (seq, digest) = (pre_prepare.value.seq, pre_prepare.value.digest);
            match self.log.find_batch(digest) {
                Some(batch) => self.restore_pre_prepare(pre_prepare, batch),
                None => self.await_batch(pre_prepare, sources),
            }
            debug_assert!(
                self.log
                    .get(seq)
                    .is_none_or(|s| s.round.pre_prepare.is_none()
                        || s.round.batch.as_ref().is_some_and(|b| b.digest() == digest))
            );
        }
        let stable = self.checkpoints.stable.clone();
        if self.last_executed < stable.seq {
            self.start_transfer(&stable);
        }
        if self.is_normal() {
            self.mark_preprepared_requests_assigned();
            for seq in self.log.seqs() {
                self.advance(seq);
            }
        } else if let Some((new_view, batches)) = self.restored_new_view.take() {
            if let Err(reason) = self.on_new_view(new_view, batches) {
                tracing::error!(replica = %self.id, %reason, "own persisted NEW-VIEW refused");
            }
        } else if self.view_changes.get(self.id, self.view).is_none() {
            // The VIEW-CHANGE is persisted in the same batch as the view state, so this is
            // only reached if storage lost it; send one for the same view.
            self.send_view_change();
        } else {
            // The timer starts again only once a quorum for the view is in (PBFT §4.5.2).
            self.after_view_change_received();
        }
        self.execute_next();
    }
}
