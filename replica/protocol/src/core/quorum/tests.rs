//! Quorum sizes and counting, with the Byzantine cases: a replica that votes twice, votes
//! that conflict, and ids from outside the cluster.

use rampart_crypto::{ClusterId, KeyPair};

use super::*;

fn r(id: u32) -> ReplicaId {
    ReplicaId(id)
}

fn digest(name: &str) -> Digest {
    Digest::of(name.as_bytes())
}

#[test]
fn sizes_follow_n_equals_3f_plus_1() {
    // (n, f, quorum, weak quorum)
    for (n, f, quorum, weak) in [
        (4, 1, 3, 2),
        (5, 1, 4, 2),
        (6, 1, 5, 2),
        (7, 2, 5, 3),
        (10, 3, 7, 4),
        (13, 4, 9, 5),
    ] {
        let quorums = Quorums::new(n);
        assert_eq!(quorums.faults_tolerated(), f, "n = {n}");
        assert_eq!(quorums.quorum(), quorum, "n = {n}");
        assert_eq!(quorums.weak_quorum(), weak, "n = {n}");
        assert_eq!(quorums.prepares_needed(), quorum - 1, "n = {n}");
    }
}

/// The property every quorum rule rests on: any two quorums share a correct replica, and
/// a weak quorum holds one.
#[test]
fn two_quorums_share_f_plus_1_replicas() {
    for n in 4..=40 {
        let quorums = Quorums::new(n);
        let f = quorums.faults_tolerated();
        // Two quorums of n replicas overlap in at least 2q - n of them.
        let shared = 2 * quorums.quorum() - n;
        assert!(shared > f, "n = {n}: two quorums share only {shared}");
        assert!(quorums.weak_quorum() > f, "n = {n}");
        assert!(
            quorums.quorum() <= n - f,
            "n = {n}: the correct replicas make a quorum"
        );
    }
}

#[test]
fn the_cluster_reports_the_same_sizes() {
    let keys: Vec<_> = (0..7)
        .map(|seed| KeyPair::from_seed(seed).public_key())
        .collect();
    let cluster = Cluster::new(ClusterId(1), keys).expect("valid");
    assert_eq!(cluster.quorums(), Quorums::new(7));
    assert_eq!(
        (
            cluster.faults_tolerated(),
            cluster.quorum(),
            cluster.weak_quorum()
        ),
        (2, 5, 3)
    );
}

#[test]
fn a_replica_that_votes_twice_counts_once() {
    let quorums = Quorums::new(4);
    let a = digest("a");
    let votes = [(r(1), a), (r(1), a), (r(1), a), (r(2), a)];
    assert_eq!(quorums.count(votes, &a), 2);
    assert_eq!(
        quorums.distinct(votes.iter().map(|(replica, _)| *replica)),
        2
    );
    assert_eq!(quorums.matching(votes, &a, 3), vec![(r(1), a), (r(2), a)]);
}

#[test]
fn a_replica_counts_only_for_its_first_vote() {
    // An equivocating replica cannot lend its vote to both sides.
    let quorums = Quorums::new(4);
    let (a, b) = (digest("a"), digest("b"));
    let votes = [(r(3), a), (r(3), b), (r(0), b), (r(1), b)];
    assert_eq!(quorums.count(votes, &a), 1);
    assert_eq!(quorums.count(votes, &b), 2);
}

#[test]
fn conflicting_votes_do_not_add_up() {
    let quorums = Quorums::new(4);
    let (a, b) = (digest("a"), digest("b"));
    let votes = [(r(0), a), (r(1), a), (r(2), b), (r(3), b)];
    assert!(quorums.count(votes, &a) < quorums.quorum());
    assert!(quorums.count(votes, &b) < quorums.quorum());
    let tally = quorums.tally(votes);
    assert_eq!(tally.decided(quorums.quorum()), None);
    assert!(tally.out_of_reach(quorums.quorum()));
}

