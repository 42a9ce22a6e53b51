//! The actuator on hand-made certificates, signed with the real keys of a four-replica test
//! cluster: it trips on a certified shutdown, holds otherwise, latches for the round, and
//! refuses every certificate that does not prove what it claims.

use bytes::Bytes;

use rampart_crypto::{KeyPair, Signature, Signed};
use rampart_protocol::app::{CommandError, encode_command, encode_query};
use rampart_protocol::apps::interlock::{Choice, CountedAs, Tally};
use rampart_protocol::message::{ClientId, Reply, Request, View, encode};

use super::*;
use crate::test_support::{CLUSTER_ID, client_key, commit_proof, test_cluster};

const UNIT: &str = "reactor-1";

fn vote(unit: &str, round: u64, choice: Choice) -> Bytes {
    encode_command::<Interlock>(&Command::Vote {
        unit: unit.to_string(),
        round,
        choice,
        confidence_percent: 90,
    })
}

fn counted(round: u64, shutdown_votes: u32, decision: Decision) -> Output {
    Output::Counted {
        round,
        counted_as: CountedAs::Shutdown,
        tally: Tally {
            shutdown_votes,
            continue_votes: 1,
            abstentions: 0,
            not_voted: 6 - shutdown_votes,
        },
        decision,
    }
}

fn latching(seq: u64) -> Output {
    counted(0, 5, Decision::Shutdown { since: Seq(seq) })
}

fn result_of(output: &Output) -> Bytes {
    Bytes::from(encode(&Ok::<_, CommandError>(output.clone())))
}

/// A genuine certificate: the client's request carrying `operation`, committed at `seq`
/// by replicas 0, 1 and 2, and replies with `result` signed by replicas 1 and 2.
fn certificate_of(operation: Bytes, result: Bytes, seq: u64) -> Certificate {
    let (_, keys) = test_cluster();
    let client = client_key();
    let request = Request {
        client: ClientId(client.public_key()),
        number: seq,
        operation,
        read_only: false,
    };
    let request = Signed::sign(CLUSTER_ID, request, &client).expect("signing cannot fail");
    let proof = commit_proof(&keys, &[0, 1, 2], &request, View(1), Seq(seq), &[]);
    let replies = [1u32, 2]
        .iter()
        .map(|&replica| {
            let reply = Reply {
                view: View(1),
                seq: Seq(seq),
                client: request.value.client,
                number: request.value.number,
                replica: ReplicaId(replica),
                result: result.clone(),
                tentative: false,
            };
            Signed::sign(CLUSTER_ID, reply, &keys[replica as usize]).expect("signing cannot fail")
        })
        .collect();
    Certificate {
        request,
        seq: Seq(seq),
        proof,
        replies,
    }
}

fn certificate(unit: &str, round: u64, output: &Output, seq: u64) -> Certificate {
    certificate_of(vote(unit, round, Choice::Shutdown), result_of(output), seq)
}

fn actuator() -> Actuator {
    Actuator::new(test_cluster().0, UNIT.to_string())
}

fn trip(round: u64, seq: u64) -> Verdict {
    Verdict::Trip {
        unit: UNIT.to_string(),
        round,
        seq: Seq(seq),
        signers: vec![ReplicaId(0), ReplicaId(1), ReplicaId(2)],
        reply_signers: vec![ReplicaId(1), ReplicaId(2)],
    }
}

#[test]
fn a_certified_latching_vote_trips() {
    let mut actuator = actuator();
    assert!(!actuator.is_tripped());
    let verdict = actuator.consider(&certificate(UNIT, 0, &latching(9), 9));
    assert_eq!(verdict, Ok(trip(0, 9)));
    assert!(actuator.is_tripped());
}

#[test]
fn a_certified_undecided_vote_holds() {
    let mut actuator = actuator();
    for (seq, decision) in [(3, Decision::Undecided), (4, Decision::Continue)] {
        let verdict = actuator.consider(&certificate(UNIT, 0, &counted(0, 4, decision), seq));
        assert_eq!(verdict, Ok(Verdict::Hold));
    }
    assert!(!actuator.is_tripped());
}

#[test]
fn a_vote_ignored_because_the_unit_is_shut_down_trips() {
    let mut actuator = actuator();
    let ignored = Output::Ignored {
        reason: IgnoredReason::UnitShutDown {
            round: 0,
            since: Seq(9),
        },
    };
    let verdict = actuator.consider(&certificate(UNIT, 0, &ignored, 12));
    assert_eq!(verdict, Ok(trip(0, 12)));
}

#[test]
fn a_trip_latches_for_its_round_and_only_a_later_round_releases_it() {
    let mut actuator = actuator();
    assert_eq!(
        actuator.consider(&certificate(UNIT, 0, &latching(9), 9)),
        Ok(trip(0, 9))
    );
    // An earlier vote's certificate, handed over late, does not undo the shutdown, and a
    // second proof of it changes nothing.
    let earlier = counted(0, 4, Decision::Undecided);
    assert_eq!(
        actuator.consider(&certificate(UNIT, 0, &earlier, 8)),
        Ok(trip(0, 9))
    );
    assert_eq!(
        actuator.consider(&certificate(UNIT, 0, &latching(9), 9)),
        Ok(trip(0, 9))
    );
    // A vote counted in round 1 proves a quorum of agents reset the unit.
    let next_round = counted(1, 1, Decision::Undecided);
    assert_eq!(
        actuator.consider(&certificate(UNIT, 1, &next_round, 20)),
        Ok(Verdict::Hold)
    );
    assert!(!actuator.is_tripped());
    // The old round's shutdown is stale now.
    assert_eq!(
        actuator.consider(&certificate(UNIT, 0, &latching(9), 9)),
        Ok(Verdict::Hold)
    );
    // A shutdown in round 1 trips again.
    let second = counted(1, 5, Decision::Shutdown { since: Seq(30) });
    assert_eq!(
        actuator.consider(&certificate(UNIT, 1, &second, 30)),
        Ok(trip(1, 30))
    );
}

