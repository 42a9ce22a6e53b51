//! PBFT §4.2: a commit certificate is a quorum of COMMITs from distinct replicas for one
//! (view, seq, digest); each check of [`Certificate::verify`] refuses one kind of forgery.

use super::*;
use crate::test_support::{
    client_key, commit_proof, signed_commit, signed_reply, signed_request, test_cluster,
};
use rampart_crypto::{KeyPair, Signature};

fn genuine() -> Certificate {
    let (_, keys) = test_cluster();
    let client = client_key();
    let request = signed_request(&client, 7, b"shut down unit 3");
    let other = signed_request(&KeyPair::from_seed(2_000), 1, b"other");
    let proof = commit_proof(&keys, &[0, 1, 3], &request, View(2), Seq(40), &[other]);
    let replies = vec![
        signed_reply(&keys, 1, &request, Seq(40), b"shut down"),
        signed_reply(&keys, 3, &request, Seq(40), b"shut down"),
    ];
    Certificate {
        request,
        seq: Seq(40),
        proof,
        replies,
    }
}

#[test]
fn a_genuine_certificate_verifies_offline() {
    let (cluster, _) = test_cluster();
    let certificate = genuine();
    let verified = certificate.verify(&cluster).expect("genuine");
    assert_eq!(verified.seq, Seq(40));
    assert_eq!(verified.view, View(2));
    assert_eq!(verified.request, certificate.request.value.key());
    assert_eq!(
        verified.signers,
        vec![ReplicaId(0), ReplicaId(1), ReplicaId(3)]
    );
    assert_eq!(verified.result, bytes::Bytes::from_static(b"shut down"));
    assert_eq!(verified.reply_signers, vec![ReplicaId(1), ReplicaId(3)]);
    // It survives being stored and shipped.
    let bytes = rampart_protocol::message::encode(&certificate);
    let shipped: Certificate =
        rampart_protocol::message::decode("certificate", &bytes).expect("decodes");
    assert_eq!(shipped.verify(&cluster), Ok(verified));
}

#[test]
fn a_forged_signature_is_refused() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    certificate.proof.commits[1].signature = Signature([7; 64]);
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::ForgedSignature {
            replica: ReplicaId(1)
        })
    );

    // A COMMIT signed by the wrong replica's key, claiming to be replica 2's.
    let (_, keys) = test_cluster();
    let mut certificate = genuine();
    let digests = certificate.proof.request_digests.clone();
    let mut impostor = signed_commit(&keys, 3, View(2), Seq(40), &digests);
    impostor.value.replica = ReplicaId(2);
    certificate.proof.commits[2] = impostor;
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::ForgedSignature {
            replica: ReplicaId(2)
        })
    );
}

#[test]
fn a_missing_signature_leaves_the_certificate_below_quorum() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    certificate.proof.commits.pop();
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::BelowQuorum {
            signers: 2,
            quorum: 3
        })
    );
    certificate.proof.commits.clear();
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::BelowQuorum {
            signers: 0,
            quorum: 3
        })
    );
}

#[test]
fn a_duplicated_signer_counts_once_and_is_refused() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    let copy = certificate.proof.commits[0].clone();
    certificate.proof.commits[2] = copy;
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::DuplicateSigner {
            replica: ReplicaId(0)
        })
    );
}

#[test]
fn a_signer_outside_the_cluster_is_refused() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    certificate.proof.commits[2].value.replica = ReplicaId(4);
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::UnknownReplica {
            replica: ReplicaId(4)
        })
    );
}

#[test]
fn commits_for_different_slots_are_refused() {
    let (cluster, keys) = test_cluster();
    let mut certificate = genuine();
    let digests = certificate.proof.request_digests.clone();
    certificate.proof.commits[2] = signed_commit(&keys, 3, View(2), Seq(41), &digests);
    assert!(matches!(
        certificate.verify(&cluster),
        Err(CertificateError::MismatchedCommits {
            replica: ReplicaId(3),
            ..
        })
    ));
}

