//! Step tests for what a replica keeps of its peers' messages, in memory and on disk
//! (DESIGN §9): bounded by the protocol, whatever a faulty peer sends.

use super::*;
use crate::core::checkpoint::CHECKPOINTS_PER_REPLICA_MAX;
use crate::core::view_change::VIEW_CHANGES_PER_REPLICA_MAX;

#[test]
fn a_peers_view_changes_beyond_the_bound_are_forgotten_on_disk_too() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    let mut persisted = PersistedState::default();
    for view in 10..30 {
        let actions = deliver(&mut replica, 2, view_change_message(&h, 2, view));
        persist_into(&mut persisted, &h, 3, &actions);
    }
    let stored = persisted
        .messages
        .keys()
        .filter(
            |key| matches!(key, MessageKey::ViewChange { replica, .. } if *replica == ReplicaId(2)),
        )
        .count();
    assert_eq!(stored, VIEW_CHANGES_PER_REPLICA_MAX);
    assert_eq!(
        replica.memory_footprint().view_change_messages,
        VIEW_CHANGES_PER_REPLICA_MAX
    );
}

#[test]
fn checkpoints_far_beyond_the_window_are_kept_in_memory_only() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    let mut persisted = PersistedState::default();
    let window = h.config.log_window;
    let interval = h.config.checkpoint_interval;
    let within = window + window;
    for seq in (interval..=within).step_by(interval as usize) {
        let actions = deliver(&mut replica, 2, h.checkpoint(2, seq, Digest::of(b"s")));
        persist_into(&mut persisted, &h, 3, &actions);
    }
    for far in 1..50 {
        let seq = within + far * interval;
        let actions = deliver(&mut replica, 2, h.checkpoint(2, seq, Digest::of(b"s")));
        persist_into(&mut persisted, &h, 3, &actions);
    }
    let stored: Vec<u64> = persisted
        .messages
        .keys()
        .filter_map(|key| match key {
            MessageKey::Checkpoint { seq, .. } => Some(seq.0),
            _ => None,
        })
        .collect();
    assert!(stored.iter().all(|&seq| seq <= within), "{stored:?}");
    assert!(
        replica.memory_footprint().checkpoint_messages <= CHECKPOINTS_PER_REPLICA_MAX,
        "{:?}",
        replica.memory_footprint()
    );
}

#[test]
fn a_peers_status_is_answered_at_most_twice_per_status_interval() {
    let mut h = Harness::new(4);
    Arc::make_mut(&mut h.config).status_interval_ticks = 10;
    let mut replica = h.replica(3);
    let status = |h: &Harness| {
        Message::Status(h.sign(
            2,
            Status {
                replica: ReplicaId(2),
                view: View(0),
                normal: true,
                last_executed: Seq(0),
                stable_seq: Seq(0),
            },
        ))
    };
    for _ in 0..20 {
        deliver(&mut replica, 2, status(&h));
    }
    assert_eq!(rejected(&replica, Reject::StatusTooSoon), 19);
    for _ in 0..5 {
        replica.handle(Input::Tick);
    }
    deliver(&mut replica, 2, status(&h));
    assert_eq!(rejected(&replica, Reject::StatusTooSoon), 19);
}

/// A VIEW-CHANGE can carry megabytes of batches, and a peer in the middle of a view change
/// reports itself behind in every STATUS: it is relayed again to that peer only once a
/// view-change timeout has passed with both where they were.
#[test]
fn a_view_change_is_relayed_to_a_waiting_peer_once_per_view_change_timeout() {
    let mut h = Harness::new(4);
    Arc::make_mut(&mut h.config).status_interval_ticks = 2;
    Arc::make_mut(&mut h.config).view_change_timeout_ticks = 1_000;
    let mut replica = h.replica(0);
    for from in [1, 2] {
        let actions = deliver(&mut replica, from, view_change_message(&h, from, 1));
        loop_back(&mut replica, &h.keys, &actions);
    }
    assert_eq!((replica.view(), replica.is_normal()), (View(1), false));
    let waiting = |h: &Harness| {
        Message::Status(h.sign(
            3,
            Status {
                replica: ReplicaId(3),
                view: View(1),
                normal: false,
                last_executed: Seq(0),
                stable_seq: Seq(0),
            },
        ))
    };
    let actions = deliver(&mut replica, 3, waiting(&h));
    assert_eq!(
        relayed_view_changes(&actions, 3),
        vec![(ReplicaId(0), View(1))]
    );
    for _ in 0..10 {
        replica.handle(Input::Tick);
        let actions = deliver(&mut replica, 3, waiting(&h));
        assert_eq!(
            relayed_view_changes(&actions, 3),
            vec![],
            "relayed again at once"
        );
    }
    assert_eq!(replica.view(), View(1), "still in the view change");
}
