//! Which PREPAREs and COMMITs can no longer matter, judged from what the core persisted.
//!
//! A slot is prepared with 2f PREPAREs and committed-local with 2f + 1 COMMITs (PBFT §4.2),
//! but every replica sends its PREPARE and COMMIT to all others, so with n = 3f + 1 each
//! replica receives f more of each than it needs. Once the core has persisted that a slot
//! prepared (a `Prepared` record) or committed (a `Decided` one), a later PREPARE, or
//! COMMIT, for the same view, sequence number and digest changes nothing: the core would
//! count it towards a certificate it already holds. The shell shares a [`SlotProgress`]
//! with the threads that verify signatures, so that they drop such messages before paying
//! for their signatures.
//!
//! Dropping is always safe: the core would ignore the message anyway, and the network may
//! lose any message. The table only says "redundant" for the exact (view, sequence number,
//! digest) it recorded, so after a view change nothing is dropped until the new view's
//! slots progress, and a message for another digest is verified and kept as evidence.

use rampart_crypto::Digest;

use super::PersistOp;
use crate::message::{Message, Seq, View};

/// Slots remembered; older ones are overwritten, which at worst verifies a message that
/// could have been dropped. Larger than the default log window.
pub const PROGRESS_SLOTS: usize = 1024;

/// A step of the normal case (PBFT §4.2) a slot took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// prepared(m, v, n): its PREPAREs no longer matter.
    Prepared,
    /// committed-local(m, v, n), or a commit certificate received: its COMMITs no longer
    /// matter.
    Committed,
}

/// A slot that reached `stage` for `subject` (view, sequence number, digest), as a
/// persisted record shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Milestone {
    pub subject: (View, Seq, Digest),
    pub stage: Stage,
}

impl Milestone {
    /// What `op` says of its slot: `Prepared` and `Decided` records are milestones.
    pub fn of(op: &PersistOp) -> Option<Milestone> {
        match op {
            PersistOp::Prepared { certificate, .. } => Some(Milestone {
                subject: (certificate.view(), certificate.seq(), certificate.digest()),
                stage: Stage::Prepared,
            }),
            PersistOp::Decided(certificate) => Some(Milestone {
                subject: certificate.subject()?,
                stage: Stage::Committed,
            }),
            _ => None,
        }
    }
}

/// What `message` is for, and the stage of its slot that makes it redundant: a PREPARE
/// matters until its slot prepared, a COMMIT until it committed. Other messages always
/// matter.
fn needed_until(message: &Message) -> Option<((View, Seq, Digest), Stage)> {
    match message {
        Message::Prepare(p) => Some(((p.value.view, p.value.seq, p.value.digest), Stage::Prepared)),
        Message::Commit(c) => Some((
            (c.value.view, c.value.seq, c.value.digest),
            Stage::Committed,
        )),
        _ => None,
    }
}

/// What one slot of the table says about one (view, sequence number, digest).
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    subject: Option<(View, Seq, Digest)>,
    prepared: bool,
    committed: bool,
}

impl Entry {
    fn reached(&self, stage: Stage) -> bool {
        match stage {
            Stage::Prepared => self.prepared,
            Stage::Committed => self.committed,
        }
    }
}

/// The stages persisted for recent slots, in a ring of [`PROGRESS_SLOTS`] entries
/// indexed by sequence number; see the module documentation.
#[derive(Clone, Debug)]
pub struct SlotProgress {
    entries: Vec<Entry>,
}

impl Default for SlotProgress {
    fn default() -> SlotProgress {
        SlotProgress {
            entries: vec![Entry::default(); PROGRESS_SLOTS],
        }
    }
}

impl SlotProgress {
    fn entry(&mut self, seq: Seq) -> Option<&mut Entry> {
        let index = (seq.0 % self.entries.len() as u64) as usize;
        self.entries.get_mut(index)
    }

    /// Learns from an operation the core persisted.
    pub fn note(&mut self, op: &PersistOp) {
        let Some(Milestone { subject, stage }) = Milestone::of(op) else {
            return;
        };
        let Some(entry) = self.entry(subject.1) else {
            return;
        };
        if entry.subject != Some(subject) {
            *entry = Entry {
                subject: Some(subject),
                ..Entry::default()
            };
        }
        match stage {
            Stage::Prepared => entry.prepared = true,
            Stage::Committed => entry.committed = true,
        }
    }