#[test]
fn a_replica_outside_the_cluster_does_not_count() {
    let quorums = Quorums::new(4);
    let a = digest("a");
    let votes = [(r(0), a), (r(4), a), (r(u32::MAX), a), (r(1), a)];
    assert_eq!(quorums.count(votes, &a), 2);
    assert_eq!(quorums.distinct([r(4), r(5), r(0)]), 1);
    let mut tally = Tally::new(quorums);
    assert!(!tally.vote(r(4), a));
    assert!(!tally.dissent(r(9)));
    assert_eq!(tally.voters(), 0);
}

#[test]
fn votes_from_signed_messages_match_on_view_sequence_number_and_digest() {
    let key = KeyPair::from_seed(1);
    let commit = |replica: u32, view: u64, seq: u64| {
        let commit = Commit {
            view: View(view),
            seq: Seq(seq),
            digest: digest("a"),
            replica: ReplicaId(replica),
        };
        Signed::sign(ClusterId(1), commit, &key).expect("signs")
    };
    let subject = (View(0), Seq(1), digest("a"));
    let commits = [
        commit(0, 0, 1),
        commit(1, 1, 1),
        commit(2, 0, 2),
        commit(3, 0, 1),
    ];
    assert_eq!(Quorums::new(4).count(&commits, &subject), 2);
}

#[test]
fn a_certificate_with_anything_that_does_not_count_is_refused_whole() {
    let quorums = Quorums::new(4);
    let (a, b) = (digest("a"), digest("b"));
    let check = |votes: &[(ReplicaId, Digest)]| quorums.check_certificate(votes, &a, 3);
    assert_eq!(
        check(&[(r(0), a), (r(1), a), (r(3), a)]),
        Ok(vec![r(0), r(1), r(3)])
    );
    assert_eq!(
        check(&[(r(0), a), (r(1), a), (r(1), a)]),
        Err(CertificateFault::Duplicate { replica: r(1) })
    );
    assert_eq!(
        check(&[(r(0), a), (r(2), b), (r(1), a), (r(3), a)]),
        Err(CertificateFault::Mismatch { replica: r(2) })
    );
    assert_eq!(
        check(&[(r(0), a), (r(7), a), (r(1), a)]),
        Err(CertificateFault::Outsider { replica: r(7) })
    );
    assert_eq!(
        check(&[(r(0), a), (r(1), a)]),
        Err(CertificateFault::TooFew {
            voters: 2,
            needed: 3
        })
    );
    assert_eq!(
        check(&[]),
        Err(CertificateFault::TooFew {
            voters: 0,
            needed: 3
        })
    );
}

#[test]
fn f_faulty_replicas_cannot_move_the_highest_position_reached() {
    let quorums = Quorums::new(4);
    let weak = quorums.weak_quorum();
    // One faulty replica claims a far view; it needs a correct one beside it.
    let views = [(r(0), View(3)), (r(3), View(1_000))];
    assert_eq!(quorums.highest_reached(views, weak), Some(View(3)));
    // Claiming the far view under two names, or under a name outside the cluster, does
    // not help.
    let views = [(r(3), View(1_000)), (r(3), View(999)), (r(8), View(1_000))];
    assert_eq!(quorums.highest_reached(views, weak), None);
    // Each replica counts at its highest position.
    let views = [(r(1), View(2)), (r(1), View(7)), (r(2), View(5))];
    assert_eq!(quorums.highest_reached(views, weak), Some(View(5)));
    assert_eq!(quorums.highest_reached(views, 0), None);
}

