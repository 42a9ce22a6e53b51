//! Certified requests: the result with a commit certificate anyone can check offline.

use bytes::Bytes;

use rampart_crypto::Signature;
use rampart_replica::message::{Seq, View};

use super::fake_cluster::{FakeCluster, all_answer, reply, reply_with_proof};
use crate::Client;
use crate::test_support::{client_key, commit_proof, test_cluster};

#[tokio::test]
async fn a_certified_submit_returns_a_certificate_that_verifies_offline() {
    let (_, keys) = test_cluster();
    // Replicas 0 and 1 reply without proof. Replica 3 first attaches a proof with a
    // forged COMMIT, then a genuine one on the same stream; only the genuine one may end
    // up in the certificate.
    let fake = FakeCluster::start(all_answer(move |replica, arrival| match replica.0 {
        0 | 1 => vec![reply(arrival, replica, View(0), b"done")],
        3 => {
            let genuine = commit_proof(&keys, &[0, 1, 2], &arrival.request, View(0), Seq(1), &[]);
            let mut forged = genuine.clone();
            forged.commits[0].signature = Signature([3; 64]);
            vec![
                reply_with_proof(arrival, replica, View(0), b"done", Some(forged)),
                reply_with_proof(arrival, replica, View(0), b"done", Some(genuine)),
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
}
