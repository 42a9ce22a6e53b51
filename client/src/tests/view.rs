//! The view (PBFT §4.1): a client asks every replica for it when it starts, believes what
//! f + 1 of them say, and asks every replica to answer a request whose designated repliers
//! in that view include one it has not heard from, so that a fresh client after a view
//! change needs no retransmission.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use rampart_protocol::core::answers_as_backup;
use rampart_protocol::message::{ReplicaId, View};

use super::fake_cluster::{
    Arrival, Behaviour, FakeCluster, Replier, all_answer, lock, reply, tentative_reply,
};
use crate::Client;
use crate::test_support::client_key;

fn ok(arrival: &Arrival) -> Vec<u8> {
    [b"ok:".as_slice(), arrival.operation()].concat()
}

/// Replicas in view 1 answering as Rampart's do with tentative execution: the primary
/// (replica 1) and the 2f backups designated for the request answer tentatively, and every
/// replica answers when the client asks all to, or when the request reaches it again.
/// Replica `down` is down and answers nothing.
fn in_view_1_without(down: ReplicaId) -> Behaviour {
    let seen: Arc<Mutex<BTreeSet<(ReplicaId, u64)>>> = Arc::default();
    Arc::new(move |arrival: Arrival, replier: Replier| {
        let replica = arrival.replica;
        let again = !lock(&seen).insert((replica, arrival.number()));
        let primary = ReplicaId(1);
        let designated =
            replica == primary || answers_as_backup(replica, primary, 4, 2, arrival.number());
        let answers = if replica != down && (designated || arrival.all_answer || again) {
            vec![tentative_reply(&arrival, replica, View(1), &ok(&arrival))]
        } else {
            vec![]
        };
        Box::pin(async move { replier.send(replica, arrival.client, answers).await })
    })
}

/// Three requests from a client started after the cluster moved to view 1 with replica
/// `down` gone: consecutive request numbers give every rotation of the designated backups,
/// so at least one request has `down` among them. Each completes without the
/// retransmission that is ten seconds away, and none reaches a replica twice.
async fn fresh_client_after_a_view_change(down: ReplicaId) {
    let mut views = [Some(View(1)); 4];
    views[down.0 as usize] = None;
    let fake = FakeCluster::start_in_views(in_view_1_without(down), views).await;
    let client = fake.client_without_retransmission().await;
    assert_eq!(
        client.view(),
        View(1),
        "learned at connect, before any reply"
    );
    assert_eq!(client.primary(), ReplicaId(1));
    for index in 0..3 {
        let operation = Bytes::from(format!("put x {index}"));
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(5), client.submit(operation))
            .await
            .unwrap_or_else(|_| panic!("request {index} waited for a retransmission"))
            .expect("accepted");
        assert_eq!(result, Bytes::from(format!("ok:put x {index}")));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    client.close().await;
    let numbers: BTreeSet<u64> = fake.arrivals().iter().map(Arrival::number).collect();
    assert_eq!(numbers.len(), 3);
    for number in numbers {
        assert_eq!(fake.receivers_of(number).len(), 4, "request {number}");
    }
}

#[tokio::test]
async fn a_fresh_client_needs_no_retransmission_with_the_old_primary_down() {
    fresh_client_after_a_view_change(ReplicaId(0)).await;
}

/// With a backup down, which requests it is designated for depends on the view, which the
/// client reckons in view 1, the view the replicas told it.
#[tokio::test]
async fn a_fresh_client_needs_no_retransmission_with_a_backup_down() {
    fresh_client_after_a_view_change(ReplicaId(2)).await;
}

/// The other side of the rule: a client that has heard from every replica asks only the
/// designated ones to answer, as replicas expect in the normal case, from its first request
/// on; without the status answers it would know nobody and ask everyone.
#[tokio::test]
async fn a_fresh_client_in_a_healthy_cluster_asks_only_the_designated_replicas() {
    let fake =
        FakeCluster::start_in_views(in_view_1_without(ReplicaId(9)), [Some(View(1)); 4]).await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    // The fourth answer may come after the quorum `connect` waits for.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for index in 0..3 {
        let operation = Bytes::from(format!("put x {index}"));
        client.submit(operation).await.expect("accepted");
    }
    client.close().await;
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.len(), 12);
    assert!(
        arrivals.iter().all(|arrival| !arrival.all_answer),
        "{arrivals:?}"
    );
}

fn serving_everyone() -> Behaviour {
    all_answer(|replica, arrival| vec![reply(arrival, replica, View(0), &ok(arrival))])
}

#[tokio::test]
async fn one_replica_claiming_a_later_view_does_not_move_the_client() {
    let lone = [Some(View(0)), Some(View(0)), Some(View(0)), Some(View(7))];
    let fake = FakeCluster::start_in_views(serving_everyone(), lone).await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    // Wait for every answer, so that the lone claim has certainly arrived.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.view(), View(0));
    client.close().await;

    // f + 1 replicas claiming it: at least one of them is correct.
    let two = [Some(View(0)), Some(View(0)), Some(View(7)), Some(View(7))];
    let fake = FakeCluster::start_in_views(serving_everyone(), two).await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.view(), View(7));
    assert_eq!(client.primary(), ReplicaId(3));
    client.close().await;
}

/// Replicas that are down do not hold a client up for longer than `status_timeout`, and
/// the client works without knowing the view.
#[tokio::test]
async fn connect_waits_for_missing_status_answers_only_until_the_status_timeout() {
    let half = [Some(View(0)), Some(View(0)), None, None];
    let fake = FakeCluster::start_in_views(serving_everyone(), half).await;
    let mut config = fake.client_config();
    config.status_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "waited {waited:?}");
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    let result = client
        .submit(Bytes::from_static(b"put x 1"))
        .await
        .expect("accepted");
    assert_eq!(result, Bytes::from_static(b"ok:put x 1"));
    client.close().await;
}
