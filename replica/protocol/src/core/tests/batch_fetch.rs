//! Step tests for batches known only by digest (`batch_fetch.rs`): VIEW-CHANGEs and
//! NEW-VIEWs may leave batches out, and a replica entering the view fetches what it lacks.

use super::*;

/// Replica `id`'s VIEW-CHANGE for view 1, after it prepared `batch` at sequence number 1
/// in view 0, with the batches it attached taken out (as a frame too small for them would
/// leave them out).
fn view_change_without_batches(h: &Harness, id: u32, batch: &Arc<Batch>) -> Message {
    let mut replica = h.replica(id);
    prepare_slot(h, &mut replica, 1, batch);
    let others: Vec<u32> = (1..4).filter(|&other| other != id).collect();
    let mut actions = Vec::new();
    for &other in &others {
        actions.extend(deliver(
            &mut replica,
            other,
            view_change_message(h, other, 1),
        ));
    }
    let payload = broadcasts(&actions)
        .into_iter()
        .find_map(|p| match p {
            Payload::ViewChange { view_change, .. } => Some(view_change.clone()),
            _ => None,
        })
        .expect("the replica joined view 1");
    assert_eq!(payload.prepared.len(), 1, "it prepared sequence number 1");
    Message::ViewChange {
        view_change: h.sign(id, payload),
        batches: Vec::new(),
    }
}

fn fetches(actions: &[Action]) -> Vec<(Digest, ReplicaId)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::FetchBatch { digest, from } => Some((*digest, *from)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_replica_entering_a_view_without_a_batch_fetches_it_and_then_agrees() {
    let h = Harness::new(4);
    let batch = h.batch(&[7]);
    let from_2 = view_change_without_batches(&h, 2, &batch);
    let from_3 = view_change_without_batches(&h, 3, &batch);

    // Replica 1, the primary of view 1, never saw the batch.
    let mut new_primary = h.replica(1);
    let mut actions = deliver(&mut new_primary, 2, from_2.clone());
    actions.extend(deliver(&mut new_primary, 3, from_3.clone()));
    let more = loop_back(&mut new_primary, &h.keys, &actions);
    // Its own NEW-VIEW comes back signed, and it enters the view.
    let entered = loop_back(&mut new_primary, &h.keys, &more);
    actions.extend(more);
    actions.extend(entered);
    let new_view = broadcasts(&actions)
        .into_iter()
        .find_map(|p| match p {
            Payload::NewView { batches, .. } => {
                assert!(batches.is_empty(), "it has no batch to attach");
                Some(p.clone())
            }
            _ => None,
        })
        .expect("a NEW-VIEW");
    assert!(new_primary.is_normal());
    assert_eq!(
        fetches(&actions),
        [(batch.digest(), ReplicaId(2))],
        "asked of a replica that prepared it"
    );

    // A backup that never saw the batch enters the view, fetches it, then prepares.
    let signed = new_view.sign(CLUSTER, &h.keys[1]).expect("signs");
    let mut backup = h.replica(0);
    deliver(&mut backup, 2, from_2);
    deliver(&mut backup, 3, from_3);
    let actions = deliver(&mut backup, 1, signed);
    assert!(backup.is_normal());
    assert_eq!(fetches(&actions).len(), 1);
    assert!(
        !broadcasts(&actions)
            .iter()
            .any(|p| matches!(p, Payload::Prepare(_))),
        "no PREPARE without the batch"
    );
    assert_eq!(backup.memory_footprint().missing_batches, 1);

    // A batch nobody waits for is refused; the right one is taken.
    let stray = h.batch(&[8]);
    backup.handle(Input::BatchFetched {
        batch: Verified::assume_verified(stray),
    });
    assert_eq!(rejected(&backup, Reject::UnexpectedBatch), 1);
    let actions = backup.handle(Input::BatchFetched {
        batch: Verified::assume_verified(batch.clone()),
    });
    assert!(broadcasts(&actions).iter().any(
        |p| matches!(p, Payload::Prepare(prepare) if prepare.seq == Seq(1) && prepare.digest == batch.digest())
    ));
    assert_eq!(backup.memory_footprint().missing_batches, 0);
}

#[test]
fn an_unanswered_fetch_asks_the_next_replica_each_status_interval() {
    let mut h = Harness::new(4);
    Arc::make_mut(&mut h.config).status_interval_ticks = 10;
    let batch = h.batch(&[7]);
    let from_2 = view_change_without_batches(&h, 2, &batch);
    let from_3 = view_change_without_batches(&h, 3, &batch);
    let mut new_primary = h.replica(1);
    let mut actions = deliver(&mut new_primary, 2, from_2);
    actions.extend(deliver(&mut new_primary, 3, from_3));
    let more = loop_back(&mut new_primary, &h.keys, &actions);
    let entered = loop_back(&mut new_primary, &h.keys, &more);
    let mut asked: Vec<ReplicaId> = fetches(&entered)
        .into_iter()
        .map(|(_, from)| from)
        .collect();
    for _ in 0..25 {
        let actions = new_primary.handle(Input::Tick);
        asked.extend(fetches(&actions).into_iter().map(|(_, from)| from));
    }
    assert_eq!(asked, [ReplicaId(2), ReplicaId(3), ReplicaId(0)]);
}

#[test]
fn a_replica_answers_batch_requests_from_its_log_within_a_share_per_peer() {
    let mut h = Harness::new(4);
    Arc::make_mut(&mut h.config).in_flight_max = 2;
    let batch = h.batch(&[7]);
    let mut replica = h.replica(2);
    prepare_slot(&h, &mut replica, 1, &batch);
    let sent = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::SendBatch {
                        to: ReplicaId(3),
                        ..
                    }
                )
            })
            .count()
    };
    let mut answered = 0;
    for _ in 0..5 {
        let actions = replica.handle(Input::BatchRequested {
            from: ReplicaId(3),
            digest: batch.digest(),
        });
        answered += sent(&actions);
    }
    assert_eq!(answered, 2, "in_flight_max answers per status interval");
    assert_eq!(rejected(&replica, Reject::TooManyBatchRequests), 3);
    replica.handle(Input::BatchRequested {
        from: ReplicaId(1),
        digest: Digest::of(b"unknown"),
    });
    assert_eq!(rejected(&replica, Reject::UnknownBatch), 1);
}

#[test]
fn a_view_change_that_gathers_no_quorum_moves_on_after_three_timeouts() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    deliver(&mut replica, 1, view_change_message(&h, 1, 1));
    deliver(&mut replica, 2, view_change_message(&h, 2, 1));
    assert_eq!((replica.view(), replica.is_normal()), (View(1), false));
    // Its own VIEW-CHANGE never comes back (as if it could not be sent): no quorum, so
    // PBFT's timer never starts; the stall deadline moves it on.
    let timeout = h.config.view_change_timeout_ticks;
    let mut moved = None;
    for tick in 1..=4 * timeout {
        replica.handle(Input::Tick);
        if replica.view() > View(1) {
            moved = Some(tick);
            break;
        }
    }
    assert_eq!(moved, Some(3 * timeout));
    use crate::core::ViewChangeCause::{NoQuorum, PeersMovedOn};
    let counts = replica.view_change_counts();
    let started: Vec<_> = counts.started.iter().map(|(c, n)| (*c, *n)).collect();
    assert_eq!(started, [(PeersMovedOn, 1), (NoQuorum, 1)]);
    assert_eq!(counts.completed, 0);
}