#[test]
fn a_certificate_naming_another_seq_is_refused() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    certificate.seq = Seq(41);
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::WrongSeq {
            claimed: Seq(41),
            committed: Seq(40)
        })
    );
}

#[test]
fn the_wrong_position_or_the_wrong_request_is_refused() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    certificate.proof.position = 0;
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::RequestNotInBatch {
            position: 0,
            batch_len: 2
        })
    );
    certificate.proof.position = 9;
    assert!(matches!(
        certificate.verify(&cluster),
        Err(CertificateError::RequestNotInBatch { position: 9, .. })
    ));

    // Another request of the same client, genuinely signed but never committed here.
    let mut certificate = genuine();
    certificate.request = signed_request(&client_key(), 8, b"shut down unit 4");
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::RequestNotInBatch {
            position: 1,
            batch_len: 2
        })
    );
}

#[test]
fn request_digests_that_do_not_hash_to_the_committed_digest_are_refused() {
    let (cluster, _) = test_cluster();
    let mut certificate = genuine();
    // Drop the other request: the list still holds this request, but is not the batch.
    certificate.proof.request_digests.remove(0);
    certificate.proof.position = 0;
    assert!(matches!(
        certificate.verify(&cluster),
        Err(CertificateError::WrongBatchDigest { .. })
    ));
}

#[test]
fn a_request_without_its_clients_signature_is_refused() {
    // Replicas verify client signatures before ordering, so this takes a quorum that
    // committed a forged request; the certificate still does not vouch for the client.
    let (cluster, keys) = test_cluster();
    let mut request = signed_request(&client_key(), 7, b"shut down unit 3");
    request.signature = Signature([1; 64]);
    let proof = commit_proof(&keys, &[0, 1, 2], &request, View(0), Seq(3), &[]);
    let replies = vec![
        signed_reply(&keys, 0, &request, Seq(3), b"ok"),
        signed_reply(&keys, 1, &request, Seq(3), b"ok"),
    ];
    let certificate = Certificate {
        request,
        seq: Seq(3),
        proof,
        replies,
    };
    assert_eq!(
        certificate.verify(&cluster),
        Err(CertificateError::BadClientSignature {
            client: ClientId(client_key().public_key())
        })
    );
}

#[test]
fn a_result_needs_f_plus_1_distinct_genuine_signed_replies() {
    let (cluster, keys) = test_cluster();

    let mut missing = genuine();
    missing.replies.pop();
    assert_eq!(
        missing.verify(&cluster),
        Err(CertificateError::TooFewReplies {
            replies: 1,
            needed: 2
        })
    );

    let mut duplicated = genuine();
    duplicated.replies[1] = duplicated.replies[0].clone();
    assert_eq!(
        duplicated.verify(&cluster),
        Err(CertificateError::DuplicateReply {
            replica: ReplicaId(1)
        })
    );

    let mut forged = genuine();
    forged.replies[1].signature = Signature([9; 64]);
    assert_eq!(
        forged.verify(&cluster),
        Err(CertificateError::ForgedReply {
            replica: ReplicaId(3)
        })
    );

    // A faulty replica reporting another result cannot make it count.
    let mut disagreeing = genuine();
    let request = disagreeing.request.clone();
    disagreeing.replies[1] = signed_reply(&keys, 3, &request, Seq(40), b"continue");
    assert_eq!(
        disagreeing.verify(&cluster),
        Err(CertificateError::MismatchedReply {
            replica: ReplicaId(3)
        })
    );

    // A reply to another sequence number is not a reply to this commit.
    let mut elsewhere = genuine();
    elsewhere.replies[1] = signed_reply(&keys, 3, &request, Seq(41), b"shut down");
    assert_eq!(
        elsewhere.verify(&cluster),
        Err(CertificateError::MismatchedReply {
            replica: ReplicaId(3)
        })
    );
}
