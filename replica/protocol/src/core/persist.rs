//! What a replica keeps on stable storage (PBFT §4, TOCS §6), described without storage.
//!
//! The core emits [`PersistOp`]s; the shell makes them durable before anything it sends
//! afterwards. [`PersistedState`] is the state those operations build, in memory: the
//! simulator uses it as its disk, the RocksDB store loads into it on start, and
//! [`crate::core::Replica::recover`] rebuilds a core from it.
//!
//! The shell also persists, before sending, every protocol message the core asks it to
//! sign and broadcast (see [`crate::core::Action::Broadcast`]); it uses the same
//! [`PersistedState::insert_message`] keys. Application snapshots are kept by the shell
//! beside this state ([`crate::core::Action::StoreCheckpoint`]).
//!
//! Of the messages peers send, PRE-PREPAREs, CHECKPOINTs, VIEW-CHANGEs and NEW-VIEWs are
//! persisted as they are accepted. Peers' PREPAREs and COMMITs are not, unlike the design
//! document's first plan: nothing this replica sends depends on them until its slot is
//! prepared or committed, and then the [`PersistOp::Prepared`] and [`PersistOp::Decided`]
//! records keep the quorum. One lost in a crash is a lost message, which retransmission
//! recovers; not writing them spares a write batch for most inputs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::core::evidence::{EVIDENCE_PER_REPLICA_MAX, Evidence};
use crate::message::{
    Batch, CheckpointCertificate, CommitCertificate, Message, PreparedCertificate, ReplicaId, Seq,
    View,
};

/// One change to stable storage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersistOp {
    /// The view this replica is in, and whether it is active (false: changing to it).
    ViewState { view: View, normal: bool },
    /// A protocol message accepted from a peer (not a PREPARE or COMMIT: see above).
    Message(Message),
    /// The slot reached a prepared certificate (kept across views for VIEW-CHANGE).
    Prepared {
        certificate: PreparedCertificate,
        batch: Arc<Batch>,
    },
    /// The slot is committed, with the proof and the batch.
    Decided(CommitCertificate),
    /// A new stable checkpoint with its proof.
    StableCheckpoint(CheckpointCertificate),
    /// Evidence against a faulty replica.
    Evidence(Evidence),
    /// Garbage collection at a stable checkpoint: forget every record for sequence numbers
    /// at or below `seq` (PBFT §4.3).
    PruneBelow { seq: Seq },
    /// Forget the agreement messages, VIEW-CHANGEs and NEW-VIEWs of views below `view`;
    /// what matters of them survives in `Prepared` and `Decided` records.
    PruneViewsBelow { view: View },
    /// Forget one stored message: a peer's VIEW-CHANGE or CHECKPOINT that the replica no
    /// longer keeps in memory either (each peer gets a bounded number of them), so a peer
    /// cannot fill the disk with messages about views or sequence numbers nobody reaches.
    ForgetMessage(MessageKey),
}

/// Where a message is kept: one record per author and protocol step, so a message that
/// arrives twice is stored once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKey {
    /// PRE-PREPARE (step 0), PREPARE (1) and COMMIT (2) of `view` for `seq`.
    Agreement {
        seq: Seq,
        view: View,
        step: u8,
        replica: ReplicaId,
    },
    Checkpoint {
        seq: Seq,
        replica: ReplicaId,
    },
    ViewChange {
        view: View,
        replica: ReplicaId,
    },
    NewView {
        view: View,
    },
}

impl MessageKey {
    /// The key of a message worth keeping; requests and STATUS are not kept.
    pub fn of(message: &Message, replica_count: usize) -> Option<MessageKey> {
        Some(match message {
            Message::Request(_) | Message::Status(_) | Message::CommitCertificate(_) => {
                return None;
            }
            Message::PrePrepare { pre_prepare, .. } => MessageKey::Agreement {
                seq: pre_prepare.value.seq,
                view: pre_prepare.value.view,
                step: 0,
                replica: pre_prepare.value.view.primary(replica_count),
            },
            Message::Prepare(m) => MessageKey::Agreement {
                seq: m.value.seq,
                view: m.value.view,
                step: 1,
                replica: m.value.replica,
            },
            Message::Commit(m) => MessageKey::Agreement {
                seq: m.value.seq,
                view: m.value.view,
                step: 2,
                replica: m.value.replica,
            },
            Message::Checkpoint(m) => MessageKey::Checkpoint {
                seq: m.value.seq,
                replica: m.value.replica,
            },
            Message::ViewChange { view_change, .. } => MessageKey::ViewChange {
                view: view_change.value.new_view,
                replica: view_change.value.replica,
            },
            Message::NewView { new_view, .. } => MessageKey::NewView {
                view: new_view.value.view,
            },
        })
    }

