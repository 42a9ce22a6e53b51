//! Step tests for client requests: which ones wait, which are answered at once, and how
//! the primary cuts batches (PBFT §4.1, §4.2; `requests.rs`, `batching.rs`).

use super::*;
use crate::message::{REQUEST_NUMBER_MAX, Refusal, request_bytes};

fn refusals(actions: &[Action]) -> Vec<(u64, Refusal)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Refuse {
                number, refusal, ..
            } => Some((*number, refusal.clone())),
            _ => None,
        })
        .collect()
}

fn submit(replica: &mut Replica, request: Signed<Request>) -> Vec<Action> {
    replica.handle(Input::Request(Verified::assume_verified(request)))
}

fn with_config(h: &mut Harness, change: impl FnOnce(&mut Config)) {
    change(Arc::make_mut(&mut h.config));
}

#[test]
fn a_request_superseded_by_a_higher_number_stops_waiting_and_its_client_hears_why() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    submit(&mut backup, h.request(1));
    submit(&mut backup, h.request(100));
    assert_eq!(backup.memory_footprint().waiting_requests, 2);
    // Request 100 executes first: the reply cache now forgets every number below
    // 100 + 1 - client_window, so request 1 can never execute.
    commit_slot(&h, &mut backup, 1, &h.batch(&[100]));
    let actions = report(&mut backup, 1, &[b"done"]);
    let floor = 101 - h.config.client_window;
    assert_eq!(refusals(&actions), [(1, Refusal::TooOld { floor })]);
    assert_eq!(backup.memory_footprint().waiting_requests, 0);
    assert_eq!(backup.request_timer(), None, "nothing left to wait for");
}

#[test]
fn requests_that_cannot_run_are_answered_at_once() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let actions = submit(&mut backup, h.request(REQUEST_NUMBER_MAX + 1));
    assert_eq!(
        refusals(&actions),
        [(REQUEST_NUMBER_MAX + 1, Refusal::NumberSpaceExhausted)]
    );
    assert_eq!(rejected(&backup, Reject::RequestNumberExhausted), 1);
    commit_slot(&h, &mut backup, 1, &h.batch(&[100]));
    report(&mut backup, 1, &[b"done"]);
    let actions = submit(&mut backup, h.request(5));
    let floor = 101 - h.config.client_window;
    assert_eq!(refusals(&actions), [(5, Refusal::TooOld { floor })]);
    assert_eq!(backup.memory_footprint().waiting_requests, 0);
    assert_eq!(backup.request_timer(), None);
}

#[test]
fn a_primary_refuses_a_batch_that_holds_a_number_above_the_number_space() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    deliver(
        &mut backup,
        0,
        h.pre_prepare(0, 1, &h.batch(&[REQUEST_NUMBER_MAX + 1])),
    );
    assert_eq!(rejected(&backup, Reject::RequestNumberExhausted), 1);
    assert!(backup.log().get(Seq(1)).is_none());
}

#[test]
fn quotas_are_per_client_and_origin_so_forwarded_requests_are_never_crowded_out() {
    let mut h = Harness::new(4);
    with_config(&mut h, |config| {
        config.client_window = 2;
        // One batch in flight at most: the primary's requests keep waiting.
        config.in_flight_max = 1;
    });
    let mut primary = h.replica(0);
    assert!(refusals(&submit(&mut primary, h.request(1))).is_empty());
    assert!(refusals(&submit(&mut primary, h.request(2))).is_empty());
    let actions = submit(&mut primary, h.request(3));
    assert_eq!(refusals(&actions), [(3, Refusal::OverQuota { limit: 2 })]);
    // A backup's forward has a quota of its own and is taken.
    let forwarded = deliver(&mut primary, 2, Message::Request(h.request(5)));
    assert!(refusals(&forwarded).is_empty());
    assert_eq!(primary.memory_footprint().waiting_requests, 3);
    assert_eq!(rejected(&primary, Reject::OverQuota), 1);
}

#[test]
fn within_a_batch_a_higher_number_first_leaves_out_the_numbers_it_makes_forgotten() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let actions = commit_slot(&h, &mut backup, 1, &h.batch(&[100, 1, 99]));
    let executed = executions(&actions);
    let numbers: Vec<u64> = executed[0]
        .requests
        .iter()
        .map(|r| r.value.number)
        .collect();
    assert_eq!(numbers, [100, 99]);
}

#[test]
fn the_primary_cuts_a_batch_at_its_byte_limit() {
    let mut h = Harness::new(4);
    let request_size = request_bytes(&h.request(1));
    with_config(&mut h, |config| {
        config.batch_bytes_max = 2 * request_size + request_size / 2;
        config.batch_delay_ticks = 2;
        config.pipeline_batch_min = 100;
    });
    let mut primary = h.replica(0);
    let mut actions = Vec::new();
    for number in 1..=5 {
        actions.extend(submit(&mut primary, h.request(number)));
    }
    for _ in 0..3 {
        actions.extend(primary.handle(Input::Tick));
    }
    let sizes: Vec<usize> = broadcasts(&actions)
        .iter()
        .filter_map(|p| match p {
            Payload::PrePrepare { batch, .. } => Some(batch.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sizes,
        [2, 2, 1],
        "a request that does not fit waits for the next"
    );
}

#[test]
fn a_backup_refuses_a_batch_over_the_byte_limit() {
    let mut h = Harness::new(4);
    let request_size = request_bytes(&h.request(1));
    with_config(&mut h, |config| config.batch_bytes_max = 2 * request_size);
    let mut backup = h.replica(1);
    deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[1, 2, 3])));
    assert_eq!(rejected(&backup, Reject::BatchTooLarge), 1);
}

