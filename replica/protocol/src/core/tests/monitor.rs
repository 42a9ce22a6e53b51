//! Step tests for the timers with which backups watch the primary (`monitor.rs`): PBFT
//! §4.5.2's request timer, and the ordering timer after Aardvark.

use super::*;

fn submit(replica: &mut Replica, number: u64, h: &Harness) -> Vec<Action> {
    replica.handle(Input::Request(Verified::assume_verified(h.request(number))))
}

/// Ticks until the replica leaves its view; returns the tick at which it did.
fn ticks_until_suspicion(replica: &mut Replica, ticks: u64) -> Option<u64> {
    let view = replica.view();
    (1..=ticks).find(|_| {
        replica.handle(Input::Tick);
        replica.view() > view
    })
}

/// The ordering timer stays out of the way unless a test wants it.
fn harness(order_timeout_ticks: u64, view_change_timeout_ticks: u64) -> Harness {
    let mut h = Harness::new(4);
    let config = Arc::make_mut(&mut h.config);
    config.order_timeout_ticks = order_timeout_ticks;
    config.view_change_timeout_ticks = view_change_timeout_ticks;
    config.view_change_timeout_max_ticks = 16 * view_change_timeout_ticks;
    h
}

#[test]
fn executing_other_requests_does_not_stop_the_timer_of_the_oldest() {
    let h = harness(1_000, 10);
    let mut backup = h.replica(1);
    submit(&mut backup, 1, &h);
    submit(&mut backup, 2, &h);
    let (timed, deadline) = backup.request_timer().expect("a timer runs");
    assert_eq!(timed.number, 1);
    // The primary orders request 2 and empty batches, never request 1.
    for _ in 0..5 {
        backup.handle(Input::Tick);
    }
    commit_slot(&h, &mut backup, 1, &h.batch(&[2]));
    report(&mut backup, 1, &[b"two"]);
    commit_slot(&h, &mut backup, 2, &Arc::new(Batch::default()));
    report(&mut backup, 2, &[]);
    assert_eq!(backup.request_timer(), Some((timed, deadline)));
    let fired = ticks_until_suspicion(&mut backup, 100).expect("the censor is suspected");
    assert_eq!(
        5 + fired,
        deadline,
        "within one timeout of the request's arrival"
    );
}

#[test]
fn the_timer_moves_to_the_next_oldest_request_once_the_timed_one_executes() {
    let h = harness(1_000, 10);
    let mut backup = h.replica(1);
    submit(&mut backup, 1, &h);
    for _ in 0..5 {
        backup.handle(Input::Tick);
    }
    submit(&mut backup, 2, &h);
    commit_slot(&h, &mut backup, 1, &h.batch(&[1]));
    report(&mut backup, 1, &[b"one"]);
    let (timed, deadline) = backup.request_timer().expect("a timer runs");
    assert_eq!(timed.number, 2);
    assert_eq!(
        deadline,
        backup.now() + 10,
        "restarted in full (PBFT §4.5.2)"
    );
    commit_slot(&h, &mut backup, 2, &h.batch(&[2]));
    report(&mut backup, 2, &[b"two"]);
    assert_eq!(backup.request_timer(), None);
}

/// Ticks through the grace period the ordering timer gives a view's primary.
fn past_grace(replica: &mut Replica, h: &Harness) {
    for _ in 0..h.config.view_change_timeout_ticks {
        replica.handle(Input::Tick);
    }
}

#[test]
fn a_primary_gets_a_grace_period_of_one_view_change_timeout() {
    let h = harness(5, 100);
    let mut backup = h.replica(1);
    submit(&mut backup, 1, &h);
    // The request timer (100 ticks) fires, not the ordering timer (5).
    assert_eq!(ticks_until_suspicion(&mut backup, 200), Some(100));
}

#[test]
fn a_primary_that_leaves_a_request_unordered_while_it_has_room_is_suspected() {
    let h = harness(5, 1_000);
    let mut backup = h.replica(1);
    past_grace(&mut backup, &h);
    submit(&mut backup, 1, &h);
    let fired = ticks_until_suspicion(&mut backup, 100).expect("suspected");
    assert_eq!(
        fired, 5,
        "one ordering timeout, long before the request timer"
    );
}

#[test]
fn a_request_ordered_in_time_stops_the_ordering_timer() {
    let h = harness(5, 1_000);
    let mut backup = h.replica(1);
    past_grace(&mut backup, &h);
    submit(&mut backup, 1, &h);
    for _ in 0..4 {
        backup.handle(Input::Tick);
    }
    deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[1])));
    assert_eq!(ticks_until_suspicion(&mut backup, 50), None);
}

#[test]
fn a_full_pipeline_pauses_the_ordering_timer() {
    let mut h = harness(5, 1_000);
    Arc::make_mut(&mut h.config).in_flight_max = 1;
    let mut backup = h.replica(1);
    past_grace(&mut backup, &h);
    // One batch in flight and not executed: the primary may not order more.
    deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[9])));
    submit(&mut backup, 1, &h);
    assert_eq!(ticks_until_suspicion(&mut backup, 50), None);
    // Once it executes, the primary has room and the request ages.
    commit_slot(&h, &mut backup, 1, &h.batch(&[9]));
    report(&mut backup, 1, &[b"nine"]);
    assert_eq!(ticks_until_suspicion(&mut backup, 50), Some(5));
}
