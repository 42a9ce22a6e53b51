//! Which slots this replica has already prepared or committed, shared by the shell with the
//! verifier threads, so that they drop the PREPAREs and COMMITs the core no longer needs
//! before paying for their signatures.
//!
//! A slot is prepared with 2f PREPAREs and committed-local with 2f + 1 COMMITs (PBFT §4.2),
//! but every replica sends its PREPARE and COMMIT to all others, so with n = 3f + 1 each
//! replica receives f more of each than it needs. With n = 4 that is two verifications per
//! slot out of the eight it receives; when the slot already moved on by the time the extra
//! message arrives, it is dropped unverified and counted (`messages_redundant`).
//!
//! Dropping is always safe: the core would ignore the message anyway, and the network may
//! lose any message. The table only says "drop" for the exact (view, sequence number,
//! digest) it recorded, so after a view change nothing is dropped until the new view's
//! slots progress, and a message for another digest is verified and kept as evidence.

use std::sync::Mutex;

use rampart_crypto::Digest;

use crate::core::PersistOp;
use crate::message::{Message, Seq, View};

/// Slots remembered; older ones are overwritten, which at worst verifies a message that
/// could have been dropped. Larger than the default log window.
const SLOTS: usize = 1024;

/// What one slot of the table says about one (view, sequence number, digest).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: Option<(View, Seq, Digest)>,
    prepared: bool,
    decided: bool,
}

/// The table; see the module documentation.
#[derive(Debug)]
pub struct Progress {
    slots: Mutex<Vec<Slot>>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            slots: Mutex::new(vec![Slot::default(); SLOTS]),
        }
    }
}

impl Progress {
    /// Runs `f` on the slot for `key`, under the lock.
    fn with_slot<T>(&self, key: (View, Seq, Digest), f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut slots[(key.1.0 % SLOTS as u64) as usize])
    }

    /// Learns from what the core persisted: a `Prepared` record marks the slot prepared,
    /// a `Decided` one committed.
    pub(super) fn note(&self, op: &PersistOp) {
        let (key, decided) = match op {
            PersistOp::Prepared { certificate, .. } => {
                let digest = certificate.pre_prepare.value.digest;
                ((certificate.view(), certificate.seq(), digest), false)
            }
            PersistOp::Decided(certificate) => match certificate.subject() {
                Some(key) => (key, true),
                None => return,
            },
            _ => return,
        };
        self.with_slot(key, |slot| {
            if slot.key != Some(key) {
                *slot = Slot {
                    key: Some(key),
                    ..Slot::default()
                };
            }
            if decided {
                slot.decided = true;
            } else {
                slot.prepared = true;
            }
        });
    }

    /// Whether `message` is a PREPARE for a slot already prepared, or a COMMIT for one
    /// already committed, in the same view and for the same digest.
    pub(super) fn redundant(&self, message: &Message) -> bool {
        let (key, commit) = match message {
            Message::Prepare(p) => ((p.value.view, p.value.seq, p.value.digest), false),
            Message::Commit(c) => ((c.value.view, c.value.seq, c.value.digest), true),
            _ => return false,
        };
        self.with_slot(key, |slot| {
            slot.key == Some(key) && if commit { slot.decided } else { slot.prepared }
        })
    }
}

#[cfg(test)]
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
        let progress = Progress::default();
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
    }

    #[test]
    fn a_slot_in_a_new_view_or_further_along_the_ring_starts_afresh() {
        let progress = Progress::default();
        progress.note(&decided(0, 7));
        progress.note(&prepared(1, 7));
        assert!(!progress.redundant(&Message::Commit(commit(3, 0, 7))));
        assert!(progress.redundant(&Message::Prepare(prepare(3, 1, 7))));

        let wrapped = 7 + SLOTS as u64;
        progress.note(&prepared(1, wrapped));
        assert!(!progress.redundant(&Message::Prepare(prepare(3, 1, 7))));
        assert!(progress.redundant(&Message::Prepare(prepare(3, 1, wrapped))));
    }
}
