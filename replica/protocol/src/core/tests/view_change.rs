//! Step tests for view changes (PBFT §4.4, §4.5.2): joining a higher view, timers,
//! retransmission of VIEW-CHANGEs, and NEW-VIEW checked by the backups.

use super::*;

#[test]
fn f_plus_one_view_changes_make_a_replica_join_the_higher_view() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    deliver(&mut replica, 1, view_change_message(&h, 1, 1));
    assert!(
        replica.is_normal(),
        "one VIEW-CHANGE could come from a faulty replica"
    );
    let actions = deliver(&mut replica, 2, view_change_message(&h, 2, 1));
    assert!(!replica.is_normal());
    assert_eq!(replica.view(), View(1));
    assert!(broadcasts(&actions).iter().any(
        |p| matches!(p, Payload::ViewChange { view_change, .. } if view_change.new_view == View(1))
    ));
    let started = &replica.view_change_counts().started;
    assert_eq!(
        started.get(&crate::core::ViewChangeCause::PeersMovedOn),
        Some(&1)
    );
}

/// Runs ticks until the replica's view-change timer moves it to the next view, handing its
/// new VIEW-CHANGE back signed; returns every action, or `None` if it did not move within
/// `ticks`.
fn tick_into_next_view(h: &Harness, replica: &mut Replica, ticks: u64) -> Option<Vec<Action>> {
    let view = replica.view();
    let mut all = Vec::new();
    for _ in 0..ticks {
        let actions = replica.handle(Input::Tick);
        let more = loop_back(replica, &h.keys, &actions);
        all.extend(actions);
        all.extend(more);
        if replica.view() > view {
            return Some(all);
        }
    }
    None
}

/// PBFT's liveness needs a VIEW-CHANGE retransmitted until it arrives, even one for a view
/// its author has left. Replica 0 reaches a quorum for view 1, times out alone into view 2;
/// replica 1 never got replica 0's VIEW-CHANGE for view 1, so it holds two of the three it
/// needs and cannot even start its timer. Told so by a STATUS, replica 0 sends the one for
/// view 1 as well as the one for view 2, and still does after a restart.
#[test]
fn a_replica_that_left_a_view_unfinished_still_sends_its_view_change_for_it() {
    let h = Harness::new(4);
    let mut replica = h.replica(0);
    let mut persisted = PersistedState::default();
    for from in [1, 2] {
        let actions = deliver(&mut replica, from, view_change_message(&h, from, 1));
        let more = loop_back(&mut replica, &h.keys, &actions);
        persist_into(&mut persisted, &h, 0, &actions);
        persist_into(&mut persisted, &h, 0, &more);
    }
    assert_eq!((replica.view(), replica.is_normal()), (View(1), false));
    let timeout = h.config.view_change_timeout_ticks;
    let actions = tick_into_next_view(&h, &mut replica, 4 * timeout).expect("the timer runs out");
    persist_into(&mut persisted, &h, 0, &actions);
    assert_eq!(replica.view(), View(2));

    let waiting_from = |peer: u32, view: u64| {
        let status = Status {
            replica: ReplicaId(peer),
            view: View(view),
            normal: false,
            last_executed: Seq(0),
            stable_seq: Seq(0),
        };
        Message::Status(h.sign(peer, status))
    };
    let waiting = |view: u64| waiting_from(1, view);
    let both = vec![(ReplicaId(0), View(1)), (ReplicaId(0), View(2))];
    let actions = deliver(&mut replica, 1, waiting(1));
    assert_eq!(relayed_view_changes(&actions, 1), both);
    // A peer already in view 2 needs only the current one.
    let actions = deliver(&mut replica, 2, waiting_from(2, 2));
    assert_eq!(
        relayed_view_changes(&actions, 2),
        vec![(ReplicaId(0), View(2))]
    );

    let (mut recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(0),
        0,
        &persisted,
        Restored::default(),
    );
    assert_eq!((recovered.view(), recovered.is_normal()), (View(2), false));
    let actions = deliver(&mut recovered, 1, waiting(1));
    assert_eq!(relayed_view_changes(&actions, 1), both);
}

#[test]
fn the_new_primary_sends_new_view_and_backups_check_it() {
    let h = Harness::new(4);
    let mut new_primary = h.replica(1);
    let mut actions = Vec::new();
    for from in [2, 3] {
        actions.extend(deliver(
            &mut new_primary,
            from,
            view_change_message(&h, from, 1),
        ));
    }
    // Having joined, its own VIEW-CHANGE comes back signed, completing the quorum.
    let more = loop_back(&mut new_primary, &h.keys, &actions);
    let new_view = broadcasts(&more)
        .into_iter()
        .find_map(|p| match p {
            Payload::NewView { .. } => Some(p.clone()),
            _ => None,
        })
        .expect("a NEW-VIEW");
    let signed = new_view.sign(CLUSTER, &h.keys[1]).expect("signs");

    // A backup in view change to view 1 accepts it.
    let mut backup = h.replica(2);
    deliver(&mut backup, 1, view_change_message(&h, 1, 1));
    deliver(&mut backup, 3, view_change_message(&h, 3, 1));
    assert!(!backup.is_normal());
    deliver(&mut backup, 1, signed.clone());
    assert!(backup.is_normal());
    assert_eq!(backup.view(), View(1));

    // A NEW-VIEW whose O does not follow from its VIEW-CHANGEs is refused.
    let Message::NewView { new_view, batches } = signed else {
        unreachable!()
    };
    let mut forged = new_view.value.clone();
    forged.pre_prepares.push(h.sign(
        1,
        PrePrepare {
            view: View(1),
            seq: Seq(1),
            digest: Digest::of(b"invented"),
        },
    ));
    let forged = Message::NewView {
        new_view: h.sign::<NewView>(1, forged),
        batches,
    };
    let mut other = h.replica(3);
    deliver(&mut other, 1, view_change_message(&h, 1, 1));
    deliver(&mut other, 2, view_change_message(&h, 2, 1));
    deliver(&mut other, 1, forged);
    assert_eq!(rejected(&other, Reject::NewViewMismatch), 1);
    assert!(!other.is_normal());
}
