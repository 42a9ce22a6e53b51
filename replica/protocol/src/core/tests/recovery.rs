//! Step tests for recovery from durable state: a restarted replica keeps the bounds of a
//! running one and never contradicts what it sent before the crash.

use super::*;

/// The store keeps every CHECKPOINT accepted above the stable one, also those a running
/// replica had already let go of beyond its bound per sender; a restart must apply the
/// bound again rather than hold them all.
#[test]
fn a_recovered_replica_keeps_no_more_checkpoints_per_sender_than_a_running_one() {
    let h = Harness::new(4);
    let mut persisted = PersistedState::default();
    let sent = CHECKPOINTS_PER_REPLICA_MAX as u64 + 3;
    for index in 1..=sent {
        let seq = index * h.config.checkpoint_interval;
        let checkpoint = h.checkpoint(2, seq, Digest::of(&seq.to_le_bytes()));
        persisted.insert_message(&checkpoint, 4);
    }
    let (recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(1),
        0,
        &persisted,
        Restored::default(),
    );
    let held: Vec<Seq> = recovered
        .checkpoints
        .votes
        .iter()
        .filter(|(_, by_replica)| by_replica.contains_key(&ReplicaId(2)))
        .map(|(seq, _)| *seq)
        .collect();
    let newest: Vec<Seq> = (sent + 1 - CHECKPOINTS_PER_REPLICA_MAX as u64..=sent)
        .map(|index| Seq(index * h.config.checkpoint_interval))
        .collect();
    assert_eq!(held, newest);
}

#[test]
fn a_recovered_replica_resumes_without_contradicting_itself() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let mut persisted = PersistedState::default();
    let batch = h.batch(&[1]);
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    persist_into(&mut persisted, &h, 1, &actions);
    let (recovered, actions) = Replica::recover(
        h.config.clone(),
        ReplicaId(1),
        0,
        &persisted,
        Restored::default(),
    );
    // The prepare it had sent is known; nothing new or different is sent for slot 1.
    let slot = recovered.log().get(Seq(1)).expect("slot restored");
    assert!(slot.round.prepare_sent);
    assert_eq!(slot.round.digest(), Some(batch.digest()));
    assert!(broadcasts(&actions).is_empty(), "{actions:?}");
}

/// Peers' PREPAREs are persisted only inside the prepared certificate (`persist.rs`): a
/// replica restarted after preparing must still commit on its peers' COMMITs alone,
/// without waiting for the PREPAREs to be resent.
#[test]
fn a_replica_restarted_after_preparing_commits_without_its_peers_prepares_resent() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let mut persisted = PersistedState::default();
    let batch = h.batch(&[1]);
    let digest = batch.digest();
    let actions = deliver(&mut backup, 0, h.pre_prepare(0, 1, &batch));
    persist_into(&mut persisted, &h, 1, &actions);
    for from in [2, 3] {
        let actions = deliver(&mut backup, from, h.prepare(from, 0, 1, digest));
        persist_into(&mut persisted, &h, 1, &actions);
    }
    assert!(backup.log().get(Seq(1)).expect("slot").prepared.is_some());

    let (mut recovered, _) = Replica::recover(
        h.config.clone(),
        ReplicaId(1),
        0,
        &persisted,
        Restored::default(),
    );
    let mut actions = Vec::new();
    for from in [0, 2] {
        actions.extend(deliver(&mut recovered, from, h.commit(from, 0, 1, digest)));
    }
    let own_commit = h.commit(1, 0, 1, digest);
    actions.extend(deliver(&mut recovered, 1, own_commit));
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert_eq!(executed[0].seq, Seq(1));
}
