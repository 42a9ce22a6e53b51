//! The client's decoders: the frames replicas answer with (`client/src/router.rs`), the
//! commit proofs and signed replies in them (`client/src/certificate.rs`), and certificate
//! files (`rampart interlock verify`).

use std::io::Write;
use std::sync::OnceLock;

use rampart_crypto::Signed;
use rampart_replica::core::quorum::{ResultVote, accepted_result};
use rampart_replica::message::Seq;
use rampart_replica::wire::{CommitProof, ReplicaFrame};

use rampart_client::{Certificate, CertificateError, VerifiedCommit};
use rampart_deploy::client::certificate::{HEADER, read};

use super::{decoded, outcome};
use crate::Outcome;
use crate::fixture::fixture;

pub fn replica_frame(data: &[u8]) -> Outcome {
    let Some(frame) = decoded::<ReplicaFrame>("replica frame", data) else {
        return Outcome::Refused;
    };
    match frame {
        ReplicaFrame::Reply {
            reply,
            certificate,
            signature,
            ..
        } => {
            reply.key();
            let f = fixture();
            accepted_result(
                &[(reply.replica, ResultVote::of(&reply))],
                f.cluster.quorums(),
                true,
            );
            let Some(proof) = certificate else {
                return Outcome::Accepted;
            };
            // As the client checks a proof for its own request: the request it sent.
            let request = f.request(0, reply.number, false);
            let seq = reply.seq;
            let replies = signature
                .map(|signature| Signed {
                    value: reply,
                    signature,
                })
                .into_iter()
                .collect();
            let certificate = Certificate {
                request,
                seq,
                proof,
                replies,
            };
            proof_outcome(certificate.verify(&f.cluster))
        }
        ReplicaFrame::Refused { refusal, .. } => {
            refusal.to_string();
            Outcome::Accepted
        }
        ReplicaFrame::StatusAnswer { view, .. } => {
            // Any view names a primary: the client counts the answer only with f others.
            view.primary(fixture().cluster.size());
            Outcome::Accepted
        }
    }
}

/// Checks a commit proof for the fixture's first request, as a client does.
pub(crate) fn check_proof(proof: CommitProof) -> Outcome {
    let f = fixture();
    let seq = proof.commits.first().map_or(Seq(1), |c| c.value.seq);
    let certificate = Certificate {
        request: f.request(0, 1, false),
        seq,
        proof,
        replies: Vec::new(),
    };
    proof_outcome(certificate.verify(&f.cluster))
}

/// A proof checked with fewer signed replies than a whole certificate needs: the commit
/// proof is what is checked, and the replies it comes with.
fn proof_outcome(result: Result<VerifiedCommit, CertificateError>) -> Outcome {
    match result {
        Ok(_) | Err(CertificateError::TooFewReplies { .. }) => Outcome::Accepted,
        Err(_) => Outcome::Refused,
    }
}

/// A certificate file: written to disk and read back by the command that checks
/// certificates, then verified against the fixture's cluster.
pub fn certificate_file(data: &[u8]) -> Outcome {
    static DIRECTORY: OnceLock<tempfile::TempDir> = OnceLock::new();
    let directory = DIRECTORY.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let path = directory.path().join("certificate");
    let mut file = std::fs::File::create(&path).expect("a temporary file");
    file.write_all(data).expect("written");
    drop(file);
    let Ok(certificate) = read(&path) else {
        return Outcome::Refused;
    };
    assert!(
        data.starts_with(HEADER),
        "a file without the header was read"
    );
    outcome(certificate.verify(&fixture().cluster))
}
