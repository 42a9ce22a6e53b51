//! Step tests for the replica's status: PBFT's normal operation and view change (§4.4),
//! state transfer beside them (§5.3.2), and recovery.

use super::*;
use crate::core::Status as ReplicaStatus;

/// The state fetched for checkpoint 4, and its digest.
fn state_at_4() -> (ClientTable, Digest) {
    let table = ClientTable::default();
    let digest = checkpoint_digest(Seq(4), Digest::of(b"app"), &table);
    (table, digest)
}

#[test]
fn a_replica_reports_a_view_change_and_a_transfer_beside_it() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    let mut persisted = PersistedState::default();
    assert_eq!(replica.status(), ReplicaStatus::Normal);
    for from in [1, 2] {
        let actions = deliver(&mut replica, from, view_change_message(&h, from, 1));
        persist_into(&mut persisted, &h, 3, &actions);
    }
    assert_eq!(replica.status(), ReplicaStatus::ViewChange);
    // A stable checkpoint above its execution: it fetches the state while it goes on
    // changing views.
    let (table, digest) = state_at_4();
    for from in [0, 1, 2] {
        let actions = deliver(&mut replica, from, h.checkpoint(from, 4, digest));
        persist_into(&mut persisted, &h, 3, &actions);
    }
    assert_eq!(replica.status(), ReplicaStatus::Transferring);
    assert!(!replica.is_normal() && replica.is_transferring());
    // Restarted now, it comes back in the same place.
    let (recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(3),
        0,
        &persisted,
        Restored::default(),
    );
    assert_eq!(recovered.status(), ReplicaStatus::Transferring);
    assert_eq!(recovered.view(), View(1));
    assert!(!recovered.is_normal());

    let actions = replica.handle(Input::StateFetched {
        seq: Seq(4),
        from: ReplicaId(0),
        app_digest: Digest::of(b"app"),
        client_table: table,
    });
    assert!(actions.contains(&Action::InstallState {
        seq: Seq(4),
        state_digest: digest
    }));
    assert_eq!(replica.status(), ReplicaStatus::ViewChange);
}

#[test]
fn a_replica_that_rolled_back_recovers_and_takes_no_more_input() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    prepare_slot(&h, &mut backup, 1, &h.batch(&[1]));
    report(&mut backup, 1, &[b"r1"]);
    assert_eq!(backup.status(), ReplicaStatus::Normal);
    let other = h.batch(&[2]);
    let commits = [0, 2, 3]
        .into_iter()
        .filter_map(|from| match h.commit(from, 0, 1, other.digest()) {
            Message::Commit(commit) => Some(commit),
            _ => None,
        })
        .collect();
    let certificate = crate::message::CommitCertificate {
        commits,
        batch: other,
    };
    let actions = deliver(&mut backup, 0, Message::CommitCertificate(certificate));
    assert!(actions.contains(&Action::Rollback), "{actions:?}");
    assert_eq!(backup.status(), ReplicaStatus::Recovering);
    for input in [
        Input::Tick,
        Input::Request(Verified::assume_verified(h.request(5))),
    ] {
        assert_eq!(backup.handle(input), []);
    }
    let later = deliver(&mut backup, 0, h.pre_prepare(0, 2, &h.batch(&[3])));
    assert_eq!(later, []);
    assert_eq!(rejected(&backup, Reject::Recovering), 3);
}