#[test]
fn a_tally_decides_on_the_leading_value_and_knows_when_no_value_can_win() {
    let quorums = Quorums::new(4);
    let quorum = quorums.quorum();
    let mut tally = Tally::new(quorums);
    assert!(tally.vote(r(0), "x"));
    assert!(tally.vote(r(1), "x"));
    assert!(!tally.vote(r(1), "y"), "a second vote does not count");
    assert_eq!(tally.count(&"x"), 2);
    assert_eq!(tally.count(&"y"), 0);
    assert_eq!(tally.decided(quorum), None);
    assert!(!tally.out_of_reach(quorum));
    assert!(tally.dissent(r(2)));
    assert!(!tally.out_of_reach(quorum), "replica 3 may still answer x");
    assert!(tally.vote(r(3), "y"));
    assert!(tally.out_of_reach(quorum));
    assert_eq!(tally.leader(), Some((&"x", 2)));
    assert_eq!(tally.decided(quorums.weak_quorum()), Some(&"x"));
}

#[test]
fn a_client_accepts_f_plus_1_committed_or_2f_plus_1_executed_alike() {
    // n = 4: f + 1 = 2, 2f + 1 = 3.
    let quorums = Quorums::new(4);
    let (ok, other) = (Bytes::from_static(b"ok"), Bytes::from_static(b"other"));
    let vote = |replica, view, seq, result, tentative| {
        (
            r(replica),
            ResultVote {
                view: View(view),
                seq: Seq(seq),
                result,
                tentative,
            },
        )
    };
    let accepted = |votes: &[(ReplicaId, ResultVote<'_>)], tentative_counts| {
        accepted_result(votes, quorums, tentative_counts).cloned()
    };
    let committed = [vote(0, 0, 1, &ok, false), vote(1, 0, 1, &ok, false)];
    assert_eq!(accepted(&committed, false), Some(ok.clone()));
    let split = [vote(0, 0, 1, &ok, false), vote(1, 0, 1, &other, false)];
    assert_eq!(accepted(&split, true), None);

    let tentative = [
        vote(0, 0, 1, &ok, true),
        vote(1, 0, 1, &ok, true),
        vote(2, 0, 1, &ok, true),
    ];
    assert_eq!(accepted(&tentative[..2], true), None, "f + 1 tentative");
    assert_eq!(accepted(&tentative, true), Some(ok.clone()));
    assert_eq!(
        accepted(&tentative, false),
        None,
        "tentative replies do not count"
    );
    for (view, seq) in [(1, 1), (0, 2)] {
        let mixed = [
            vote(0, 0, 1, &ok, true),
            vote(1, 0, 1, &ok, true),
            vote(2, view, seq, &ok, true),
        ];
        assert_eq!(accepted(&mixed, true), None, "view {view}, seq {seq}");
    }
    let with_committed = [
        vote(0, 0, 1, &ok, true),
        vote(1, 0, 1, &ok, true),
        vote(2, 0, 1, &ok, false),
    ];
    assert_eq!(accepted(&with_committed, true), Some(ok.clone()));
}

#[test]
fn a_client_is_not_fooled_by_one_replica_under_several_names() {
    let quorums = Quorums::new(4);
    let forged = Bytes::from_static(b"forged");
    let vote = |replica, tentative| {
        (
            r(replica),
            ResultVote {
                view: View(0),
                seq: Seq(1),
                result: &forged,
                tentative,
            },
        )
    };
    // The same replica twice, and a name outside the cluster.
    let votes = [
        vote(3, false),
        vote(3, false),
        vote(3, true),
        vote(6, false),
    ];
    assert_eq!(accepted_result(&votes, quorums, true), None);
}

#[test]
fn large_clusters_count_every_replica_once() {
    let quorums = Quorums::new(200);
    let value = digest("a");
    let votes: Vec<(ReplicaId, Digest)> = (0..200)
        .chain(0..200)
        .chain([200, 300])
        .map(|id| (r(id), value))
        .collect();
    assert_eq!(quorums.count(&votes, &value), 200);
    assert_eq!(quorums.distinct(votes.iter().map(|(id, _)| *id)), 200);
    assert_eq!(
        quorums.check_certificate(&votes, &value, 1),
        Err(CertificateFault::Duplicate { replica: r(0) })
    );
}
