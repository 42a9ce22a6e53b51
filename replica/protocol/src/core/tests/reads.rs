//! Step tests for read-only requests (PBFT §5.1.3, `reads.rs`): a read waits until what
//! the replica had prepared when it arrived has executed.

use super::*;
use crate::message::Refusal;

fn read(h: &Harness, number: u64) -> Signed<Request> {
    let request = Request {
        client: ClientId(h.client.public_key()),
        number,
        operation: Bytes::from_static(b"get"),
        read_only: true,
    };
    Signed::sign(CLUSTER, request, &h.client).expect("signs")
}

fn queries(actions: &[Action]) -> Vec<(u64, Seq)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Query { request, seq, .. } => Some((request.value.number, *seq)),
            _ => None,
        })
        .collect()
}

fn submit(replica: &mut Replica, request: Signed<Request>) -> Vec<Action> {
    replica.handle(Input::Request(Verified::assume_verified(request)))
}

#[test]
fn a_read_with_nothing_prepared_is_answered_at_once() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    assert_eq!(queries(&submit(&mut backup, read(&h, 1))), [(1, Seq(0))]);
}

#[test]
fn a_read_waits_for_what_was_prepared_when_it_arrived() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1]);
    // Prepared, not committed: a write the client may already count as complete, from
    // f + 1 other replicas' committed replies.
    prepare_slot(&h, &mut backup, 1, &batch);
    assert!(queries(&submit(&mut backup, read(&h, 7))).is_empty());
    let actions = peers_commit(&h, &mut backup, 1, batch.digest());
    assert!(queries(&actions).is_empty(), "not executed yet");
    let actions = report(&mut backup, 1, &[b"one"]);
    assert_eq!(queries(&actions), [(7, Seq(1))]);
}

#[test]
fn reads_beyond_a_clients_quota_are_refused_so_it_orders_them_instead() {
    let mut h = Harness::new(4);
    Arc::make_mut(&mut h.config).client_window = 2;
    let mut backup = h.replica(1);
    prepare_slot(&h, &mut backup, 1, &h.batch(&[1]));
    submit(&mut backup, read(&h, 7));
    submit(&mut backup, read(&h, 8));
    let actions = submit(&mut backup, read(&h, 9));
    assert!(actions.iter().any(|action| matches!(
        action,
        Action::Refuse {
            number: 9,
            refusal: Refusal::OverQuota { limit: 2 },
            ..
        }
    )));
    assert_eq!(backup.memory_footprint().waiting_reads, 2);
}
