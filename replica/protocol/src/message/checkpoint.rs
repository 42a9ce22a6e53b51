//! Checkpoints (PBFT §4.3): CHECKPOINT, and the certificate that makes one stable.

use serde::{Deserialize, Serialize};

use rampart_crypto::{Digest, Signable, Signed};

use super::ids::{ReplicaId, Seq};

/// CHECKPOINT (PBFT §4.3): the replica's state after executing `seq` has `state_digest`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: Seq,
    pub state_digest: Digest,
    pub replica: ReplicaId,
}

impl Signable for Checkpoint {
    const KIND: &'static str = "checkpoint";
}

/// A stable checkpoint with its proof: a quorum of matching CHECKPOINT messages (PBFT
/// §4.3). The genesis checkpoint, sequence number 0, needs no proof.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CheckpointCertificate {
    pub seq: Seq,
    pub state_digest: Digest,
    pub proof: Vec<Signed<Checkpoint>>,
}

impl CheckpointCertificate {
    pub fn genesis() -> CheckpointCertificate {
        CheckpointCertificate {
            seq: Seq(0),
            state_digest: Digest::default(),
            proof: Vec::new(),
        }
    }
}
