//! Ordered requests (PBFT §4.1): f + 1 matching results, retransmission to every replica,
//! refusals, timeouts, concurrency and the window.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use rampart_protocol::message::{Refusal, ReplicaId, View};

use super::fake_cluster::{
    Answer, Arrival, Behaviour, FakeCluster, Replier, all_answer, lock, receiver_answers, refuse,
    reply,
};
use crate::test_support::client_key;
use crate::{Client, ClientConfig, ClientError};

fn operation(text: &'static str) -> Bytes {
    Bytes::from_static(text.as_bytes())
}

fn ok(arrival: &Arrival) -> Vec<u8> {
    [b"ok:".as_slice(), arrival.operation()].concat()
}

#[tokio::test]
async fn f_plus_1_matching_results_are_accepted() {
    // Replicas 0 and 1 answer, 2 and 3 stay silent: exactly f + 1.
    let fake = FakeCluster::start(all_answer(|replica, arrival| match replica.0 {
        0 | 1 => vec![reply(arrival, replica, View(0), &ok(arrival))],
        _ => vec![],
    }))
    .await;
    let client = fake.client_without_retransmission().await;

    let result = client.submit(operation("put x 1")).await.expect("accepted");
    assert_eq!(result, Bytes::from_static(b"ok:put x 1"));
    // The request went to every replica once (Aardvark's rule, see `Client::order`).
    let arrivals = fake.arrivals();
    let receivers: BTreeSet<ReplicaId> = arrivals.iter().map(|a| a.replica).collect();
    assert_eq!(arrivals.len(), 4);
    assert_eq!(receivers.len(), 4);
    assert!(arrivals.iter().all(|a| !a.read_only() && !a.certify));
    assert_eq!(arrivals[0].request.value.client, client.id());
    client.close().await;
}

