//! Evidence of Byzantine behaviour: two messages, both validly signed by one replica, that a
//! correct replica would never both send. Anyone can check it offline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use rampart_crypto::Signed;

use crate::message::{Checkpoint, Commit, PrePrepare, Prepare, ReplicaId, ViewChange};

/// Two conflicting signed messages from the same replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    /// Two PRE-PREPAREs for one view and sequence number with different digests.
    PrePrepare {
        first: Signed<PrePrepare>,
        second: Signed<PrePrepare>,
    },
    Prepare {
        first: Signed<Prepare>,
        second: Signed<Prepare>,
    },
    Commit {
        first: Signed<Commit>,
        second: Signed<Commit>,
    },
    Checkpoint {
        first: Signed<Checkpoint>,
        second: Signed<Checkpoint>,
    },
    ViewChange {
        first: Signed<ViewChange>,
        second: Signed<ViewChange>,
    },
}

impl Evidence {
    /// The replica the evidence is against.
    pub fn culprit(&self, replica_count: usize) -> ReplicaId {
        match self {
            Evidence::PrePrepare { first, .. } => first.value.view.primary(replica_count),
            Evidence::Prepare { first, .. } => first.value.replica,
            Evidence::Commit { first, .. } => first.value.replica,
            Evidence::Checkpoint { first, .. } => first.value.replica,
            Evidence::ViewChange { first, .. } => first.value.replica,
        }
    }
}

/// How many pieces of evidence are kept per replica: one proves the fault; a few more help
/// diagnosis, and the bound keeps a faulty replica from filling memory.
pub const EVIDENCE_PER_REPLICA_MAX: usize = 4;

/// The evidence this replica holds, by culprit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvidenceStore {
    by_replica: BTreeMap<ReplicaId, Vec<Evidence>>,
}

impl EvidenceStore {
    /// Adds a piece of evidence; returns false if the culprit's quota is full.
    pub fn add(&mut self, culprit: ReplicaId, evidence: Evidence) -> bool {
        let list = self.by_replica.entry(culprit).or_default();
        if list.len() >= EVIDENCE_PER_REPLICA_MAX || list.contains(&evidence) {
            return false;
        }
        list.push(evidence);
        true
    }

    pub fn against(&self, replica: ReplicaId) -> &[Evidence] {
        self.by_replica.get(&replica).map_or(&[], Vec::as_slice)
    }

    pub fn culprits(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        self.by_replica.keys().copied()
    }

    pub fn all(&self) -> impl Iterator<Item = &Evidence> {
        self.by_replica.values().flatten()
    }

    pub fn len(&self) -> usize {
        self.by_replica.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
