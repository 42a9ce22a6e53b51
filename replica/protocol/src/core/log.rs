//! The message log (PBFT §4.2): for each sequence number between the watermarks, the
//! agreement reached on it in the current view, the best prepared certificate from any
//! view, and whether it is committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_crypto::{Digest, Signed};

use super::quorum::Quorums;
use crate::message::{
    Batch, Commit, CommitCertificate, PrePrepare, Prepare, PreparedCertificate, ReplicaId, Seq,
    View,
};

/// Agreement on one sequence number in one view.
#[derive(Clone, Debug, Default)]
pub struct Round {
    pub pre_prepare: Option<Signed<PrePrepare>>,
    pub batch: Option<Arc<Batch>>,
    /// At most one PREPARE per replica; a second, different one is evidence.
    pub prepares: BTreeMap<ReplicaId, Signed<Prepare>>,
    /// At most one COMMIT per replica.
    pub commits: BTreeMap<ReplicaId, Signed<Commit>>,
    /// This replica decided to send its PREPARE (it comes back signed into `prepares`).
    pub prepare_sent: bool,
    /// This replica decided to send its COMMIT.
    pub commit_sent: bool,
}

impl Round {
    pub fn digest(&self) -> Option<Digest> {
        self.pre_prepare.as_ref().map(|pp| pp.value.digest)
    }

    /// What the PREPAREs and COMMITs of the round must match: the pre-prepare's view,
    /// sequence number and digest.
    fn subject(&self) -> Option<(View, Seq, Digest)> {
        let pre_prepare = &self.pre_prepare.as_ref()?.value;
        Some((pre_prepare.view, pre_prepare.seq, pre_prepare.digest))
    }

    /// PREPAREs from backups: the primary's PRE-PREPARE stands for its PREPARE.
    fn backup_prepares(&self, primary: ReplicaId) -> impl Iterator<Item = &Signed<Prepare>> {
        self.prepares
            .values()
            .filter(move |p| p.value.replica != primary)
    }

    /// prepared(m, v, n, i) of PBFT §4.2: the pre-prepare and 2f matching PREPAREs from
    /// distinct backups.
    pub fn is_prepared(&self, primary: ReplicaId, quorums: Quorums) -> bool {
        self.subject().is_some_and(|subject| {
            quorums.count(self.backup_prepares(primary), &subject) >= quorums.prepares_needed()
        })
    }

    /// committed-local(m, v, n, i) of PBFT §4.2: prepared and a quorum (2f + 1) of matching
    /// COMMITs from distinct replicas.
    pub fn is_committed(&self, primary: ReplicaId, quorums: Quorums) -> bool {
        self.subject().is_some_and(|subject| {
            self.is_prepared(primary, quorums)
                && quorums.count(self.commits.values(), &subject) >= quorums.quorum()
        })
    }

    /// A commit certificate, if the round is committed-local: a quorum of matching COMMITs.
    pub fn commit_certificate(
        &self,
        primary: ReplicaId,
        quorums: Quorums,
    ) -> Option<CommitCertificate> {
        if !self.is_committed(primary, quorums) {
            return None;
        }
        let commits = quorums.matching(self.commits.values(), &self.subject()?, quorums.quorum());
        Some(CommitCertificate {
            commits: commits.into_iter().cloned().collect(),
            batch: self.batch.clone()?,
        })
    }

    /// The prepared certificate, if the round is prepared: the pre-prepare and exactly 2f
    /// matching PREPAREs from backups (the lowest replica ids, for determinism).
    pub fn prepared_certificate(
        &self,
        primary: ReplicaId,
        quorums: Quorums,
    ) -> Option<PreparedCertificate> {
        if !self.is_prepared(primary, quorums) {
            return None;
        }
        let prepares = quorums.matching(
            self.backup_prepares(primary),
            &self.subject()?,
            quorums.prepares_needed(),
        );
        Some(PreparedCertificate {
            pre_prepare: self.pre_prepare.clone()?,
            prepares: prepares.into_iter().cloned().collect(),
        })
    }
}

