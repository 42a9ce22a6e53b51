//! Step tests for tentative execution (PBFT §5.1.2).

use super::*;

fn replies(actions: &[Action]) -> Vec<&Reply> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Reply(reply) => Some(reply),
            _ => None,
        })
        .collect()
}

fn committed(actions: &[Action]) -> Vec<(Seq, Digest, &Vec<Reply>)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Committed {
                seq,
                digest,
                replies,
            } => Some((*seq, *digest, replies)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_prepared_batch_runs_tentatively_and_its_commit_makes_it_final() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1]);
    let actions = prepare_slot(&h, &mut backup, 1, &batch);
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert!(executed[0].tentative && !executed[0].checkpoint);
    assert_eq!(executed[0].seq, Seq(1));

    let actions = report(&mut backup, 1, &[b"r1"]);
    let sent = replies(&actions);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].tentative);
    assert_eq!((sent[0].view, sent[0].seq), (View(0), Seq(1)));
    assert!(backup.has_tentative_execution());
    assert_eq!(backup.last_executed(), Seq(0), "not committed yet");
    // Not in the reply cache before it commits: a retransmission is not answered from it.
    let retransmitted = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert!(replies(&retransmitted).is_empty(), "{retransmitted:?}");

    let actions = peers_commit(&h, &mut backup, 1, batch.digest());
    assert!(executions(&actions).is_empty(), "ran twice: {actions:?}");
    let done = committed(&actions);
    assert_eq!(done.len(), 1, "{actions:?}");
    assert_eq!((done[0].0, done[0].1), (Seq(1), batch.digest()));
    assert!(
        done[0]
            .2
            .iter()
            .all(|r| !r.tentative && r.result == b"r1"[..])
    );
    assert_eq!(backup.last_executed(), Seq(1));
    assert!(!backup.has_tentative_execution());
    let retransmitted = backup.handle(Input::Request(Verified::assume_verified(h.request(1))));
    assert_eq!(replies(&retransmitted).len(), 1, "answered from the cache");
}

#[test]
fn only_the_batch_after_the_committed_ones_runs_ahead() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    let first = h.batch(&[1]);
    let second = h.batch(&[2]);
    prepare_slot(&h, &mut backup, 1, &first);
    report(&mut backup, 1, &[b"r1"]);
    let actions = prepare_slot(&h, &mut backup, 2, &second);
    assert!(
        executions(&actions).is_empty(),
        "2 ran ahead of an uncommitted 1: {actions:?}"
    );
    // Once 1 commits, 2 (prepared) runs tentatively in turn.
    let actions = peers_commit(&h, &mut backup, 1, first.digest());
    assert_eq!(committed(&actions).len(), 1);
    let executed = executions(&actions);
    assert_eq!(executed.len(), 1, "{actions:?}");
    assert_eq!(executed[0].seq, Seq(2));
    assert!(executed[0].tentative);
}

#[test]
fn nothing_runs_ahead_at_a_checkpoint_or_with_tentative_execution_off() {
    // The checkpoint interval is 4: the snapshot at 4 must be of committed state.
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    for seq in 1..=3 {
        commit_slot(&h, &mut backup, seq, &h.batch(&[seq]));
        report(&mut backup, seq, &[b"r"]);
    }
    assert_eq!(backup.last_executed(), Seq(3));
    let actions = prepare_slot(&h, &mut backup, 4, &h.batch(&[4]));
    assert!(executions(&actions).is_empty(), "{actions:?}");

    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let actions = prepare_slot(&h, &mut backup, 1, &h.batch(&[1]));
    assert!(executions(&actions).is_empty(), "{actions:?}");
}

#[test]
fn a_tentative_batch_that_commits_with_another_digest_is_rolled_back() {
    let h = Harness::tentative(4);
    let mut backup = h.replica(1);
    let ran = h.batch(&[1]);
    prepare_slot(&h, &mut backup, 1, &ran);
    report(&mut backup, 1, &[b"r1"]);
    // A quorum committed another batch at 1 in view 1 (more than f faulty replicas, or a
    // view change that dropped this one's batch): the tentative state must go.
    let other = h.batch(&[2]);
    let commits = [0, 2, 3]
        .into_iter()
        .map(|from| match h.commit(from, 1, 1, other.digest()) {
            Message::Commit(commit) => commit,
            _ => unreachable!(),
        })
        .collect();
    let certificate = crate::message::CommitCertificate {
        commits,
        batch: other.clone(),
    };
    let actions = deliver(&mut backup, 0, Message::CommitCertificate(certificate));
    assert!(
        actions.iter().any(|a| matches!(a, Action::Rollback)),
        "{actions:?}"
    );
    assert!(executions(&actions).is_empty());
    assert!(committed(&actions).is_empty());
    // The replica executes nothing more until the shell rebuilds it from durable state.
    let later = commit_slot(&h, &mut backup, 2, &h.batch(&[3]));
    assert!(executions(&later).is_empty(), "{later:?}");
}
