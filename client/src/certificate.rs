//! Commit certificates a client can keep and show to others: transferable proof that a
//! request was committed at a sequence number (PBFT §4.2), and of what it returned.
//!
//! A reply's result travels over the client's authenticated connection and is believed
//! because f + 1 replicas agree on it; nobody else can check that later. A certificate is
//! signed by the replicas themselves, so anyone holding the cluster description (an
//! actuator, an auditor) can check it offline, with no connection to the cluster:
//!
//! - a quorum of COMMITs for the sequence number, with the digests of the batch's
//!   requests, proves the request was committed there and nothing else ever will be;
//! - f + 1 replies signed by distinct replicas with the same result prove the result,
//!   because at least one of them comes from a correct replica, and correct replicas
//!   execute the same requests in the same order.

use serde::{Deserialize, Serialize};

use bytes::Bytes;
use rampart_crypto::{Digest, Ed25519, Signed, Verifier};
use rampart_protocol::cluster::Cluster;
use rampart_protocol::core::quorum::CertificateFault;
use rampart_protocol::message::{
    ClientId, ReplicaId, Reply, Request, RequestKey, Seq, View, batch_digest, request_digest,
};
use rampart_protocol::wire::CommitProof;

/// A request, the sequence number that ordered it, the replicas' proof of the commit, and
/// their signed replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub request: Signed<Request>,
    pub seq: Seq,
    pub proof: CommitProof,
    /// f + 1 replies from distinct replicas, each signed by its replica.
    pub replies: Vec<Signed<Reply>>,
}

/// What a valid certificate proves: the batch with `digest` is committed at `seq`,
/// `request` is in it, and executing it returned `result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCommit {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
    pub request: RequestKey,
    pub result: Bytes,
    /// The replicas whose COMMITs were checked, in id order.
    pub signers: Vec<ReplicaId>,
    /// The replicas whose signed replies were checked, in id order.
    pub reply_signers: Vec<ReplicaId>,
}

/// Why a certificate proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("the COMMIT of {replica} does not carry a valid signature by that replica")]
    ForgedSignature { replica: ReplicaId },
    #[error("{signers} replicas signed, but a commit certificate needs {quorum}")]
    BelowQuorum { signers: usize, quorum: usize },
    #[error("{replica} signed more than one COMMIT")]
    DuplicateSigner { replica: ReplicaId },
    #[error("{replica} is not a replica of this cluster")]
    UnknownReplica { replica: ReplicaId },
    #[error(
        "the COMMIT of {replica} is for ({found_view}, {found_seq}), not ({view}, {seq}) and \
         the same digest as the others"
    )]
    MismatchedCommits {
        replica: ReplicaId,
        view: View,
        seq: Seq,
        found_view: View,
        found_seq: Seq,
    },
    #[error("the certificate names {claimed}, but the COMMITs are for {committed}")]
    WrongSeq { claimed: Seq, committed: Seq },
    #[error("the request digests hash to {computed}, not the committed batch digest {committed}")]
    WrongBatchDigest { computed: Digest, committed: Digest },
    #[error("the request is not at position {position} of the committed batch of {batch_len}")]
    RequestNotInBatch { position: u32, batch_len: usize },
    #[error("the request does not carry a valid signature by its client {client}")]
    BadClientSignature { client: ClientId },
    #[error("the reply of {replica} does not carry a valid signature by that replica")]
    ForgedReply { replica: ReplicaId },
    #[error("{replica} signed more than one reply")]
    DuplicateReply { replica: ReplicaId },
    #[error("the reply of {replica} is for another request, sequence number or result")]
    MismatchedReply { replica: ReplicaId },
    #[error("{replies} signed replies agree, but proving a result needs {needed}")]
    TooFewReplies { replies: usize, needed: usize },
}

impl Certificate {
    /// Checks the certificate against the cluster description alone, with real ed25519
    /// signatures. See [`Certificate::verify_with`].
    pub fn verify(&self, cluster: &Cluster) -> Result<VerifiedCommit, CertificateError> {
        self.verify_with(cluster, &Ed25519::new())
    }

