//! Step tests for who answers a client and with what proof (`replier.rs`, PBFT §4.1,
//! §5.1.1, §5.1.2).

use super::*;
use crate::message::{batch_digest, request_digest};

/// With the primary, the designated backups make exactly the quorum a client needs: f + 1
/// committed replies, or 2f + 1 with tentative execution. Every backup takes its turn.
#[test]
fn the_primary_and_the_designated_backups_make_exactly_the_quorum_a_client_needs() {
    for f in 1..=3usize {
        let n = 3 * f + 1;
        for backups in [f, 2 * f] {
            for primary in (0..n as u32).map(ReplicaId) {
                let mut turns = vec![0; n];
                for number in 0..3 * n as u64 {
                    let designated: Vec<usize> = (0..n)
                        .filter(|&r| {
                            answers_as_backup(ReplicaId(r as u32), primary, n, backups, number)
                        })
                        .collect();
                    assert_eq!(designated.len(), backups, "n {n}, request {number}");
                    assert!(!designated.contains(&(primary.0 as usize)));
                    for r in designated {
                        turns[r] += 1;
                    }
                }
                let idle = (0..n).filter(|&r| r != primary.0 as usize && turns[r] == 0);
                assert_eq!(idle.count(), 0, "n {n}: a backup never answers");
            }
        }
    }
}

#[test]
fn no_replica_outside_the_cluster_or_of_a_degenerate_one_is_designated() {
    assert!(!answers_as_backup(ReplicaId(9), ReplicaId(0), 4, 3, 1));
    assert!(!answers_as_backup(ReplicaId(1), ReplicaId(9), 4, 3, 1));
    assert!(!answers_as_backup(ReplicaId(0), ReplicaId(0), 1, 1, 1));
    assert!(!answers_as_backup(ReplicaId(0), ReplicaId(0), 0, 1, 1));
}

/// The replicas that answer request `number` in their current views.
fn repliers(replicas: &[Replica], number: u64) -> Vec<u32> {
    replicas
        .iter()
        .filter(|replica| replica.is_designated_replier(number))
        .map(|replica| replica.id().0)
        .collect()
}

#[test]
fn the_primary_of_the_current_view_and_f_or_2f_backups_answer() {
    for (h, answering) in [(Harness::new(4), 2), (Harness::tentative(4), 3)] {
        let mut replicas: Vec<Replica> = (0..4).map(|id| h.replica(id)).collect();
        for number in 1..=6 {
            let chosen = repliers(&replicas, number);
            assert_eq!(chosen.len(), answering, "request {number}: {chosen:?}");
            assert!(chosen.contains(&0), "the primary of view 0 answers");
        }
        // In view 1, replica 1 leads and answers.
        for replica in &mut replicas {
            for from in [2, 3] {
                deliver(replica, from, view_change_message(&h, from, 1));
            }
            assert_eq!(replica.view(), View(1));
        }
        for number in 1..=6 {
            let chosen = repliers(&replicas, number);
            assert_eq!(chosen.len(), answering, "request {number}: {chosen:?}");
            assert!(chosen.contains(&1), "the primary of view 1 answers");
        }
    }
}

#[test]
fn a_committed_request_comes_with_the_proof_a_client_checks() {
    let h = Harness::new(4);
    let mut backup = h.replica(1);
    let batch = h.batch(&[1, 2, 3]);
    assert_eq!(
        backup.commit_proof(Seq(1), batch.requests[1].value.key()),
        None
    );
    commit_slot(&h, &mut backup, 1, &batch);
    let key = batch.requests[1].value.key();
    let proof = backup.commit_proof(Seq(1), key).expect("decided");
    assert_eq!(proof.position, 1);
    assert_eq!(proof.request_digests[1], request_digest(&batch.requests[1]));
    assert_eq!(batch_digest(&proof.request_digests), batch.digest());
    let subject = (View(0), Seq(1), batch.digest());
    assert!(Quorums::new(4).count(&proof.commits, &subject) >= Quorums::new(4).quorum());
    // Not in the batch, or not decided there.
    let other = h.request(9).value.key();
    assert_eq!(backup.commit_proof(Seq(1), other), None);
    assert_eq!(backup.commit_proof(Seq(2), key), None);
}
