//! Step tests for the normal case (PBFT §4.2): PRE-PREPARE, PREPARE, COMMIT, execution
//! in order, the reply cache, forwarding, batching and pipelining.

use super::*;

#[test]
fn a_backup_accepts_a_valid_pre_prepare_and_prepares_it() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1]);
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    // PBFT §4.2: the pre-prepare is made durable before the PREPARE leaves.
    let persist = actions.iter().position(|a| matches!(a, Action::Persist(_)));
    let prepare = actions.iter().position(|a| {
        matches!(a, Action::Broadcast(Outbound::Sign(Payload::Prepare(p))) if p.digest == batch.digest())
    });
    assert!(
        persist.is_some() && prepare.is_some() && persist < prepare,
        "{actions:?}"
    );
}

#[test]
fn pre_prepares_that_break_a_rule_are_refused_with_a_reason() {
    let h = Harness::new(4);
    let batch = h.batch(&[1]);
    let mut wrong_digest = h.pre_prepare(1, 1, &batch);
    if let Message::PrePrepare { batch: b, .. } = &mut wrong_digest {
        *b = h.batch(&[2]);
    }
    let read_only = {
        let mut request = h.request(3);
        request.value.read_only = true;
        let request = Signed::sign(CLUSTER, request.value, &h.client).expect("signs");
        Arc::new(Batch::new(vec![request]))
    };
    let cases: Vec<(&str, Message, Reject)> = vec![
        ("old view", h.pre_prepare(0, 1, &batch), Reject::OldView),
        (
            "future view",
            h.pre_prepare(2, 1, &batch),
            Reject::FutureView,
        ),
        (
            "above the high watermark",
            h.pre_prepare(1, 9, &batch),
            Reject::AboveHighWatermark,
        ),
        (
            "at the low watermark",
            h.pre_prepare(1, 0, &batch),
            Reject::BelowLowWatermark,
        ),
        ("digest of another batch", wrong_digest, Reject::WrongDigest),
        (
            "read-only request in a batch",
            h.pre_prepare(1, 1, &read_only),
            Reject::ReadOnlyInBatch,
        ),
    ];
    for (case, message, reason) in cases {
        // A backup in view 1 (the cases for view 0 are "old").
        let mut backup = h.replica(2);
        backup.view = View(1);
        let actions = deliver(&mut backup, 1, message);
        assert!(broadcasts(&actions).is_empty(), "{case}: {actions:?}");
        assert_eq!(
            rejected(&backup, reason),
            1,
            "{case}: {:?}",
            backup.rejects()
        );
    }
}

#[test]
fn an_equivocating_primary_is_caught_and_kept_as_evidence() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[1])));
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &h.batch(&[2])));
    assert_eq!(rejected(&backup, Reject::ConflictingPrePrepare), 1);
    assert_eq!(backup.evidence().against(ReplicaId(0)).len(), 1);
    assert!(actions.iter().any(|a| matches!(a, Action::Persist(ops) if ops.iter().any(|op| matches!(op, PersistOp::Evidence(_))))));
    // The first digest stays.
    let slot = backup.log().get(Seq(1)).expect("slot");
    assert_eq!(slot.round.digest(), Some(h.batch(&[1]).digest()));
}

#[test]
fn prepares_from_the_primary_and_conflicting_votes_are_refused() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let digest = h.batch(&[1]).digest();
    deliver(&mut backup, 0, h.prepare(0, 0, 1, digest));
    assert_eq!(rejected(&backup, Reject::PrepareFromPrimary), 1);
    deliver(&mut backup, 2, h.prepare(2, 0, 1, digest));
    deliver(&mut backup, 2, h.prepare(2, 0, 1, Digest::of(b"other")));
    assert_eq!(rejected(&backup, Reject::ConflictingMessage), 1);
    assert_eq!(backup.evidence().against(ReplicaId(2)).len(), 1);
    deliver(&mut backup, 2, h.prepare(2, 0, 1, digest));
    assert_eq!(rejected(&backup, Reject::Duplicate), 1);
}

#[test]
fn prepared_leads_to_commit_and_committed_to_execution() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1, 2]);
    let actions = commit_slot(&h, &mut backup, 1, &batch);
    assert!(
        broadcasts(&actions)
            .iter()
            .any(|p| matches!(p, Payload::Commit(c) if c.seq == Seq(1)))
    );
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert_eq!(executed[0].seq, Seq(1));
    assert_eq!(executed[0].requests.len(), 2);
    assert_eq!(executed[0].digest, batch.digest());
}

#[test]
fn execution_is_strictly_in_sequence_order() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let second = commit_slot(&h, &mut backup, 2, &h.batch(&[2]));
    assert!(
        executions(&second).is_empty(),
        "sequence number 2 ran before 1"
    );
    let first = commit_slot(&h, &mut backup, 1, &h.batch(&[1]));
    assert_eq!(executions(&first).len(), 1);
    let next = backup.handle(Input::Executed {
        seq: Seq(1),
        results: vec![Bytes::from_static(b"r1")],
        app_digest: None,
    });
    let executed = executions(&next);
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].seq, Seq(2));
}