/// A request of `client` with an operation of `bytes` bytes.
fn sized_request(client: &KeyPair, number: u64, bytes: usize) -> Signed<Request> {
    let request = Request {
        client: ClientId(client.public_key()),
        number,
        operation: Bytes::from(vec![7u8; bytes]),
        read_only: false,
    };
    Signed::sign(CLUSTER, request, client).expect("signs")
}

#[test]
fn a_client_over_its_bytes_in_flight_is_refused_while_others_and_forwards_are_taken() {
    let mut h = Harness::new(4);
    let greedy = KeyPair::from_seed(900);
    let modest = KeyPair::from_seed(901);
    let one = request_bytes(&sized_request(&greedy, 1, 10_000));
    with_config(&mut h, |config| {
        config.client_bytes_in_flight_max = 2 * one;
        // One batch in flight at most: the primary's requests keep waiting.
        config.in_flight_max = 1;
    });
    let mut primary = h.replica(0);
    for number in 1..=2 {
        let taken = submit(&mut primary, sized_request(&greedy, number, 10_000));
        assert!(refusals(&taken).is_empty(), "request {number}");
    }
    let actions = submit(&mut primary, sized_request(&greedy, 3, 10_000));
    assert_eq!(
        refusals(&actions),
        [(
            3,
            Refusal::OverBytesQuota {
                limit_bytes: 2 * one as u64
            }
        )]
    );
    assert_eq!(rejected(&primary, Reject::OverBytesQuota), 1);
    // Another client's request, and a backup's forward of the greedy client's, are taken.
    assert!(refusals(&submit(&mut primary, sized_request(&modest, 1, 10_000))).is_empty());
    let forwarded = deliver(
        &mut primary,
        2,
        Message::Request(sized_request(&greedy, 4, 10_000)),
    );
    assert!(refusals(&forwarded).is_empty());
    assert_eq!(primary.memory_footprint().waiting_requests, 4);
}

#[test]
fn one_request_larger_than_the_bytes_quota_is_taken_when_nothing_else_waits() {
    let mut h = Harness::new(4);
    with_config(&mut h, |config| {
        config.client_bytes_in_flight_max = 1_000;
        config.in_flight_max = 1;
    });
    let mut primary = h.replica(0);
    let client = KeyPair::from_seed(902);
    assert!(refusals(&submit(&mut primary, sized_request(&client, 1, 5_000))).is_empty());
    let actions = submit(&mut primary, sized_request(&client, 2, 10));
    assert_eq!(
        refusals(&actions),
        [(2, Refusal::OverBytesQuota { limit_bytes: 1_000 })]
    );
}

/// Admission in the core: a faulty replica that relays, or a faulty primary that orders,
/// a request of a client the configuration does not admit cannot add it to the reply
/// cache.
#[test]
fn requests_of_clients_not_admitted_are_refused_whoever_relays_or_orders_them() {
    let mut h = Harness::new(4);
    let listed = h.client.public_key();
    with_config(&mut h, |config| {
        config.clients = ClientAdmission::listed([listed]);
    });
    let stranger = KeyPair::from_seed(903);
    let mut primary = h.replica(0);
    let forwarded = deliver(
        &mut primary,
        2,
        Message::Request(sized_request(&stranger, 1, 10)),
    );
    assert!(refusals(&forwarded).is_empty(), "nobody to answer");
    assert_eq!(rejected(&primary, Reject::ClientNotAdmitted), 1);
    assert_eq!(primary.memory_footprint().waiting_requests, 0);
    assert!(refusals(&submit(&mut primary, h.request(1))).is_empty());
    assert_eq!(primary.memory_footprint().waiting_requests, 1);

    let mut backup = h.replica(1);
    let batch = Arc::new(Batch::new(vec![
        h.request(1),
        sized_request(&stranger, 1, 10),
    ]));
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    assert_eq!(rejected(&backup, Reject::ClientNotAdmitted), 1);
    assert!(backup.log().get(Seq(1)).is_none());
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn a_replica_may_allow_a_client_fewer_waiting_requests_than_the_window() {
    let mut h = Harness::new(4);
    with_config(&mut h, |config| {
        config.client_window = 4;
        config.client_requests_in_flight_max = Some(1);
        config.in_flight_max = 1;
    });
    let mut primary = h.replica(0);
    assert!(refusals(&submit(&mut primary, h.request(1))).is_empty());
    let actions = submit(&mut primary, h.request(2));
    assert_eq!(refusals(&actions), [(2, Refusal::OverQuota { limit: 1 })]);
    // Forwarded requests keep the window's quota.
    let forwarded = deliver(&mut primary, 2, Message::Request(h.request(3)));
    assert!(refusals(&forwarded).is_empty());
    assert_eq!(primary.memory_footprint().waiting_requests, 2);
}