    /// Checks the commit proof ([`verify_commit`]) and that f + 1 distinct replicas signed
    /// replies to this request at `seq` with one and the same result.
    pub fn verify_with(
        &self,
        cluster: &Cluster,
        verifier: &dyn Verifier,
    ) -> Result<VerifiedCommit, CertificateError> {
        let commit = verify_commit(&self.request, self.seq, &self.proof, cluster, verifier)?;
        let needed = cluster.weak_quorum();
        let Some(first) = self.replies.first() else {
            return Err(CertificateError::TooFewReplies { replies: 0, needed });
        };
        let result = first.value.result.clone();
        let request = &self.request.value;
        let subject = (request.client, request.number, self.seq, result.clone());
        let mut reply_signers = cluster
            .quorums()
            .check_certificate(&self.replies, &subject, needed)
            .map_err(|fault| match fault {
                CertificateFault::Outsider { replica } => {
                    CertificateError::UnknownReplica { replica }
                }
                CertificateFault::Duplicate { replica } => {
                    CertificateError::DuplicateReply { replica }
                }
                CertificateFault::Mismatch { replica } => {
                    CertificateError::MismatchedReply { replica }
                }
                CertificateFault::TooFew { voters, needed } => CertificateError::TooFewReplies {
                    replies: voters,
                    needed,
                },
            })?;
        for reply in &self.replies {
            verify_reply(&self.request, self.seq, reply, cluster, verifier)?;
        }
        reply_signers.sort_unstable();
        Ok(VerifiedCommit {
            result,
            reply_signers,
            ..commit
        })
    }
}

/// Checks that a quorum (n - f) of distinct replicas of `cluster` signed COMMITs for one
/// (view, seq, digest), that `seq` is that sequence number, that the request digests hash
/// to the digest with this request's digest at `position`, and that the request's client
/// signed it. Any quorum of COMMITs shares a correct replica with every other, so no other
/// batch can ever commit at `seq` (PBFT §4.2, §4.4). The result is not checked here.
pub fn verify_commit(
    request: &Signed<Request>,
    claimed_seq: Seq,
    proof: &CommitProof,
    cluster: &Cluster,
    verifier: &dyn Verifier,
) -> Result<VerifiedCommit, CertificateError> {
    let quorum = cluster.quorum();
    let Some(first) = proof.commits.first() else {
        return Err(CertificateError::BelowQuorum { signers: 0, quorum });
    };
    let (view, seq, digest) = (first.value.view, first.value.seq, first.value.digest);
    // The quorum first, as the core counts it; then the signatures, which cost more.
    let mut signers = cluster
        .quorums()
        .check_certificate(&proof.commits, &(view, seq, digest), quorum)
        .map_err(|fault| match fault {
            CertificateFault::Outsider { replica } => CertificateError::UnknownReplica { replica },
            CertificateFault::Duplicate { replica } => {
                CertificateError::DuplicateSigner { replica }
            }
            CertificateFault::Mismatch { replica } => {
                let found = proof
                    .commits
                    .iter()
                    .find(|commit| commit.value.replica == replica)
                    .map_or((view, seq), |commit| (commit.value.view, commit.value.seq));
                CertificateError::MismatchedCommits {
                    replica,
                    view,
                    seq,
                    found_view: found.0,
                    found_seq: found.1,
                }
            }
            CertificateFault::TooFew { voters, needed } => CertificateError::BelowQuorum {
                signers: voters,
                quorum: needed,
            },
        })?;
    for commit in &proof.commits {
        let replica = commit.value.replica;
        let key = cluster
            .key(replica)
            .ok_or(CertificateError::UnknownReplica { replica })?;
        commit
            .verify(cluster.id, key, verifier)
            .map_err(|_| CertificateError::ForgedSignature { replica })?;
    }
    signers.sort_unstable();
    if claimed_seq != seq {
        return Err(CertificateError::WrongSeq {
            claimed: claimed_seq,
            committed: seq,
        });
    }
    let computed = batch_digest(&proof.request_digests);
    if computed != digest {
        return Err(CertificateError::WrongBatchDigest {
            computed,
            committed: digest,
        });
    }
    let position = proof.position;
    let in_batch = proof.request_digests.get(position as usize);
    if in_batch != Some(&request_digest(request)) {
        return Err(CertificateError::RequestNotInBatch {
            position,
            batch_len: proof.request_digests.len(),
        });
    }
    let client = request.value.client;
    request
        .verify(cluster.id, client.0, verifier)
        .map_err(|_| CertificateError::BadClientSignature { client })?;
    Ok(VerifiedCommit {
        view,
        seq,
        digest,
        request: request.value.key(),
        result: Bytes::new(),
        signers,
        reply_signers: Vec::new(),
    })
}

/// Checks that `reply` answers `request` at `seq` and is signed by the replica it names.
pub fn verify_reply(
    request: &Signed<Request>,
    seq: Seq,
    reply: &Signed<Reply>,
    cluster: &Cluster,
    verifier: &dyn Verifier,
) -> Result<(), CertificateError> {
    let replica = reply.value.replica;
    let key = cluster
        .key(replica)
        .ok_or(CertificateError::UnknownReplica { replica })?;
    let value = &reply.value;
    if value.client != request.value.client
        || value.number != request.value.number
        || value.seq != seq
    {
        return Err(CertificateError::MismatchedReply { replica });
    }
    reply
        .verify(cluster.id, key, verifier)
        .map_err(|_| CertificateError::ForgedReply { replica })
}

#[cfg(test)]
mod tests;