/// Everything the log holds about one sequence number.
#[derive(Clone, Debug)]
pub struct Slot {
    pub seq: Seq,
    /// The view `round` belongs to: always the replica's current view.
    pub view: View,
    pub round: Round,
    /// The prepared certificate with the highest view this replica has for the slot, and
    /// its batch: what the slot contributes to a VIEW-CHANGE (PBFT §4.4, the set P).
    pub prepared: Option<(PreparedCertificate, Arc<Batch>)>,
    /// Set once committed-local (in any view), or on receiving a commit certificate: the
    /// proof of the decision and the batch to execute.
    pub decided: Option<CommitCertificate>,
    /// The tick of the slot's last progress; a slot idle for a while is sent again to
    /// peers whose STATUS shows they lack it.
    pub touched_at: u64,
}

impl Slot {
    fn new(seq: Seq, view: View, now: u64) -> Slot {
        Slot {
            seq,
            view,
            round: Round::default(),
            prepared: None,
            decided: None,
            touched_at: now,
        }
    }

    /// Whether this slot is prepared in its current view.
    pub fn prepared_in_view(&self) -> bool {
        self.prepared
            .as_ref()
            .is_some_and(|(certificate, _)| certificate.view() == self.view)
    }
}

/// The slots between the low and high watermarks.
#[derive(Clone, Debug, Default)]
pub struct Log {
    slots: BTreeMap<Seq, Slot>,
}

impl Log {
    pub fn get(&self, seq: Seq) -> Option<&Slot> {
        self.slots.get(&seq)
    }

    pub fn get_mut(&mut self, seq: Seq) -> Option<&mut Slot> {
        self.slots.get_mut(&seq)
    }

    /// The slot for `seq`, created in `view` if absent.
    pub fn slot(&mut self, seq: Seq, view: View, now: u64) -> &mut Slot {
        self.slots
            .entry(seq)
            .or_insert_with(|| Slot::new(seq, view, now))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn slots(&self) -> impl DoubleEndedIterator<Item = &Slot> {
        self.slots.values()
    }

    pub fn slots_above(&self, seq: Seq) -> impl Iterator<Item = &Slot> {
        self.slots.range(seq.next()..).map(|(_, slot)| slot)
    }

    pub fn seqs(&self) -> Vec<Seq> {
        self.slots.keys().copied().collect()
    }

    /// Garbage collection at a stable checkpoint: drops every slot at or below `seq`.
    pub fn prune(&mut self, seq: Seq) {
        self.slots = self.slots.split_off(&seq.next());
    }

    /// Moves every slot to a new view: the agreement of the old view is dropped, the
    /// prepared certificates and decisions stay (PBFT §4.4).
    pub fn enter_view(&mut self, view: View, now: u64) {
        for slot in self.slots.values_mut() {
            slot.view = view;
            slot.round = Round::default();
            slot.touched_at = now;
        }
        // Slots that hold nothing any more only take space.
        self.slots
            .retain(|_, slot| slot.prepared.is_some() || slot.decided.is_some());
    }

    /// The set P of a VIEW-CHANGE: the best prepared certificate of every slot above the
    /// stable checkpoint, with the batches of the non-null ones.
    pub fn prepared_certificates(
        &self,
        stable: Seq,
    ) -> (Vec<PreparedCertificate>, Vec<Arc<Batch>>) {
        let mut certificates = Vec::new();
        let mut batches: Vec<Arc<Batch>> = Vec::new();
        for slot in self.slots_above(stable) {
            if let Some((certificate, batch)) = &slot.prepared {
                certificates.push(certificate.clone());
                if !batch.is_empty() && !batches.iter().any(|b| b.digest() == batch.digest()) {
                    batches.push(batch.clone());
                }
            }
        }
        (certificates, batches)
    }

    /// A batch with `digest` held anywhere in the log.
    pub fn find_batch(&self, digest: Digest) -> Option<Arc<Batch>> {
        self.slots.values().find_map(|slot| {
            let from_round = slot.round.batch.as_ref().filter(|b| b.digest() == digest);
            let from_prepared = slot
                .prepared
                .as_ref()
                .map(|(_, b)| b)
                .filter(|b| b.digest() == digest);
            let from_decided = slot
                .decided
                .as_ref()
                .map(|c| &c.batch)
                .filter(|b| b.digest() == digest);
            from_round.or(from_prepared).or(from_decided).cloned()
        })
    }
}