#[test]
fn retransmissions_are_answered_from_the_reply_cache_and_executed_once() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    commit_slot(&h, &mut backup, 1, &h.batch(&[1]));
    backup.handle(Input::Executed {
        seq: Seq(1),
        results: vec![Bytes::from_static(b"result")],
        app_digest: None,
    });
    let actions = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    let replies: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Reply(reply) => Some(reply),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].result, Bytes::from_static(b"result"));
    assert_eq!(replies[0].seq, Seq(1));
    // The same request ordered again at a later sequence number is not executed again.
    let again = commit_slot(&h, &mut backup, 2, &h.batch(&[1]));
    let executed = executions(&again);
    assert_eq!(executed.len(), 1);
    assert!(executed[0].requests.is_empty());
}

#[test]
fn a_backup_forwards_retransmitted_requests_to_the_primary_and_times_them() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let forwarded = |actions: &[Action]| {
        actions.iter().any(|a| {
            matches!(
                a,
                Action::Send {
                    to: ReplicaId(0),
                    message: Outbound::Relay(Message::Request(_))
                }
            )
        })
    };
    // Clients send every request to every replica, the primary included.
    let actions = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert!(!forwarded(&actions), "{actions:?}");
    // A retransmission means the primary may have missed it.
    let actions = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send {
            to: ReplicaId(0),
            message: Outbound::Relay(Message::Request(_))
        }
    )));
    // PBFT §4.5.2: when the timer expires, the backup starts a view change to view 1.
    let mut view_change = None;
    for _ in 0..h.config.view_change_timeout_ticks {
        let actions = backup.handle(Input::Tick);
        view_change = view_change.or(broadcasts(&actions).into_iter().find_map(|p| match p {
            Payload::ViewChange { view_change, .. } => Some(view_change.clone()),
            _ => None,
        }));
    }
    let view_change = view_change.expect("a VIEW-CHANGE after the timeout");
    assert_eq!(view_change.new_view, View(1));
    assert!(!backup.is_normal());
}

/// The pre-prepares (sequence number, batch size) a primary sends for requests 1 to
/// `count`, arriving one by one, with `pipeline_batch_min` set as given.
fn batches_for(count: u64, pipeline_batch_min: usize) -> Vec<(Seq, usize)> {
    let mut h = Harness::new(4);
    let mut config = (*h.config).clone();
    config.pipeline_batch_min = pipeline_batch_min;
    h.config = Arc::new(config);
    let mut primary = h.replica(0);
    let mut pre_prepares = Vec::new();
    for number in 1..=count {
        let actions = primary.handle(Input::Request(Verified::assume_verified(h.request(number))));
        for payload in broadcasts(&actions) {
            if let Payload::PrePrepare { pre_prepare, batch } = payload {
                pre_prepares.push((pre_prepare.seq, batch.len()));
            }
        }
    }
    pre_prepares
}

#[test]
fn the_primary_pipelines_batches_without_waiting_for_commits() {
    // batch_delay_ticks is 0 and any waiting request is worth a batch: each request goes
    // out at once, at the next sequence number, while the earlier ones are in flight.
    assert_eq!(
        batches_for(6, 1),
        (1..=6).map(|s| (Seq(s), 1)).collect::<Vec<_>>()
    );
}

#[test]
fn under_load_requests_gather_into_a_batch_while_one_is_in_flight() {
    // The first request goes out alone (nothing in flight); the next ones wait for a
    // batch of 4 (the batch maximum here) rather than each taking a slot of the pipeline.
    assert_eq!(
        batches_for(9, 64),
        vec![(Seq(1), 1), (Seq(2), 4), (Seq(3), 4)]
    );
}

/// The shell reports one result per executed request, and a snapshot digest at a
/// checkpoint. A report that does not is refused and counted, never a panic, and the
/// execution waits for a proper one.
#[test]
fn a_malformed_execution_report_is_refused_and_the_execution_waits() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    commit_slot(&h, &mut backup, 1, &h.batch(&[1, 2]));
    assert_eq!(report(&mut backup, 1, &[b"r1"]), []);
    assert_eq!(rejected(&backup, Reject::MalformedExecution), 1);
    let actions = report(&mut backup, 1, &[b"r1", b"r2"]);
    let replies = actions.iter().filter(|a| matches!(a, Action::Reply(_)));
    assert_eq!(replies.count(), 2);
    assert_eq!(backup.last_executed(), Seq(1));

    for seq in 2..=4 {
        commit_slot(&h, &mut backup, seq, &h.batch(&[seq + 1]));
    }
    report(&mut backup, 2, &[b"r3"]);
    report(&mut backup, 3, &[b"r4"]);
    // Sequence number 4 is a checkpoint: its report needs the snapshot's digest.
    assert_eq!(report(&mut backup, 4, &[b"r5"]), []);
    assert_eq!(rejected(&backup, Reject::MalformedExecution), 2);
    let actions = backup.handle(Input::Executed {
        seq: Seq(4),
        results: vec![Bytes::from_static(b"r5")],
        app_digest: Some(Digest::of(b"snapshot")),
    });
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::StoreCheckpoint { seq: Seq(4), .. })),
        "{actions:?}"
    );
    assert_eq!(backup.last_executed(), Seq(4));
}
