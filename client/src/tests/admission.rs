//! Admission: a client whose key the replicas do not admit is told so at once, rather
//! than after its request timeout; with open admission any key is served.

use std::time::Duration;

use bytes::Bytes;

use rampart_crypto::KeyPair;
use rampart_protocol::cluster::ClientAdmission;
use rampart_protocol::message::View;

use super::fake_cluster::{Arrival, FakeCluster, all_answer, reply};
use crate::test_support::client_key;
use crate::{Client, ClientError};

fn echo(arrival: &Arrival) -> Vec<u8> {
    [b"ok:".as_slice(), arrival.operation()].concat()
}

fn serving_everyone() -> super::fake_cluster::Behaviour {
    all_answer(|replica, arrival| vec![reply(arrival, replica, View(0), &echo(arrival))])
}

/// Connects and submits once; the error of whichever step fails.
async fn submit_once(fake: &FakeCluster, key: KeyPair) -> Result<Bytes, ClientError> {
    let mut config = fake.client_config();
    // Far longer than the test may take: a refusal must come from the replicas' answer,
    // not from a timeout.
    config.request_timeout = Duration::from_secs(600);
    config.connect_timeout = Duration::from_secs(600);
    let client = Client::connect(config, key).await?;
    let result = client.submit(Bytes::from_static(b"put x 1")).await;
    client.close().await;
    result
}

#[tokio::test]
async fn an_unlisted_key_gets_not_admitted_instead_of_a_timeout() {
    let listed = KeyPair::from_seed(31);
    let fake = FakeCluster::start_admitting(
        serving_everyone(),
        ClientAdmission::listed([listed.public_key()]),
    )
    .await;
    let stranger = client_key();
    match submit_once(&fake, stranger.clone()).await {
        Err(ClientError::NotAdmitted { key, refused_by }) => {
            assert_eq!(key, stranger.public_key());
            assert!(
                refused_by >= 2,
                "f + 1 replicas must refuse, got {refused_by}"
            );
        }
        other => panic!("expected NotAdmitted, got {other:?}"),
    }
    assert!(
        fake.arrivals().is_empty(),
        "a refused client's request was read"
    );
    let served = submit_once(&fake, listed)
        .await
        .expect("a listed client is served");
    assert_eq!(served, Bytes::from_static(b"ok:put x 1"));
}

#[tokio::test]
async fn the_default_admits_no_client() {
    let fake = FakeCluster::start_admitting(serving_everyone(), ClientAdmission::default()).await;
    let error = submit_once(&fake, client_key()).await.expect_err("refused");
    assert!(matches!(error, ClientError::NotAdmitted { .. }), "{error}");
    assert!(error.to_string().contains("[clients]"), "{error}");
}

#[tokio::test]
async fn open_admission_serves_any_key() {
    let fake = FakeCluster::start_admitting(serving_everyone(), ClientAdmission::Open).await;
    let result = submit_once(&fake, KeyPair::from_seed(4_242))
        .await
        .expect("served");
    assert_eq!(result, Bytes::from_static(b"ok:put x 1"));
}