    /// Whether garbage collection at stable checkpoint `seq` removes the record.
    pub fn is_below_seq(&self, stable: Seq) -> bool {
        match *self {
            MessageKey::Agreement { seq, .. } | MessageKey::Checkpoint { seq, .. } => seq <= stable,
            MessageKey::ViewChange { .. } | MessageKey::NewView { .. } => false,
        }
    }

    /// Whether leaving views below `view` removes the record.
    pub fn is_below_view(&self, below: View) -> bool {
        match *self {
            MessageKey::Agreement { view, .. }
            | MessageKey::ViewChange { view, .. }
            | MessageKey::NewView { view } => view < below,
            MessageKey::Checkpoint { .. } => false,
        }
    }
}

/// Everything a replica's stable storage holds about the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedState {
    pub view: View,
    pub normal: bool,
    pub messages: BTreeMap<MessageKey, Message>,
    pub prepared: BTreeMap<Seq, (PreparedCertificate, Arc<Batch>)>,
    pub decided: BTreeMap<Seq, CommitCertificate>,
    pub stable: CheckpointCertificate,
    pub evidence: Vec<Evidence>,
}

impl Default for PersistedState {
    fn default() -> PersistedState {
        PersistedState {
            view: View(0),
            normal: true,
            messages: BTreeMap::new(),
            prepared: BTreeMap::new(),
            decided: BTreeMap::new(),
            stable: CheckpointCertificate::genesis(),
            evidence: Vec::new(),
        }
    }
}

impl PersistedState {
    /// Applies one operation, as stable storage would.
    pub fn apply(&mut self, op: &PersistOp, replica_count: usize) {
        match op {
            PersistOp::ViewState { view, normal } => {
                self.view = *view;
                self.normal = *normal;
            }
            PersistOp::Message(message) => self.insert_message(message, replica_count),
            PersistOp::Prepared { certificate, batch } => {
                let seq = certificate.seq();
                let newer = self
                    .prepared
                    .get(&seq)
                    .is_none_or(|(existing, _)| existing.view() <= certificate.view());
                if newer {
                    self.prepared
                        .insert(seq, (certificate.clone(), batch.clone()));
                }
            }
            PersistOp::Decided(certificate) => {
                // Two certificates for one sequence number prove the same decision (PBFT's
                // safety); the last one is kept.
                if let Some((_, seq, _)) = certificate.subject() {
                    self.decided.insert(seq, certificate.clone());
                }
            }
            PersistOp::StableCheckpoint(certificate) => {
                if certificate.seq > self.stable.seq {
                    self.stable = certificate.clone();
                }
            }
            PersistOp::Evidence(evidence) => {
                let culprit = evidence.culprit(replica_count);
                let count = self
                    .evidence
                    .iter()
                    .filter(|e| e.culprit(replica_count) == culprit)
                    .count();
                if count < EVIDENCE_PER_REPLICA_MAX && !self.evidence.contains(evidence) {
                    self.evidence.push(evidence.clone());
                }
            }
            PersistOp::PruneBelow { seq } => {
                self.messages.retain(|key, _| !key.is_below_seq(*seq));
                self.prepared.retain(|s, _| s > seq);
                self.decided.retain(|s, _| s > seq);
            }
            PersistOp::PruneViewsBelow { view } => {
                self.messages.retain(|key, _| !key.is_below_view(*view));
            }
            PersistOp::ForgetMessage(key) => {
                self.messages.remove(key);
            }
        }
    }

    /// Stores a message under its key (the first one stored for a key stays).
    pub fn insert_message(&mut self, message: &Message, replica_count: usize) {
        if let Some(key) = MessageKey::of(message, replica_count) {
            self.messages.entry(key).or_insert_with(|| message.clone());
        }
    }
}
