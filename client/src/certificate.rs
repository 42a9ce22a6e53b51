//! Commit certificates a client can keep and show to others: transferable proof that a
//! request was committed at a sequence number (PBFT §4.2).
//!
//! A reply's result travels over the client's authenticated connection and is believed
//! because f + 1 replicas agree on it; nobody else can check that later. A certificate is
//! signed by the replicas themselves, so anyone holding the cluster description (an
//! actuator, an auditor) can check it offline, with no connection to the cluster.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use rampart_crypto::{Digest, Ed25519, Signed, Verifier};
use rampart_replica::cluster::Cluster;
use rampart_replica::message::{
    ClientId, ReplicaId, Request, RequestKey, Seq, View, batch_digest, request_digest,
};
use rampart_replica::wire::CommitProof;

/// A request, the sequence number that ordered it, and the replicas' proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub request: Signed<Request>,
    pub seq: Seq,
    pub proof: CommitProof,
}

/// What a valid certificate proves: the batch with `digest` is committed at `seq`, and
/// `request` is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCommit {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
    pub request: RequestKey,
    /// The replicas whose COMMITs were checked, in id order.
    pub signers: Vec<ReplicaId>,
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
}

impl Certificate {
    /// Checks the certificate against the cluster description alone, with real ed25519
    /// signatures. See [`Certificate::verify_with`].
    pub fn verify(&self, cluster: &Cluster) -> Result<VerifiedCommit, CertificateError> {
        self.verify_with(cluster, &Ed25519::new())
    }

    /// Checks that a quorum (n - f) of distinct replicas of `cluster` signed COMMITs for
    /// one (view, seq, digest), that `seq` is that sequence number, that the request
    /// digests hash to the digest with this request's digest at `position`, and that the
    /// request's client signed it. Any quorum of COMMITs shares a correct replica with
    /// every other, so no other batch can ever commit at `seq` (PBFT §4.2, §4.4).
    pub fn verify_with(
        &self,
        cluster: &Cluster,
        verifier: &dyn Verifier,
    ) -> Result<VerifiedCommit, CertificateError> {
        let quorum = cluster.quorum();
        let Some(first) = self.proof.commits.first() else {
            return Err(CertificateError::BelowQuorum { signers: 0, quorum });
        };
        let (view, seq, digest) = (first.value.view, first.value.seq, first.value.digest);
        let mut signers = BTreeSet::new();
        for commit in &self.proof.commits {
            let replica = commit.value.replica;
            let key = cluster
                .key(replica)
                .ok_or(CertificateError::UnknownReplica { replica })?;
            if !signers.insert(replica) {
                return Err(CertificateError::DuplicateSigner { replica });
            }
            let value = &commit.value;
            if (value.view, value.seq, value.digest) != (view, seq, digest) {
                return Err(CertificateError::MismatchedCommits {
                    replica,
                    view,
                    seq,
                    found_view: value.view,
                    found_seq: value.seq,
                });
            }
            commit
                .verify(cluster.id, key, verifier)
                .map_err(|_| CertificateError::ForgedSignature { replica })?;
        }
        if signers.len() < quorum {
            return Err(CertificateError::BelowQuorum {
                signers: signers.len(),
                quorum,
            });
        }
        if self.seq != seq {
            return Err(CertificateError::WrongSeq {
                claimed: self.seq,
                committed: seq,
            });
        }
        let computed = batch_digest(&self.proof.request_digests);
        if computed != digest {
            return Err(CertificateError::WrongBatchDigest {
                computed,
                committed: digest,
            });
        }
        let position = self.proof.position;
        let in_batch = self.proof.request_digests.get(position as usize);
        if in_batch != Some(&request_digest(&self.request)) {
            return Err(CertificateError::RequestNotInBatch {
                position,
                batch_len: self.proof.request_digests.len(),
            });
        }
        let client = self.request.value.client;
        self.request
            .verify(cluster.id, client.0, verifier)
            .map_err(|_| CertificateError::BadClientSignature { client })?;
        Ok(VerifiedCommit {
            view,
            seq,
            digest,
            request: self.request.value.key(),
            signers: signers.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests;
