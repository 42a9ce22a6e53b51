//! Checkpoints and garbage collection (PBFT §4.3): every K sequence numbers each replica
//! announces the digest of its state; a quorum of matching CHECKPOINTs makes it stable,
//! moves the low watermark, and everything below it is discarded.

use std::collections::BTreeMap;

use rampart_crypto::{Digest, Signed};

use super::quorum::Quorums;
use super::{Action, Evidence, MessageKey, PersistOp, Reject, Replica};
use crate::message::{Checkpoint, CheckpointCertificate, Message, Payload, ReplicaId, Seq};

/// How many CHECKPOINTs above the stable one are kept per replica. Correct replicas send
/// them in order, so the newest few overlap; the bound keeps a faulty replica that sends
/// far-future checkpoints from growing memory.
pub(super) const CHECKPOINTS_PER_REPLICA_MAX: usize = 4;

#[derive(Clone, Debug)]
pub(super) struct Checkpoints {
    /// The stable checkpoint: the low watermark.
    pub(super) stable: CheckpointCertificate,
    /// CHECKPOINTs above the stable one, by sequence number and sender.
    pub(super) votes: BTreeMap<Seq, BTreeMap<ReplicaId, Signed<Checkpoint>>>,
    /// This replica's own checkpoint digests above the stable one.
    pub(super) own: BTreeMap<Seq, Digest>,
}

impl Default for Checkpoints {
    fn default() -> Checkpoints {
        Checkpoints {
            stable: CheckpointCertificate::genesis(),
            votes: BTreeMap::new(),
            own: BTreeMap::new(),
        }
    }
}

impl Checkpoints {
    pub(super) fn message_count(&self) -> usize {
        self.votes.values().map(BTreeMap::len).sum::<usize>() + self.stable.proof.len()
    }

    /// Inserts a vote, keeping at most [`CHECKPOINTS_PER_REPLICA_MAX`] per sender (the
    /// highest sequence numbers); returns the sequence numbers of the sender's votes
    /// dropped.
    pub(super) fn insert(&mut self, checkpoint: Signed<Checkpoint>) -> Vec<Seq> {
        let replica = checkpoint.value.replica;
        self.votes
            .entry(checkpoint.value.seq)
            .or_default()
            .insert(replica, checkpoint);
        let mine: Vec<Seq> = self
            .votes
            .iter()
            .filter(|(_, by_replica)| by_replica.contains_key(&replica))
            .map(|(seq, _)| *seq)
            .collect();
        let dropped: Vec<Seq> = mine
            .iter()
            .take(mine.len().saturating_sub(CHECKPOINTS_PER_REPLICA_MAX))
            .copied()
            .collect();
        for seq in &dropped {
            if let Some(by_replica) = self.votes.get_mut(seq) {
                by_replica.remove(&replica);
                if by_replica.is_empty() {
                    self.votes.remove(seq);
                }
            }
        }
        dropped
    }

    /// A quorum of matching CHECKPOINTs for `seq`, if there is one.
    fn certificate(
        &self,
        seq: Seq,
        digest: Digest,
        quorums: Quorums,
    ) -> Option<CheckpointCertificate> {
        let votes = self.votes.get(&seq)?.values();
        let proof = quorums.matching(votes, &(seq, digest), quorums.quorum());
        (proof.len() >= quorums.quorum()).then(|| CheckpointCertificate {
            seq,
            state_digest: digest,
            proof: proof.into_iter().cloned().collect(),
        })
    }
}

impl Replica {
    /// The replica executed up to checkpoint `seq`, whose state has `state_digest`: keep
    /// the checkpoint and announce it (PBFT §4.3).
    pub(super) fn take_checkpoint(&mut self, seq: Seq, state_digest: Digest) {
        self.emit(Action::StoreCheckpoint {
            seq,
            state_digest,
            client_table: self.clients.clone(),
        });
        if seq <= self.low_watermark() {
            // The checkpoint became stable before this replica reached it.
            if seq == self.low_watermark() && self.checkpoints.stable.state_digest != state_digest {
                tracing::error!(
                    replica = %self.id, %seq,
                    "this replica's state differs from the stable checkpoint: fetching it"
                );
                let stable = self.checkpoints.stable.clone();
                self.start_transfer(&stable);
            }
            return;
        }
        self.checkpoints.own.insert(seq, state_digest);
        self.broadcast(Payload::Checkpoint(Checkpoint {
            seq,
            state_digest,
            replica: self.id,
        }));
    }