    /// Whether `message` is a PREPARE for a slot already prepared, or a COMMIT for one
    /// already committed, in the same view and for the same digest.
    pub fn redundant(&self, message: &Message) -> bool {
        let Some((subject, until)) = needed_until(message) else {
            return false;
        };
        let index = (subject.1.0 % self.entries.len() as u64) as usize;
        self.entries
            .get(index)
            .is_some_and(|entry| entry.subject == Some(subject) && entry.reached(until))
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use rampart_crypto::{ClusterId, Digest, KeyPair, Signed};

    use super::*;
    use crate::message::{
        Batch, Commit, CommitCertificate, PrePrepare, Prepare, PreparedCertificate, ReplicaId,
    };

    const CLUSTER: ClusterId = ClusterId(5);

    fn key(replica: u32) -> KeyPair {
        KeyPair::from_seed(u64::from(replica))
    }

    fn prepare(replica: u32, view: u64, seq: u64) -> Signed<Prepare> {
        prepare_of(replica, view, seq, b"batch")
    }

    fn prepare_of(replica: u32, view: u64, seq: u64, batch: &[u8]) -> Signed<Prepare> {
        let value = Prepare {
            view: View(view),
            seq: Seq(seq),
            digest: Digest::of(batch),
            replica: ReplicaId(replica),
        };
        Signed::sign(CLUSTER, value, &key(replica)).expect("signs")
    }

    fn commit(replica: u32, view: u64, seq: u64) -> Signed<Commit> {
        let value = Commit {
            view: View(view),
            seq: Seq(seq),
            digest: Digest::of(b"batch"),
            replica: ReplicaId(replica),
        };
        Signed::sign(CLUSTER, value, &key(replica)).expect("signs")
    }

    fn prepared(view: u64, seq: u64) -> PersistOp {
        let pre_prepare = PrePrepare {
            view: View(view),
            seq: Seq(seq),
            digest: Digest::of(b"batch"),
        };
        PersistOp::Prepared {
            certificate: PreparedCertificate {
                pre_prepare: Signed::sign(CLUSTER, pre_prepare, &key(0)).expect("signs"),
                prepares: vec![prepare(1, view, seq), prepare(2, view, seq)],
            },
            batch: Arc::new(Batch::new(Vec::new())),
        }
    }

    fn decided(view: u64, seq: u64) -> PersistOp {
        PersistOp::Decided(CommitCertificate {
            commits: (0..3).map(|r| commit(r, view, seq)).collect(),
            batch: Arc::new(Batch::new(Vec::new())),
        })
    }

    #[test]
    fn only_messages_for_a_slot_that_moved_on_in_the_same_view_are_redundant() {
        let mut progress = SlotProgress::default();
        let late_prepare = Message::Prepare(prepare(3, 0, 7));
        let late_commit = Message::Commit(commit(3, 0, 7));
        assert!(!progress.redundant(&late_prepare));
        assert!(!progress.redundant(&late_commit));

        progress.note(&prepared(0, 7));
        assert!(progress.redundant(&late_prepare));
        assert!(
            !progress.redundant(&late_commit),
            "prepared is not committed"
        );
        assert!(
            !progress.redundant(&Message::Prepare(prepare(3, 1, 7))),
            "another view"
        );
        assert!(
            !progress.redundant(&Message::Prepare(prepare(3, 0, 8))),
            "another slot"
        );
        let equivocation = Message::Prepare(prepare_of(3, 0, 7, b"another batch"));
        assert!(!progress.redundant(&equivocation), "another digest");

        progress.note(&decided(0, 7));
        assert!(progress.redundant(&late_prepare));
        assert!(progress.redundant(&late_commit));
        assert!(
            !progress.redundant(&Message::Commit(commit(3, 1, 7))),
            "another view"
        );
        // A Prepared record that arrives after the Decided one takes nothing back.
        progress.note(&prepared(0, 7));
        assert!(progress.redundant(&late_commit));
    }

    #[test]
    fn a_slot_in_a_new_view_or_further_along_the_ring_starts_afresh() {
        let mut progress = SlotProgress::default();
        progress.note(&decided(0, 7));
        progress.note(&prepared(1, 7));
        assert!(!progress.redundant(&Message::Commit(commit(3, 0, 7))));
        assert!(progress.redundant(&Message::Prepare(prepare(3, 1, 7))));

        let wrapped = 7 + PROGRESS_SLOTS as u64;
        progress.note(&prepared(1, wrapped));
        assert!(!progress.redundant(&Message::Prepare(prepare(3, 1, 7))));
        assert!(progress.redundant(&Message::Prepare(prepare(3, 1, wrapped))));
    }

    #[test]
    fn milestones_are_read_from_prepared_and_decided_records_only() {
        let subject = (View(2), Seq(9), Digest::of(b"batch"));
        assert_eq!(
            Milestone::of(&prepared(2, 9)),
            Some(Milestone {
                subject,
                stage: Stage::Prepared
            })
        );
        assert_eq!(
            Milestone::of(&decided(2, 9)),
            Some(Milestone {
                subject,
                stage: Stage::Committed
            })
        );
        assert_eq!(Milestone::of(&PersistOp::PruneBelow { seq: Seq(9) }), None);
        let empty = PersistOp::Decided(CommitCertificate {
            commits: Vec::new(),
            batch: Batch::null(),
        });
        assert_eq!(Milestone::of(&empty), None);
    }
}
