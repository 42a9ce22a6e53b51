//! Table-driven tests of the interlock policy.

use super::*;
use crate::app::{ReplyError, StateMachine, Typed, decode_output, encode_command};
use crate::message::Seq;
use rampart_crypto::KeyPair;

const UNIT: &str = "pump-1";

fn agent(index: usize) -> ClientId {
    ClientId(KeyPair::from_seed(index as u64 + 1).public_key())
}

fn stranger(index: usize) -> ClientId {
    ClientId(KeyPair::from_seed(1000 + index as u64).public_key())
}

fn policy(agents: usize, quorum: u32, faulty: u32) -> Policy {
    Policy {
        registered_agents: (0..agents).map(agent).collect(),
        units: [UNIT.to_string(), "valve-2".to_string()].into(),
        shutdown_quorum: quorum,
        faulty_agents_tolerated: faulty,
        min_confidence_percent: 60,
    }
}

/// Seven agents, a quorum of five, two faulty agents tolerated.
fn seven_five_two() -> Interlock {
    Interlock::new(policy(7, 5, 2)).expect("a valid policy")
}

fn vote(choice: Choice, confidence_percent: u8) -> Command {
    Command::Vote {
        unit: UNIT.to_string(),
        round: 0,
        choice,
        confidence_percent,
    }
}

fn shutdown() -> Command {
    vote(Choice::Shutdown, 90)
}

fn proceed() -> Command {
    vote(Choice::Continue, 90)
}

/// One command in a scenario, and how it must be answered: `None` for counted, or the
/// reason it must be ignored for.
struct Step {
    voter: ClientId,
    command: Command,
    ignored: Option<IgnoredReason>,
}

fn counted(voter: ClientId, command: Command) -> Step {
    Step {
        voter,
        command,
        ignored: None,
    }
}

fn ignored(voter: ClientId, command: Command, reason: IgnoredReason) -> Step {
    Step {
        voter,
        command,
        ignored: Some(reason),
    }
}

/// The decision, without the sequence number of a shutdown.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expected {
    Shutdown,
    Continue,
    Undecided,
}

fn expected(decision: Decision) -> Expected {
    match decision {
        Decision::Shutdown { .. } => Expected::Shutdown,
        Decision::Continue => Expected::Continue,
        Decision::Undecided => Expected::Undecided,
    }
}

/// Runs `steps` from genesis, checking every answer and the invariants after each step.
/// Step i is ordered at sequence number i + 1.
fn run(name: &str, interlock: &mut Interlock, steps: Vec<Step>) {
    for (index, step) in steps.into_iter().enumerate() {
        let context = ApplyContext {
            client: step.voter,
            request_number: index as u64 + 1,
            seq: Seq(index as u64 + 1),
        };
        let described = format!("{name}, step {index}: {:?}", step.command);
        let output = interlock.apply(&context, step.command);
        match (&output, step.ignored) {
            (Output::Ignored { reason }, Some(expected)) => {
                assert_eq!(*reason, expected, "{described}")
            }
            (Output::Counted { .. } | Output::ResetCounted { .. }, None) => {}
            (output, expected) => panic!("{described}: got {output:?}, expected {expected:?}"),
        }
        interlock.check().expect(&described);
    }
}

fn decision_of(interlock: &Interlock) -> Expected {
    let status = interlock.status(UNIT).expect("the unit exists");
    expected(status.decision)
}

