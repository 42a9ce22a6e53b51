//! Read-only requests (PBFT §5.1.3): 2f + 1 matching answers, or the ordered path.

use bytes::Bytes;

use rampart_protocol::message::View;

use super::fake_cluster::{FakeCluster, all_answer, receiver_answers, reply};
use crate::Client;
use crate::test_support::client_key;

#[tokio::test]
async fn read_only_accepts_2f_plus_1_matching_answers() {
    // Replica 3 answers differently; three matching answers are enough.
    let fake = FakeCluster::start(receiver_answers(|replica, arrival| {
        let answer: &[u8] = if replica.0 == 3 { b"x=0" } else { b"x=1" };
        vec![reply(arrival, replica, View(0), answer)]
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    let result = client
        .query(Bytes::from_static(b"get x"))
        .await
        .expect("answered");
    assert_eq!(result, Bytes::from_static(b"x=1"));
    assert!(fake.arrivals().iter().all(|arrival| arrival.read_only()));
    client.close().await;
}

#[tokio::test]
async fn read_only_disagreement_falls_back_to_the_ordered_path() {
    // Read-only answers differ on every replica (a write in progress); ordered, the
    // operation gets one result.
    let fake = FakeCluster::start(all_answer(|replica, arrival| {
        if arrival.read_only() {
            if arrival.replica != replica {
                return vec![];
            }
            let answer = format!("x={}", replica.0);
            return vec![reply(arrival, replica, View(0), answer.as_bytes())];
        }
        vec![reply(arrival, replica, View(0), b"x=ordered")]
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    let result = client
        .query(Bytes::from_static(b"get x"))
        .await
        .expect("answered");
    assert_eq!(result, Bytes::from_static(b"x=ordered"));
    let arrivals = fake.arrivals();
    let read_only = arrivals
        .iter()
        .find(|a| a.read_only())
        .expect("read-only sent");
    let ordered = arrivals
        .iter()
        .find(|a| !a.read_only())
        .expect("ordered sent");
    assert!(
        ordered.number() > read_only.number(),
        "a fresh request number"
    );
    assert_eq!(ordered.operation(), b"get x");
    client.close().await;
}
