//! Step tests for checkpoints and garbage collection (PBFT §4.3), and for a replica
//! behind the stable checkpoint fetching its state (§5.3.2).

use super::*;

#[test]
fn a_quorum_of_checkpoints_makes_it_stable_and_collects_garbage() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    for seq in 1..=4 {
        commit_slot(&h, &mut backup, seq, &h.batch(&[seq]));
        let app_digest = (seq == 4).then(|| Digest::of(b"app"));
        let actions = backup.handle(Input::Executed {
            seq: Seq(seq),
            results: vec![Bytes::new()],
            app_digest,
        });
        if seq == 4 {
            assert!(
                actions
                    .iter()
                    .any(|a| matches!(a, Action::StoreCheckpoint { seq: Seq(4), .. }))
            );
            loop_back(&mut backup, &h.keys, &actions);
        }
    }
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), backup.client_table());
    assert_eq!(backup.log().len(), 4);
    deliver(&mut backup, 2, h.checkpoint(2, 4, digest));
    // Two matching (own and r2) are not a quorum of three.
    assert_eq!(backup.stable_checkpoint().seq, Seq(0));
    let actions = deliver(&mut backup, 3, h.checkpoint(3, 4, digest));
    assert_eq!(backup.stable_checkpoint().seq, Seq(4));
    assert_eq!(
        backup.log().len(),
        0,
        "the log below the stable checkpoint is discarded"
    );
    assert!(actions.iter().any(|a| matches!(a, Action::Persist(ops) if ops.contains(&PersistOp::PruneBelow { seq: Seq(4) }))));
    // Checkpoints off the interval are refused.
    deliver(&mut backup, 3, h.checkpoint(3, 6, digest));
    assert_eq!(rejected(&backup, Reject::NotCheckpointBoundary), 1);
}

#[test]
fn a_replica_behind_the_stable_checkpoint_fetches_and_checks_the_state() {
    let h = Harness::new(4);
    let mut lagging = h.replica(3);
    let table = ClientTable::default();
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), &table);
    for from in [0, 1] {
        deliver(&mut lagging, from, h.checkpoint(from, 4, digest));
    }
    let actions = deliver(&mut lagging, 2, h.checkpoint(2, 4, digest));
    let fetch = actions.iter().find_map(|a| match a {
        Action::FetchState {
            seq,
            state_digest,
            from,
        } => Some((*seq, *state_digest, from.clone())),
        _ => None,
    });
    let (seq, state_digest, sources) = fetch.expect("a state fetch");
    assert_eq!((seq, state_digest), (Seq(4), digest));
    assert_eq!(sources.len(), 3);
    // A state that does not match the digest a quorum signed is refused and asked again.
    let actions = lagging.handle(Input::StateFetched {
        seq: Seq(4),
        from: sources[0],
        app_digest: Digest::of(b"forged"),
        client_table: table.clone(),
    });
    assert_eq!(rejected(&lagging, Reject::StateDigestMismatch), 1);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::FetchState { .. }))
    );
    let actions = lagging.handle(Input::StateFetched {
        seq: Seq(4),
        from: sources[1],
        app_digest: Digest::of(b"app"),
        client_table: table,
    });
    assert!(actions.contains(&Action::InstallState {
        seq: Seq(4),
        state_digest: digest
    }));
    assert_eq!(lagging.last_executed(), Seq(4));
    assert!(!lagging.is_transferring());
}

/// The ticks until `replica` broadcasts a VIEW-CHANGE, if it does within `ticks`.
fn ticks_until_view_change(replica: &mut Replica, ticks: u64) -> Option<u64> {
    (1..=ticks).find(|_| {
        let actions = replica.handle(Input::Tick);
        broadcasts(&actions)
            .iter()
            .any(|p| matches!(p, Payload::ViewChange { .. }))
    })
}

#[test]
fn a_replica_fetching_state_does_not_blame_the_primary_for_its_own_lag() {
    let h = Harness::new(4);
    let mut lagging = h.replica(3);
    lagging.handle(Input::Request(Verified::assume_verified(h.request(1))));
    let table = ClientTable::default();
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), &table);
    for from in [0, 1, 2] {
        deliver(&mut lagging, from, h.checkpoint(from, 4, digest));
    }
    assert!(lagging.is_transferring());
    // The request waits only because this replica is behind a checkpoint 2f+1 replicas
    // signed: the view is making progress, so its request timer does not fire.
    let timeout = h.config.view_change_timeout_ticks;
    assert_eq!(ticks_until_view_change(&mut lagging, 3 * timeout), None);
    assert!(lagging.is_normal());
    // Once the state is in, the timer runs again in full for what still waits.
    let sources: Vec<ReplicaId> = (0..3).map(ReplicaId).collect();
    let mut installed = false;
    for from in sources {
        let actions = lagging.handle(Input::StateFetched {
            seq: Seq(4),
            from,
            app_digest: Digest::of(b"app"),
            client_table: table.clone(),
        });
        installed |= actions
            .iter()
            .any(|a| matches!(a, Action::InstallState { .. }));
        if installed {
            break;
        }
    }
    assert!(installed && !lagging.is_transferring());
    let fired = ticks_until_view_change(&mut lagging, 2 * timeout).expect("the timer runs again");
    assert!(
        fired >= timeout,
        "a full timeout after the install, not {fired} ticks"
    );
    let counts = lagging.view_change_counts();
    assert_eq!(
        counts
            .started
            .get(&crate::core::ViewChangeCause::RequestTimeout),
        Some(&1)
    );
    assert_eq!((counts.started_total(), counts.completed), (1, 0));
}