#[test]
fn a_forged_missing_or_duplicated_signature_is_refused() {
    type Tamper = fn(&mut Certificate);
    let cases: [(&str, Tamper, CertificateError); 7] = [
        (
            "forged COMMIT",
            |c| c.proof.commits[1].signature = Signature([7; 64]),
            CertificateError::ForgedSignature {
                replica: ReplicaId(1),
            },
        ),
        (
            "missing COMMIT",
            |c| c.proof.commits.truncate(2),
            CertificateError::BelowQuorum {
                signers: 2,
                quorum: 3,
            },
        ),
        (
            "duplicated COMMIT",
            |c| c.proof.commits[2] = c.proof.commits[0].clone(),
            CertificateError::DuplicateSigner {
                replica: ReplicaId(0),
            },
        ),
        (
            "forged reply",
            |c| c.replies[0].signature = Signature([9; 64]),
            CertificateError::ForgedReply {
                replica: ReplicaId(1),
            },
        ),
        (
            "missing reply",
            |c| c.replies.truncate(1),
            CertificateError::TooFewReplies {
                replies: 1,
                needed: 2,
            },
        ),
        (
            "duplicated reply",
            |c| c.replies[1] = c.replies[0].clone(),
            CertificateError::DuplicateReply {
                replica: ReplicaId(1),
            },
        ),
        (
            // The replies of an undecided vote, rewritten to claim the shutdown.
            "rewritten result",
            |c| {
                for reply in &mut c.replies {
                    reply.value.result = result_of(&latching(9));
                }
            },
            CertificateError::ForgedReply {
                replica: ReplicaId(1),
            },
        ),
    ];
    for (name, tamper, expected) in cases {
        let mut actuator = actuator();
        let output = if name == "rewritten result" {
            counted(0, 4, Decision::Undecided)
        } else {
            latching(9)
        };
        let mut tampered = certificate(UNIT, 0, &output, 9);
        tamper(&mut tampered);
        assert_eq!(
            actuator.consider(&tampered),
            Err(ActuatorError::Certificate(expected)),
            "{name}"
        );
        assert!(!actuator.is_tripped(), "{name}");
    }
}

#[test]
fn a_certificate_from_another_cluster_is_refused() {
    // The same certificate, but the actuator knows the replicas by other keys.
    let strangers: Vec<_> = (10..14)
        .map(|seed| KeyPair::from_seed(seed).public_key())
        .collect();
    let cluster = Cluster::new(CLUSTER_ID, strangers).expect("valid cluster");
    let mut actuator = Actuator::new(cluster, UNIT.to_string());
    assert!(matches!(
        actuator.consider(&certificate(UNIT, 0, &latching(9), 9)),
        Err(ActuatorError::Certificate(
            CertificateError::ForgedSignature { .. }
        ))
    ));
    assert!(!actuator.is_tripped());
}

#[test]
fn a_certificate_for_another_unit_is_refused() {
    let mut actuator = actuator();
    assert_eq!(
        actuator.consider(&certificate("reactor-2", 0, &latching(9), 9)),
        Err(ActuatorError::WrongUnit {
            expected: UNIT.to_string(),
            found: "reactor-2".to_string(),
        })
    );
    assert!(!actuator.is_tripped());
}

#[test]
fn anything_but_a_decodable_vote_is_refused() {
    let mut actuator = actuator();
    let shut_down = result_of(&latching(9));
    let reset = encode_command::<Interlock>(&Command::Reset {
        unit: UNIT.to_string(),
        round: 0,
    });
    let query = encode_query::<Interlock>(&Query::Status {
        unit: UNIT.to_string(),
    });
    assert_eq!(
        actuator.consider(&certificate_of(reset, shut_down.clone(), 9)),
        Err(ActuatorError::NotAVote { found: "a reset" })
    );
    assert_eq!(
        actuator.consider(&certificate_of(query, shut_down.clone(), 9)),
        Err(ActuatorError::NotAVote { found: "a query" })
    );
    assert!(matches!(
        actuator.consider(&certificate_of(
            Bytes::from_static(b"shut it all down"),
            shut_down,
            9
        )),
        Err(ActuatorError::UndecodableOperation { .. })
    ));
    let vote = vote(UNIT, 0, Choice::Shutdown);
    assert!(matches!(
        actuator.consider(&certificate_of(vote.clone(), Bytes::from_static(b"yes"), 9)),
        Err(ActuatorError::UndecodableResult { .. })
    ));
    // The replicas refused the operation: a certified error is no decision.
    let refused = Bytes::from(encode(&Err::<Output, _>(
        CommandError::UndecodableCommand { length: 3 },
    )));
    assert!(matches!(
        actuator.consider(&certificate_of(vote.clone(), refused, 9)),
        Err(ActuatorError::UndecodableResult { .. })
    ));
    let reset_counted = Output::ResetCounted {
        round: 0,
        reset_votes: 1,
        reset: false,
    };
    assert_eq!(
        actuator.consider(&certificate_of(vote, result_of(&reset_counted), 9)),
        Err(ActuatorError::UnexpectedOutput)
    );
    assert!(!actuator.is_tripped());
}