#[tokio::test]
async fn a_single_lying_replica_is_outvoted() {
    // Replica 3 lies at once, three times, each time naming another replica in the reply;
    // the honest answers come later. Votes count the authenticated sender, not the field.
    let fake = FakeCluster::start(all_answer(|replica, arrival| match replica.0 {
        3 => (0..3)
            .map(|claimed| reply(arrival, ReplicaId(claimed), View(0), b"lie"))
            .collect(),
        _ => vec![
            Answer::Pause(Duration::from_millis(200)),
            reply(arrival, replica, View(0), &ok(arrival)),
        ],
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    let result = client.submit(operation("put x 1")).await.expect("accepted");
    assert_eq!(result, Bytes::from_static(b"ok:put x 1"));
    client.close().await;
}

#[tokio::test]
async fn every_request_goes_to_every_replica_so_a_silent_primary_costs_nothing() {
    let fake = FakeCluster::start(receiver_answers(|replica, arrival| match replica.0 {
        0 => vec![],
        _ => vec![reply(arrival, replica, View(0), &ok(arrival))],
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    for put in ["put x 1", "put x 2"] {
        let result = client.submit(operation(put)).await.expect("accepted");
        assert_eq!(result, Bytes::from(format!("ok:{put}")));
    }
    client.close().await;
    let mut numbers: Vec<u64> = fake.arrivals().iter().map(|a| a.number()).collect();
    numbers.dedup();
    for number in numbers {
        let receivers: BTreeSet<ReplicaId> = fake.receivers_of(number).into_iter().collect();
        assert_eq!(receivers.len(), 4, "sent to {receivers:?}");
        assert_eq!(
            fake.receivers_of(number).len(),
            4,
            "f + 1 replies came without a retransmission"
        );
    }
}

#[tokio::test]
async fn an_operation_over_the_replicas_limit_is_refused_before_it_is_sent() {
    let fake = FakeCluster::start(receiver_answers(|replica, arrival| {
        vec![reply(arrival, replica, View(0), &ok(arrival))]
    }))
    .await;
    let mut config = fake.client_config();
    config.operation_bytes_max = 16;
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    match client.submit(Bytes::from(vec![7u8; 17])).await {
        Err(ClientError::OperationTooLarge {
            bytes: 17,
            limit: 16,
        }) => {}
        other => panic!("expected a refusal before sending, got {other:?}"),
    }
    assert!(fake.arrivals().is_empty(), "nothing was sent");
    client.close().await;
}

fn too_large() -> Refusal {
    Refusal::Invalid {
        reason: "the operation exceeds 1048576 bytes".to_string(),
    }
}

#[tokio::test]
async fn f_plus_1_refusals_reject_the_request() {
    let fake = FakeCluster::start(receiver_answers(|replica, arrival| match replica.0 {
        0 | 1 => vec![refuse(arrival, too_large())],
        2 => vec![reply(arrival, replica, View(0), &ok(arrival))],
        _ => vec![],
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    match client.submit(operation("put x 1")).await {
        Err(ClientError::Rejected { refusal }) => assert_eq!(refusal, too_large()),
        other => panic!("expected a rejection, got {other:?}"),
    }
    client.close().await;
}

#[tokio::test]
async fn no_answers_end_in_a_timeout_after_retransmissions() {
    let fake = FakeCluster::start(receiver_answers(|_, _| vec![])).await;
    let mut config = fake.client_config();
    config.request_timeout = Duration::from_secs(1);
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    match client.submit(operation("put x 1")).await {
        Err(ClientError::Timeout { replies_seen, .. }) => assert_eq!(replies_seen, 0),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let receivers: BTreeSet<ReplicaId> = fake.arrivals().iter().map(|a| a.replica).collect();
    assert_eq!(receivers.len(), 4, "every replica got a retransmission");
    client.close().await;
}

#[tokio::test]
async fn concurrent_submits_get_distinct_numbers_and_their_own_results() {
    let fake = FakeCluster::start(all_answer(|replica, arrival| {
        vec![reply(arrival, replica, View(0), &ok(arrival))]
    }))
    .await;
    let client = Arc::new(
        Client::connect(fake.client_config(), client_key())
            .await
            .expect("connects"),
    );
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..16 {
        let client = Arc::clone(&client);
        calls.spawn(async move {
            let operation = Bytes::from(format!("put x {index}"));
            (index, client.submit(operation).await)
        });
    }
    while let Some(joined) = calls.join_next().await {
        let (index, result) = joined.expect("the call does not panic");
        assert_eq!(
            result.expect("accepted"),
            Bytes::from(format!("ok:put x {index}"))
        );
    }
    let numbers: BTreeSet<u64> = fake.arrivals().iter().map(Arrival::number).collect();
    assert_eq!(numbers.len(), 16);
    let Ok(client) = Arc::try_unwrap(client) else {
        panic!("every call has finished");
    };
    client.close().await;
}

/// What the replicas saw of the client's window: a request number that arrived while an
/// older one was still unanswered by the replicas, `window` or more below it, breaks the
/// rule. The replicas answer a request only after their check, so whatever they still
/// hold is unanswered at the client too.
#[derive(Default)]
struct WindowCheck {
    unanswered: BTreeSet<u64>,
    answered: BTreeSet<u64>,
    violations: Vec<(u64, u64)>,
    unanswered_max: usize,
}

fn windowed(window: u64, check: Arc<Mutex<WindowCheck>>) -> Behaviour {
    Arc::new(move |arrival: Arrival, replier: Replier| {
        let check = Arc::clone(&check);
        Box::pin(async move {
            let number = arrival.number();
            {
                let mut check = lock(&check);
                if !check.answered.contains(&number) {
                    if let Some(&oldest) = check.unanswered.first()
                        && number >= oldest + window
                    {
                        check.violations.push((oldest, number));
                    }
                    check.unanswered.insert(number);
                    check.unanswered_max = check.unanswered_max.max(check.unanswered.len());
                }
            }
            // Hold the request a while, so that a client ignoring the window would send
            // more requests meanwhile.
            tokio::time::sleep(Duration::from_millis(30)).await;
            {
                let mut check = lock(&check);
                check.unanswered.remove(&number);
                check.answered.insert(number);
            }
            for replica in 0..4 {
                let answer = reply(&arrival, ReplicaId(replica), View(0), &ok(&arrival));
                replier
                    .send(ReplicaId(replica), arrival.client, vec![answer])
                    .await;
            }
        })
    })
}

#[tokio::test]
async fn the_window_bounds_unanswered_request_numbers() {
    const WINDOW: u64 = 4;
    let check = Arc::new(Mutex::new(WindowCheck::default()));
    let fake = FakeCluster::start(windowed(WINDOW, Arc::clone(&check))).await;
    let mut config = fake.client_config();
    config.window = WINDOW;
    let client = Arc::new(
        Client::connect(config, client_key())
            .await
            .expect("connects"),
    );
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..12 {
        let client = Arc::clone(&client);
        calls.spawn(async move { client.submit(Bytes::from(format!("op {index}"))).await });
    }
    while let Some(joined) = calls.join_next().await {
        joined.expect("the call does not panic").expect("accepted");
    }
    let check = lock(&check);
    assert_eq!(check.violations, Vec::<(u64, u64)>::new());
    assert!(check.unanswered_max <= WINDOW as usize);
    assert_eq!(check.answered.len(), 12);
}

#[tokio::test]
async fn a_cancelled_submit_frees_its_place_in_the_window() {
    let fake = FakeCluster::start(all_answer(|replica, arrival| {
        if arrival.operation() == b"stuck" {
            return vec![];
        }
        vec![reply(arrival, replica, View(0), &ok(arrival))]
    }))
    .await;
    let mut config = fake.client_config();
    config.window = 1;
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    let cancelled = tokio::time::timeout(
        Duration::from_millis(300),
        client.submit(operation("stuck")),
    )
    .await;
    assert!(cancelled.is_err(), "nobody answers the stuck request");
    let result = client.submit(operation("put x 1")).await.expect("accepted");
    assert_eq!(result, Bytes::from_static(b"ok:put x 1"));
    client.close().await;
}

#[tokio::test]
async fn a_faulty_replica_cannot_misdirect_the_view() {
    // Replica 3 claims view 7, whose primary it would be; the others are in view 1.
    let fake = FakeCluster::start(all_answer(|replica, arrival| {
        let view = if replica.0 == 3 { View(7) } else { View(1) };
        vec![reply(arrival, replica, view, &ok(arrival))]
    }))
    .await;
    let client = fake.client_without_retransmission().await;
    client.submit(operation("first")).await.expect("accepted");
    assert_eq!(client.view(), View(1));
    client.submit(operation("second")).await.expect("accepted");
    assert_eq!(client.view(), View(1));
    client.close().await;
}

#[tokio::test]
async fn malformed_frames_are_counted_and_ignored() {
    // The quorum needs replica 1, whose answer follows its garbage on the same stream.
    let fake = FakeCluster::start(receiver_answers(|replica, arrival| match replica.0 {
        1 => vec![
            Answer::Garbage,
            reply(arrival, replica, View(0), &ok(arrival)),
        ],
        2 => vec![reply(arrival, replica, View(0), &ok(arrival))],
        _ => vec![],
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    let result = client.submit(operation("put x 1")).await.expect("accepted");
    assert_eq!(result, Bytes::from_static(b"ok:put x 1"));
    assert!(client.stats().malformed_frames >= 1);
    client.close().await;
}

#[tokio::test]
async fn replicas_that_never_answer_the_handshake_are_unreachable() {
    // Bound but silent sockets: the QUIC handshake never completes.
    let sockets: Vec<UdpSocket> = (0..4)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("binds"))
        .collect();
    let addresses = sockets
        .iter()
        .map(|socket| socket.local_addr().expect("has an address"))
        .collect();
    let (cluster, _) = crate::test_support::test_cluster();
    let mut config = ClientConfig::new(cluster, addresses);
    config.connect_timeout = Duration::from_millis(300);
    match Client::connect(config, client_key()).await {
        Err(ClientError::Unreachable { replica_count, .. }) => assert_eq!(replica_count, 4),
        other => panic!("expected unreachable replicas, got {other:?}"),
    }
}