#[test]
fn votes_decide_by_the_policy() {
    let a = agent;
    let unit_shut_down = |since| IgnoredReason::UnitShutDown {
        round: 0,
        since: Seq(since),
    };
    let cases: Vec<(&str, Vec<Step>, Expected)> =
        vec![
            (
                "a quorum of shutdown votes shuts the unit down",
                (0..5).map(|i| counted(a(i), shutdown())).collect(),
                Expected::Shutdown,
            ),
            (
                "four shutdown votes are not enough",
                (0..4).map(|i| counted(a(i), shutdown())).collect(),
                Expected::Undecided,
            ),
            (
                "unregistered voters are ignored",
                (0..4)
                    .map(|i| counted(a(i), shutdown()))
                    .chain((0..3).map(|i| {
                        ignored(stranger(i), shutdown(), IgnoredReason::UnregisteredAgent)
                    }))
                    .collect(),
                Expected::Undecided,
            ),
            (
                "a duplicate vote from the same agent is ignored",
                vec![
                    counted(a(0), shutdown()),
                    ignored(
                        a(0),
                        shutdown(),
                        IgnoredReason::UnchangedVote {
                            counted_as: CountedAs::Shutdown,
                        },
                    ),
                    // A different confidence that counts the same way is a duplicate too.
                    ignored(
                        a(0),
                        vote(Choice::Shutdown, 100),
                        IgnoredReason::UnchangedVote {
                            counted_as: CountedAs::Shutdown,
                        },
                    ),
                    counted(a(1), shutdown()),
                    counted(a(2), shutdown()),
                    counted(a(3), shutdown()),
                ],
                Expected::Undecided,
            ),
            (
                "votes below the minimum confidence are abstentions",
                (0..4)
                    .map(|i| counted(a(i), shutdown()))
                    .chain((4..7).map(|i| counted(a(i), vote(Choice::Shutdown, 59))))
                    .collect(),
                Expected::Undecided,
            ),
            (
                "a vote at exactly the minimum confidence counts",
                (0..4)
                    .map(|i| counted(a(i), shutdown()))
                    .chain([counted(a(4), vote(Choice::Shutdown, 60))])
                    .collect(),
                Expected::Shutdown,
            ),
            (
                "two faulty agents voting continue do not block a shutdown",
                [counted(a(5), proceed()), counted(a(6), proceed())]
                    .into_iter()
                    .chain((0..5).map(|i| counted(a(i), shutdown())))
                    .collect(),
                Expected::Shutdown,
            ),
            (
                "two faulty agents voting shutdown do not trigger one",
                [counted(a(5), shutdown()), counted(a(6), shutdown())]
                    .into_iter()
                    .chain((0..5).map(|i| counted(a(i), proceed())))
                    .collect(),
                Expected::Continue,
            ),
            (
                "two faulty agents flipping their votes do not trigger a shutdown",
                [5, 6, 5, 6, 5, 6]
                    .into_iter()
                    .enumerate()
                    .map(|(n, i)| counted(a(i), if n % 4 < 2 { shutdown() } else { proceed() }))
                    .chain([counted(a(0), shutdown()), counted(a(1), shutdown())])
                    .collect(),
                Expected::Undecided,
            ),
            (
                "a stale continue ballot and two silent faulty agents do not block",
                [counted(a(0), proceed())]
                    .into_iter()
                    .chain((1..5).map(|i| counted(a(i), shutdown())))
                    .chain([counted(a(0), shutdown())])
                    .collect(),
                Expected::Shutdown,
            ),
            (
                "a withdrawn shutdown ballot no longer counts",
                (0..4)
                    .map(|i| counted(a(i), shutdown()))
                    .chain([
                        counted(a(0), proceed()),
                        counted(a(4), shutdown()),
                        counted(a(5), vote(Choice::Shutdown, 10)),
                    ])
                    .collect(),
                Expected::Undecided,
            ),
            (
                "a shutdown latches: later continue votes are ignored",
                (0..5)
                    .map(|i| counted(a(i), shutdown()))
                    .chain((0..7).map(|i| ignored(a(i), proceed(), unit_shut_down(5))))
                    .collect(),
                Expected::Shutdown,
            ),
            (
                "a quorum of continue ballots reads continue, and does not stop a later shutdown",
                (0..5)
                    .map(|i| counted(a(i), proceed()))
                    .chain((0..5).map(|i| counted(a(i), shutdown())))
                    .collect(),
                Expected::Shutdown,
            ),
            (
                "votes for another round, an unknown unit or an impossible confidence are ignored",
                vec![
                    ignored(
                        a(0),
                        Command::Vote {
                            unit: UNIT.to_string(),
                            round: 1,
                            choice: Choice::Shutdown,
                            confidence_percent: 90,
                        },
                        IgnoredReason::WrongRound { current: 0 },
                    ),
                    ignored(
                        a(0),
                        Command::Vote {
                            unit: "no-such-unit".to_string(),
                            round: 0,
                            choice: Choice::Shutdown,
                            confidence_percent: 90,
                        },
                        IgnoredReason::UnknownUnit,
                    ),
                    ignored(
                        a(0),
                        vote(Choice::Shutdown, 101),
                        IgnoredReason::ConfidenceOutOfRange {
                            confidence_percent: 101,
                        },
                    ),
                ],
                Expected::Undecided,
            ),
        ];
    for (name, steps, decision) in cases {
        let mut interlock = seven_five_two();
        run(name, &mut interlock, steps);
        assert_eq!(decision_of(&interlock), decision, "{name}");
        // Units are independent: the other unit never moves.
        let other = interlock.status("valve-2").expect("the unit exists");
        assert_eq!(other.decision, Decision::Undecided, "{name}");
        assert!(other.history.is_empty(), "{name}");
    }
}

