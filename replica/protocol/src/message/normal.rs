//! The normal case (PBFT §4.2): PRE-PREPARE, PREPARE and COMMIT, and the certificates
//! made of them: prepared (§4.4) and committed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use rampart_crypto::{Digest, Signable, Signed};

use super::ids::{ReplicaId, Seq, View};
use super::request::{Batch, RequestKey, request_digest};

/// An upper bound on the encoded size of one signed protocol message of a few fixed
/// fields (PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT): view and sequence number (bincode's
/// variable-length integers at their longest), a digest, a replica id, a signature.
pub const SIGNED_MESSAGE_BYTES_MAX: usize = 160;

/// PRE-PREPARE (PBFT §4.2): the primary of `view` assigns `seq` to the batch with `digest`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PrePrepare {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
}

impl Signable for PrePrepare {
    const KIND: &'static str = "pre-prepare";
}

/// PREPARE (PBFT §4.2): a backup accepted the pre-prepare for (view, seq, digest).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Prepare {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
    pub replica: ReplicaId,
}

impl Signable for Prepare {
    const KIND: &'static str = "prepare";
}

/// COMMIT (PBFT §4.2): the replica has prepared (view, seq, digest).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Commit {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
    pub replica: ReplicaId,
}

impl Signable for Commit {
    const KIND: &'static str = "commit";
}

/// A prepared certificate (PBFT §4.4): the pre-prepare and a quorum minus one of matching
/// prepares from distinct backups.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PreparedCertificate {
    pub pre_prepare: Signed<PrePrepare>,
    pub prepares: Vec<Signed<Prepare>>,
}

impl PreparedCertificate {
    pub fn view(&self) -> View {
        self.pre_prepare.value.view
    }

    pub fn seq(&self) -> Seq {
        self.pre_prepare.value.seq
    }

    pub fn digest(&self) -> Digest {
        self.pre_prepare.value.digest
    }
}

/// A commit certificate: a quorum (2f + 1) of matching COMMITs for one view, sequence
/// number and digest, with the batch. It proves the batch is committed at that sequence
/// number (PBFT §4.2: committed(m, v, n) holds at f + 1 correct replicas), whatever view
/// the holder is in. Replicas relay it to peers that missed the decision, and clients use
/// it as transferable proof of a result.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CommitCertificate {
    pub commits: Vec<Signed<Commit>>,
    pub batch: Arc<Batch>,
}

impl CommitCertificate {
    /// The (view, seq, digest) the commits are for, taken from the first one; an empty
    /// certificate has none.
    pub fn subject(&self) -> Option<(View, Seq, Digest)> {
        self.commits
            .first()
            .map(|c| (c.value.view, c.value.seq, c.value.digest))
    }

    /// The proof that the request `key` was committed, if the batch holds it: the commits,
    /// and the batch as request digests, which is all a client needs to check it.
    pub fn proof_for(&self, key: RequestKey) -> Option<CommitProof> {
        let requests = &self.batch.requests;
        let position = requests.iter().position(|r| r.value.key() == key)?;
        Some(CommitProof {
            commits: self.commits.clone(),
            request_digests: requests.iter().map(request_digest).collect(),
            position: u32::try_from(position).ok()?,
        })
    }
}

/// What proves a request was committed: a quorum of COMMITs for its sequence number, and
/// the digests of every request in the batch, which hash to the committed digest and hold
/// the request's own digest at `position`. Clients keep it in their certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitProof {
    pub commits: Vec<Signed<Commit>>,
    pub request_digests: Vec<Digest>,
    pub position: u32,
}
