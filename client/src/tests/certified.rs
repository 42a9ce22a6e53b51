//! Certified requests: the result with a commit certificate anyone can check offline.

use bytes::Bytes;

use rampart_crypto::Signature;
use rampart_protocol::message::{Seq, View};

use super::fake_cluster::{FakeCluster, all_answer, receiver_answers, reply, reply_with_proof};
use crate::Client;
use crate::test_support::{client_key, commit_proof, test_cluster};

#[tokio::test]
async fn a_certified_submit_returns_a_certificate_that_verifies_offline() {
    let (_, keys) = test_cluster();
    // Replicas 0 and 1 reply without proof. Replica 3 first attaches a proof with a
    // forged COMMIT, then a genuine one on the same stream; only the genuine one may end
    // up in the certificate.
    // Replica 1 signs its reply; replica 0 replies unsigned, so the certificate needs
    // replica 3's signed reply as the second of f + 1.
    let fake = FakeCluster::start(all_answer(move |replica, arrival| match replica.0 {
        0 => vec![reply(arrival, replica, View(0), b"done")],
        1 => vec![reply_with_proof(
            arrival,
            replica,
            View(0),
            b"done",
            None,
            Some(&keys[1]),
        )],
        3 => {
            let genuine = commit_proof(&keys, &[0, 1, 2], &arrival.request, View(0), Seq(1), &[]);
            let mut forged = genuine.clone();
            forged.commits[0].signature = Signature([3; 64]);
            vec![
                reply_with_proof(
                    arrival,
                    replica,
                    View(0),
                    b"done",
                    Some(forged),
                    Some(&keys[3]),
                ),
                reply_with_proof(
                    arrival,
                    replica,
                    View(0),
                    b"done",
                    Some(genuine),
                    Some(&keys[3]),
                ),
            ]
        }
        _ => vec![],
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    let (result, certificate) = client
        .submit_certified(Bytes::from_static(b"shut down unit 3"))
        .await
        .expect("accepted");
    assert_eq!(result, Bytes::from_static(b"done"));
    assert!(client.stats().certificates_refused >= 1);
    let arrivals = fake.arrivals();
    let arrival = &arrivals[0];
    assert!(arrival.certify);
    assert_eq!(certificate.request, arrival.request);

    // Checked with nothing but the cluster description.
    client.close().await;
    drop(fake);
    let verified = certificate.verify(&test_cluster().0).expect("verifies");
    assert_eq!(verified.seq, Seq(1));
    assert_eq!(verified.request, arrival.request.value.key());
    assert_eq!(verified.result, Bytes::from_static(b"done"));
    assert_eq!(verified.reply_signers.len(), 2);
}

#[tokio::test]
async fn a_reply_signed_by_another_replica_does_not_count() {
    let (_, keys) = test_cluster();
    // Replica 2 signs its reply with replica 1's key: the signature does not match the
    // replica the transport authenticated, so only one signed reply counts and the
    // certified request waits for more.
    let fake = FakeCluster::start(all_answer(move |replica, arrival| match replica.0 {
        1 | 2 => vec![reply_with_proof(
            arrival,
            replica,
            View(0),
            b"done",
            Some(commit_proof(
                &keys,
                &[0, 1, 2],
                &arrival.request,
                View(0),
                Seq(1),
                &[],
            )),
            Some(&keys[1]),
        )],
        _ => vec![],
    }))
    .await;
    let mut config = fake.client_config();
    config.request_timeout = std::time::Duration::from_secs(2);
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    let outcome = client.submit_certified(Bytes::from_static(b"op")).await;
    assert!(
        outcome.is_err(),
        "a certificate with one genuine signed reply was accepted"
    );
    assert!(client.stats().certificates_refused >= 1);
    client.close().await;
}

#[tokio::test]
async fn a_certified_request_goes_to_every_replica_at_once() {
    let (_, keys) = test_cluster();
    // As real replicas do, only a replica that received the request signs its reply. With
    // a first retransmission later than the request timeout, the request succeeds only if
    // f + 1 replicas received it the first time.
    let fake = FakeCluster::start(receiver_answers(move |replica, arrival| {
        let proof = commit_proof(&keys, &[0, 1, 2], &arrival.request, View(0), Seq(1), &[]);
        vec![reply_with_proof(
            arrival,
            replica,
            View(0),
            b"done",
            Some(proof),
            Some(&keys[replica.0 as usize]),
        )]
    }))
    .await;
    let mut config = fake.client_config();
    config.request_timeout = std::time::Duration::from_secs(5);
    config.retransmit_interval_min = std::time::Duration::from_secs(10);
    config.retransmit_interval_max = config.retransmit_interval_min;
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    let (_, certificate) = client
        .submit_certified(Bytes::from_static(b"op"))
        .await
        .expect("accepted without a retransmission");
    let receivers = fake.receivers_of(certificate.request.value.number);
    assert_eq!(receivers.len(), 4, "sent to {receivers:?}");
    client.close().await;
}