#[test]
fn a_shutdown_is_reset_only_by_a_quorum_of_registered_agents() {
    let reset = |round| Command::Reset {
        unit: UNIT.to_string(),
        round,
    };
    let mut interlock = seven_five_two();
    let steps: Vec<Step> = [ignored(agent(0), reset(0), IgnoredReason::NotShutDown)]
        .into_iter()
        .chain((0..5).map(|i| counted(agent(i), shutdown())))
        .chain([
            ignored(stranger(0), reset(0), IgnoredReason::UnregisteredAgent),
            ignored(agent(0), reset(1), IgnoredReason::WrongRound { current: 0 }),
            // Two faulty agents cannot reset on their own, however often they ask.
            counted(agent(5), reset(0)),
            counted(agent(6), reset(0)),
            ignored(agent(6), reset(0), IgnoredReason::DuplicateResetVote),
            counted(agent(0), reset(0)),
            counted(agent(1), reset(0)),
        ])
        .collect();
    run("reset", &mut interlock, steps);
    assert_eq!(decision_of(&interlock), Expected::Shutdown);

    let context = ApplyContext {
        client: agent(2),
        request_number: 1,
        seq: Seq(100),
    };
    assert_eq!(
        interlock.apply(&context, reset(0)),
        Output::ResetCounted {
            round: 0,
            reset_votes: 5,
            reset: true,
        }
    );
    let status = interlock.status(UNIT).expect("the unit exists");
    assert_eq!(status.round, 1);
    assert_eq!(status.decision, Decision::Undecided);
    assert!(status.ballots.is_empty() && status.reset_votes.is_empty());
    assert_eq!(
        status
            .history
            .last()
            .map(|entry| (entry.seq, entry.round, &entry.event)),
        Some((Seq(100), 0, &Event::Reset))
    );

    // A vote delayed across the reset does not count in the new round.
    let context = ApplyContext {
        seq: Seq(101),
        ..context
    };
    assert_eq!(
        interlock.apply(&context, shutdown()),
        Output::Ignored {
            reason: IgnoredReason::WrongRound { current: 1 }
        }
    );
    interlock.check().expect("invariants hold");
}