    /// PBFT §4.3: CHECKPOINT messages are accepted in any view (also during a view change);
    /// a quorum of matching ones for a sequence number makes that checkpoint stable.
    pub(super) fn on_checkpoint(&mut self, checkpoint: Signed<Checkpoint>) -> Result<(), Reject> {
        let Checkpoint {
            seq,
            state_digest,
            replica,
        } = checkpoint.value;
        if seq.0 == 0 || seq.0 % self.config.checkpoint_interval != 0 {
            return Err(Reject::NotCheckpointBoundary);
        }
        if seq <= self.low_watermark() {
            return Err(Reject::BelowLowWatermark);
        }
        if let Some(existing) = self
            .checkpoints
            .votes
            .get(&seq)
            .and_then(|by_replica| by_replica.get(&replica))
        {
            if existing.value.state_digest == state_digest {
                return Err(Reject::Duplicate);
            }
            let evidence = Evidence::Checkpoint {
                first: existing.clone(),
                second: checkpoint,
            };
            self.record_evidence(evidence);
            return Err(Reject::ConflictingMessage);
        }
        let dropped = self.checkpoints.insert(checkpoint.clone());
        if !self.is_own(replica) {
            // A vote beyond a window above the high watermark stays in memory only (within
            // the bound per sender): it can help this replica learn of a stable checkpoint
            // far ahead of it, and a peer cannot use it to fill the disk. What memory no
            // longer keeps, the disk does not either.
            if seq.0 <= self.high_watermark().0 + self.config.log_window {
                self.persist(PersistOp::Message(Message::Checkpoint(checkpoint)));
            }
            for seq in dropped {
                self.persist(PersistOp::ForgetMessage(MessageKey::Checkpoint {
                    seq,
                    replica,
                }));
            }
        }
        if let Some(certificate) = self
            .checkpoints
            .certificate(seq, state_digest, self.quorums())
        {
            self.stabilize(certificate);
        }
        Ok(())
    }

    /// Checks a checkpoint certificate carried by a VIEW-CHANGE: the genesis checkpoint, or
    /// a quorum of matching CHECKPOINTs from distinct replicas at a checkpoint boundary.
    pub(super) fn check_checkpoint_certificate(
        &self,
        certificate: &CheckpointCertificate,
    ) -> Result<(), Reject> {
        if certificate.seq.0 == 0 {
            let genesis =
                certificate.proof.is_empty() && certificate.state_digest == Digest::default();
            return if genesis {
                Ok(())
            } else {
                Err(Reject::InvalidCheckpointCertificate)
            };
        }
        if !certificate
            .seq
            .0
            .is_multiple_of(self.config.checkpoint_interval)
        {
            return Err(Reject::InvalidCheckpointCertificate);
        }
        let quorums = self.quorums();
        let subject = (certificate.seq, certificate.state_digest);
        quorums
            .check_certificate(&certificate.proof, &subject, quorums.quorum())
            .map_err(|_| Reject::InvalidCheckpointCertificate)?;
        Ok(())
    }

    /// Makes `certificate` the stable checkpoint if it is newer: the low watermark moves,
    /// and the log, checkpoint messages and stored records below it are discarded. A
    /// replica that has not executed up to it fetches the state (PBFT §4.3, §5.3.2).
    pub(super) fn stabilize(&mut self, certificate: CheckpointCertificate) {
        let seq = certificate.seq;
        if seq <= self.low_watermark() {
            return;
        }
        tracing::debug!(replica = %self.id, %seq, "checkpoint stable");
        self.persist(PersistOp::StableCheckpoint(certificate.clone()));
        self.persist(PersistOp::PruneBelow { seq });
        let own_digest = self.checkpoints.own.get(&seq).copied();
        self.checkpoints.stable = certificate.clone();
        self.checkpoints.votes = self.checkpoints.votes.split_off(&seq.next());
        self.checkpoints.own = self.checkpoints.own.split_off(&seq.next());
        self.log.prune(seq);
        let diverged = own_digest.is_some_and(|digest| digest != certificate.state_digest);
        if diverged {
            tracing::error!(
                replica = %self.id, %seq,
                "this replica's state differs from the stable checkpoint: fetching it"
            );
        }
        if self.last_executed < seq || diverged {
            self.start_transfer(&certificate);
        }
        if self.next_seq <= seq {
            self.next_seq = seq.next();
        }
        self.propose();
    }
}
