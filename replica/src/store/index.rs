//! What the store holds on disk, in brief, so that a commit can decide each operation's
//! effect without reading from disk.
//!
//! [`PersistedState::apply`] is conditional: the first message for a key stays, a prepared
//! certificate is replaced only by one of a higher or equal view, the stable checkpoint
//! only moves forward, evidence is capped per culprit. The index holds exactly what those
//! conditions look at (message keys, prepared views, the stable sequence number, the
//! evidence list) plus the sequence numbers of stored checkpoint states and the keys of
//! stored batches. It is small: keys, numbers and digests, never message bodies, batches
//! or snapshots.

use std::collections::{BTreeMap, BTreeSet};

use rampart_crypto::Digest;

use crate::core::{EVIDENCE_PER_REPLICA_MAX, Evidence, MessageKey, PersistedState};
use crate::message::{Seq, View};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    pub messages: BTreeSet<MessageKey>,
    pub prepared_views: BTreeMap<Seq, View>,
    pub stable_seq: Seq,
    /// In arrival order: an entry's position is its key. Evidence is never deleted and is
    /// bounded per culprit, so the list stays short.
    pub evidence: Vec<Evidence>,
    pub checkpoints: BTreeSet<Seq>,
    /// The stored batches, by (sequence number, digest): a batch already stored is not
    /// written again.
    pub batches: BTreeSet<(Seq, Digest)>,
}

impl Index {
    pub fn of(
        state: &PersistedState,
        checkpoints: BTreeSet<Seq>,
        batches: BTreeSet<(Seq, Digest)>,
    ) -> Index {
        Index {
            messages: state.messages.keys().copied().collect(),
            prepared_views: state
                .prepared
                .iter()
                .map(|(seq, (certificate, _))| (*seq, certificate.view()))
                .collect(),
            stable_seq: state.stable.seq,
            evidence: state.evidence.clone(),
            checkpoints,
            batches,
        }
    }

    /// Whether a prepared certificate of `view` for `seq` replaces what is stored.
    pub fn accepts_prepared(&self, seq: Seq, view: View) -> bool {
        self.prepared_views
            .get(&seq)
            .is_none_or(|stored| *stored <= view)
    }

    /// Whether evidence is new and its culprit's quota has room.
    pub fn accepts_evidence(&self, evidence: &Evidence, replica_count: usize) -> bool {
        let culprit = evidence.culprit(replica_count);
        let count = self
            .evidence
            .iter()
            .filter(|e| e.culprit(replica_count) == culprit)
            .count();
        count < EVIDENCE_PER_REPLICA_MAX && !self.evidence.contains(evidence)
    }

    /// The checkpoint state garbage collection at stable checkpoint `seq` keeps: the newest
    /// at or below it, so the replica always has a state to restore from.
    pub fn checkpoint_kept_at(&self, seq: Seq) -> Option<Seq> {
        self.checkpoints.range(..=seq).next_back().copied()
    }
}