#[test]
fn the_status_reports_ballots_and_history_with_sequence_numbers() {
    let mut interlock = seven_five_two();
    let steps = vec![
        counted(agent(0), proceed()),
        counted(agent(1), vote(Choice::Shutdown, 30)),
        ignored(stranger(0), shutdown(), IgnoredReason::UnregisteredAgent),
        counted(agent(0), shutdown()),
    ];
    run("status", &mut interlock, steps);
    let status = interlock.status(UNIT).expect("the unit exists");
    assert_eq!(
        status.tally,
        Tally {
            shutdown_votes: 1,
            continue_votes: 0,
            abstentions: 1,
            not_voted: 5,
        }
    );
    assert_eq!(
        status.ballots.get(&agent(0)),
        Some(&Ballot {
            choice: Choice::Shutdown,
            confidence_percent: 90,
            counted_as: CountedAs::Shutdown,
            seq: Seq(4),
        })
    );
    let history: Vec<(Seq, ClientId, CountedAs)> = status
        .history
        .iter()
        .filter_map(|entry| match entry.event {
            Event::Vote {
                agent, counted_as, ..
            } => Some((entry.seq, agent, counted_as)),
            _ => None,
        })
        .collect();
    assert_eq!(
        history,
        vec![
            (Seq(1), agent(0), CountedAs::Continue),
            (Seq(2), agent(1), CountedAs::Abstention),
            (Seq(4), agent(0), CountedAs::Shutdown),
        ]
    );

    let client = agent(0);
    assert_eq!(
        interlock.query(
            &client,
            Query::Status {
                unit: UNIT.to_string()
            }
        ),
        QueryOutput::Status(status)
    );
    assert_eq!(
        interlock.query(
            &client,
            Query::Status {
                unit: "nope".to_string()
            }
        ),
        QueryOutput::UnknownUnit {
            unit: "nope".to_string()
        }
    );
    assert_eq!(
        interlock.query(&client, Query::Policy),
        QueryOutput::Policy(policy(7, 5, 2))
    );
}

#[test]
fn the_history_is_bounded_and_counts_what_it_dropped() {
    let mut interlock = seven_five_two();
    let flips = HISTORY_ENTRIES_MAX + 10;
    let steps = (0..flips)
        .map(|n| counted(agent(6), if n % 2 == 0 { shutdown() } else { proceed() }))
        .collect();
    run("flipping", &mut interlock, steps);
    let status = interlock.status(UNIT).expect("the unit exists");
    assert_eq!(status.history.len(), HISTORY_ENTRIES_MAX);
    assert_eq!(status.history_dropped, 10);
    assert_eq!(status.history.first().map(|entry| entry.seq), Some(Seq(11)));
}

#[test]
fn invalid_policies_are_refused_with_the_reason() {
    let with = |change: fn(&mut Policy)| {
        let mut policy = policy(7, 5, 2);
        change(&mut policy);
        policy
    };
    let cases: Vec<(&str, Policy, Result<(), PolicyError>)> = vec![
        (
            "seven agents, quorum five, two faulty",
            policy(7, 5, 2),
            Ok(()),
        ),
        (
            "four agents, quorum three, one faulty",
            policy(4, 3, 1),
            Ok(()),
        ),
        (
            "one agent, quorum one, none faulty",
            policy(1, 1, 0),
            Ok(()),
        ),
        ("no agents", policy(0, 1, 0), Err(PolicyError::NoAgents)),
        (
            "no units",
            with(|p| p.units.clear()),
            Err(PolicyError::NoUnits),
        ),
        (
            "an empty unit name",
            with(|p| {
                p.units.insert(String::new());
            }),
            Err(PolicyError::InvalidUnitName {
                unit: String::new(),
            }),
        ),
        (
            "quorum zero",
            policy(7, 0, 0),
            Err(PolicyError::QuorumOutOfRange {
                quorum: 0,
                agents: 7,
            }),
        ),
        (
            "quorum above the agents",
            policy(7, 8, 2),
            Err(PolicyError::QuorumOutOfRange {
                quorum: 8,
                agents: 7,
            }),
        ),
        (
            "faulty agents reach the quorum alone",
            policy(7, 5, 5),
            Err(PolicyError::FaultyAgentsCanTrigger {
                faulty: 5,
                quorum: 5,
            }),
        ),
        (
            "three faulty agents of seven block a quorum of five",
            policy(7, 5, 3),
            Err(PolicyError::FaultyAgentsCanBlock {
                faulty: 3,
                quorum: 5,
                agents: 7,
            }),
        ),
        (
            "quorum three of seven is not a majority",
            policy(7, 3, 0),
            Err(PolicyError::QuorumNotMajority {
                quorum: 3,
                agents: 7,
            }),
        ),
        (
            "quorum two of four is not a majority",
            policy(4, 2, 0),
            Err(PolicyError::QuorumNotMajority {
                quorum: 2,
                agents: 4,
            }),
        ),
        (
            "minimum confidence above 100%",
            with(|p| p.min_confidence_percent = 101),
            Err(PolicyError::MinConfidenceOutOfRange {
                min_confidence_percent: 101,
            }),
        ),
    ];
    for (name, policy, expected) in cases {
        assert_eq!(policy.validate(), expected, "{name}");
        assert_eq!(Interlock::new(policy).map(|_| ()), expected, "{name}");
    }
}

#[test]
fn snapshots_round_trip_and_do_not_depend_on_configuration_order() {
    let mut reversed_policy = policy(7, 5, 2);
    reversed_policy.registered_agents = (0..7).rev().map(agent).collect();
    let genesis = Typed::new(seven_five_two());
    let reversed = Typed::new(Interlock::new(reversed_policy).expect("a valid policy"));
    assert_eq!(genesis.snapshot(), reversed.snapshot());

    let mut source = seven_five_two();
    run(
        "snapshot",
        &mut source,
        (0..5).map(|i| counted(agent(i), shutdown())).collect(),
    );
    let source = Typed::new(source);
    let mut target = Typed::new(seven_five_two());
    target.restore(&source.snapshot()).expect("restores");
    assert_eq!(target.app(), source.app());
    assert_eq!(target.snapshot(), source.snapshot());
}

#[test]
fn restore_refuses_another_policy_and_inconsistent_states() {
    let mut target = Typed::new(seven_five_two());
    let before = target.snapshot();

    let other_policy = Typed::new(Interlock::new(policy(4, 3, 1)).expect("a valid policy"));
    assert!(matches!(
        target.restore(&other_policy.snapshot()),
        Err(AppError::RejectedSnapshot { .. })
    ));

    // A snapshot in which a stranger holds a ballot.
    let mut tampered = seven_five_two();
    if let Some(record) = tampered.units.get_mut(UNIT) {
        record.ballots.insert(
            stranger(0),
            Ballot {
                choice: Choice::Shutdown,
                confidence_percent: 90,
                counted_as: CountedAs::Shutdown,
                seq: Seq(1),
            },
        );
    }
    assert!(tampered.check().is_err());
    assert!(matches!(
        target.restore(&Typed::new(tampered).snapshot()),
        Err(AppError::RejectedSnapshot { .. })
    ));

    assert!(matches!(
        target.restore(b"not a snapshot"),
        Err(AppError::UndecodableSnapshot { .. })
    ));
    assert_eq!(target.snapshot(), before);
}

#[test]
fn the_typed_adapter_refuses_garbage_without_touching_the_state() {
    let mut machine = Typed::new(seven_five_two());
    let before = machine.snapshot();
    let context = ApplyContext {
        client: agent(0),
        request_number: 1,
        seq: Seq(1),
    };
    for bytes in [
        &b""[..],
        b"\x00",
        b"\x07\x01",
        b"\x00\xfd\xff\xff\xff\xff\xff\xff\xff\xff",
    ] {
        let result = machine.apply(&context, bytes);
        assert!(
            matches!(
                decode_output::<Interlock>(&result),
                Err(ReplyError::Refused { .. })
            ),
            "{bytes:?}"
        );
    }
    assert_eq!(machine.snapshot(), before);

    let result = machine.apply(&context, &encode_command::<Interlock>(&shutdown()));
    assert!(matches!(
        decode_output::<Interlock>(&result),
        Ok(Output::Counted {
            counted_as: CountedAs::Shutdown,
            ..
        })
    ));
}
