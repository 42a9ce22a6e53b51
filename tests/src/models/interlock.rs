//! The shutdown interlock that ships with Rampart ([`rampart_replica::apps::interlock`]):
//! agents (the campaign's clients, all registered) vote on two units, and a model of the
//! voting policy written from its rules predicts every answer.
//!
//! The correct agents agree that the pump is in trouble and the valve is fine: they vote
//! to shut the pump down (now and then with too little confidence, which abstains, or a
//! withdrawal), to keep the valve running, and to reset the pump once it is shut down, in
//! rounds they guess. The last f agents lie: any unit, any round, any choice, any
//! confidence, resets at random. With every answer linearizable against the model, no mix
//! of f lying agents and f Byzantine replicas flips a decision; with every operation
//! completing after the faults heal, none blocks one. [`valve_never_shut_down`] states the
//! policy's promise directly: f lying agents cannot shut a unit down on their own.
//!
//! A model cannot know the sequence number that ordered a command, so the campaign
//! compares answers with the sequence numbers zeroed ([`observe`]), and a unit's status as
//! a summary (round, decision, tally, reset votes) without the ballots' and history's.

use std::collections::{BTreeMap, BTreeSet};

use rampart_replica::app::Operation;
use rampart_replica::apps::interlock::{
    Choice, Command, CountedAs, Decision, IgnoredReason, Interlock, Output, Policy, Query,
    QueryOutput, Tally, UnitStatus,
};
use rampart_replica::core::Rng;
use rampart_replica::message::Seq;

use crate::campaign::{Answer, Campaign, Genesis, HistoryEntry, Model};

/// How many agents a campaign runs: four, of which one may lie.
pub const AGENTS: usize = 4;
/// How many operations each agent sends: enough for the pump to go through a round or
/// two, since agents that cannot see answers guess rounds.
pub const OPERATIONS: usize = 40;
/// The units: the pump that correct agents want shut down, and the valve they want running.
pub const PUMP: &str = "pump";
pub const VALVE: &str = "valve";
/// Votes below this confidence abstain.
pub const MIN_CONFIDENCE_PERCENT: u8 = 50;

/// An operation of the interlock, as agents send it.
pub type InterlockOp = Operation<Command, Query>;
/// What an agent is told, as the model predicts it: sequence numbers zeroed, and a unit's
/// status summarized.
pub type Seen = Answer<Output, Summary>;

/// A query's answer without what only the replicas know (the sequence numbers of ballots
/// and history) or what a model numbers differently (agents' keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summary {
    Status {
        round: u64,
        decision: Decision,
        tally: Tally,
        reset_votes: u32,
    },
    UnknownUnit {
        unit: String,
    },
    Policy,
}

/// The campaign against the interlock: [`AGENTS`] agents, all registered, of which the
/// last f lie.
pub fn campaign() -> Campaign<InterlockOp, Seen> {
    Campaign::typed_with(|genesis: &Genesis| {
        Interlock::new(policy(genesis)).unwrap_or_else(|error| panic!("{error}"))
    })
    .clients(AGENTS)
    .operations(OPERATIONS)
    .workload(|rng, agent| operation(rng, agent, AGENTS))
    .observe(|_, answer| observe(answer))
    .model(InterlockModel::new(AGENTS))
    .invariant(valve_never_shut_down)
}

/// f and q for `agents` agents: the most faulty agents a majority quorum of the others
/// tolerates.
pub fn faulty_and_quorum(agents: usize) -> (u32, u32) {
    let agents = agents as u32;
    let faulty = agents.saturating_sub(1) / 3;
    (faulty, agents - faulty)
}

/// The policy of a seed: its correct clients are the agents.
pub fn policy(genesis: &Genesis) -> Policy {
    let (faulty, quorum) = faulty_and_quorum(genesis.clients.len());
    Policy {
        registered_agents: genesis.clients.iter().copied().collect(),
        units: [PUMP.to_string(), VALVE.to_string()].into(),
        shutdown_quorum: quorum,
        faulty_agents_tolerated: faulty,
        min_confidence_percent: MIN_CONFIDENCE_PERCENT,
    }
}

/// Agent `agent`'s next operation, of `agents` agents (the last f lie). Agents do not see
/// answers while they vote, so they guess the round, mostly low ones: a unit moves to
/// round r + 1 only once q agents have reset it in round r.
pub fn operation(rng: &mut Rng, agent: usize, agents: usize) -> InterlockOp {
    let (faulty, _) = faulty_and_quorum(agents);
    let round = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3][rng.below(10) as usize];
    let confident = MIN_CONFIDENCE_PERCENT + rng.below(51) as u8;
    let vote = |unit: &str, choice, confidence_percent| {
        Operation::Command(Command::Vote {
            unit: unit.to_string(),
            round,
            choice,
            confidence_percent,
        })
    };
    let reset = |unit: &str| {
        Operation::Command(Command::Reset {
            unit: unit.to_string(),
            round,
        })
    };
    if agent + faulty as usize >= agents {
        let unit = [PUMP, VALVE, "boiler"][rng.below(3) as usize];
        let choice = [Choice::Shutdown, Choice::Continue][rng.below(2) as usize];
        return match rng.below(4) {
            0 => reset(unit),
            _ => vote(unit, choice, rng.below(121) as u8),
        };
    }
    match rng.below(20) {
        0..=6 => vote(PUMP, Choice::Shutdown, confident),
        7 => vote(
            PUMP,
            Choice::Shutdown,
            rng.below(MIN_CONFIDENCE_PERCENT.into()) as u8,
        ),
        8 => vote(PUMP, Choice::Continue, confident),
        9 | 10 => vote(VALVE, Choice::Continue, confident),
        11..=15 => reset(PUMP),
        _ => Operation::Query(Query::Status {
            unit: [PUMP, VALVE][rng.below(2) as usize].to_string(),
        }),
    }
}

/// What an agent was told, as the model can predict it.
pub fn observe(answer: Answer<Output, QueryOutput>) -> Seen {
    match answer {
        Answer::Output(output) => Answer::Output(without_sequence_numbers(output)),
        Answer::QueryOutput(QueryOutput::Status(status)) => Answer::QueryOutput(summary(status)),
        Answer::QueryOutput(QueryOutput::UnknownUnit { unit }) => {
            Answer::QueryOutput(Summary::UnknownUnit { unit })
        }
        Answer::QueryOutput(QueryOutput::Policy(_)) => Answer::QueryOutput(Summary::Policy),
        Answer::Refused(error) => Answer::Refused(error),
        Answer::Undecodable { reason } => Answer::Undecodable { reason },
    }
}

fn without_sequence_numbers(output: Output) -> Output {
    match output {
        Output::Counted {
            round,
            counted_as,
            tally,
            decision,
        } => Output::Counted {
            round,
            counted_as,
            tally,
            decision: zeroed(decision),
        },
        Output::Ignored {
            reason: IgnoredReason::UnitShutDown { round, .. },
        } => Output::Ignored {
            reason: IgnoredReason::UnitShutDown {
                round,
                since: Seq(0),
            },
        },
        other => other,
    }
}

fn zeroed(decision: Decision) -> Decision {
    match decision {
        Decision::Shutdown { .. } => Decision::Shutdown { since: Seq(0) },
        other => other,
    }
}

fn summary(status: UnitStatus) -> Summary {
    Summary::Status {
        round: status.round,
        decision: zeroed(status.decision),
        tally: status.tally,
        reset_votes: status.reset_votes.len() as u32,
    }
}

/// The policy's promise that f lying agents cannot shut a unit down on their own: only
/// they ever vote to shut the valve down, so no answer may say it is.
pub fn valve_never_shut_down(history: &[HistoryEntry<InterlockOp, Seen>]) -> Result<(), String> {
    for entry in history {
        let unit = match &entry.op {
            Operation::Command(Command::Vote { unit, .. } | Command::Reset { unit, .. })
            | Operation::Query(Query::Status { unit }) => unit,
            Operation::Query(Query::Policy) => continue,
        };
        let shut_down = matches!(
            entry.completed.as_ref().map(|(_, seen)| seen),
            Some(
                Answer::Output(Output::Counted {
                    decision: Decision::Shutdown { .. },
                    ..
                }) | Answer::QueryOutput(Summary::Status {
                    decision: Decision::Shutdown { .. },
                    ..
                })
            )
        );
        if unit == VALVE && shut_down {
            return Err(format!(
                "agent {} was told the valve is shut down, which only lying agents asked for",
                entry.client
            ));
        }
    }
    Ok(())
}

/// The interlock's voting policy as a sequential specification, written from its rules
/// (`rampart_replica::apps::interlock`, "The policy, precisely"), with agents numbered as
/// the campaign's clients.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InterlockModel {
    agents: usize,
    quorum: u32,
    units: BTreeMap<String, UnitModel>,
}

/// One unit: its round, whether it is shut down, each agent's ballot and reset vote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct UnitModel {
    round: u64,
    shut_down: bool,
    ballots: BTreeMap<usize, Counted>,
    reset_votes: BTreeSet<usize>,
}

/// How a ballot counts (the interlock's `CountedAs`, hashable for the search).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Counted {
    Shutdown,
    Continue,
    Abstention,
}

impl Counted {
    fn of(counted_as: CountedAs) -> Counted {
        match counted_as {
            CountedAs::Shutdown => Counted::Shutdown,
            CountedAs::Continue => Counted::Continue,
            CountedAs::Abstention => Counted::Abstention,
        }
    }
}

impl InterlockModel {
    /// The genesis state with `agents` registered agents: both units running, round 0.
    pub fn new(agents: usize) -> InterlockModel {
        let (_, quorum) = faulty_and_quorum(agents);
        InterlockModel {
            agents,
            quorum,
            units: [PUMP, VALVE]
                .into_iter()
                .map(|unit| (unit.to_string(), UnitModel::default()))
                .collect(),
        }
    }

    fn tally(&self, unit: &UnitModel) -> Tally {
        let count = |counted| unit.ballots.values().filter(|c| **c == counted).count() as u32;
        Tally {
            shutdown_votes: count(Counted::Shutdown),
            continue_votes: count(Counted::Continue),
            abstentions: count(Counted::Abstention),
            not_voted: (self.agents - unit.ballots.len()) as u32,
        }
    }

    fn decision(&self, unit: &UnitModel) -> Decision {
        if unit.shut_down {
            Decision::Shutdown { since: Seq(0) }
        } else if self.tally(unit).continue_votes >= self.quorum {
            Decision::Continue
        } else {
            Decision::Undecided
        }
    }

    /// Rules 1 to 6: who may vote, in which round, how confidence counts, the latest
    /// ballot, and the shutdown latch.
    fn vote(
        &mut self,
        agent: usize,
        unit_name: &str,
        round: u64,
        choice: Choice,
        confidence: u8,
    ) -> Output {
        let ignored = |reason| Output::Ignored { reason };
        if agent >= self.agents {
            return ignored(IgnoredReason::UnregisteredAgent);
        }
        let Some(mut unit) = self.units.get(unit_name).cloned() else {
            return ignored(IgnoredReason::UnknownUnit);
        };
        if confidence > 100 {
            return ignored(IgnoredReason::ConfidenceOutOfRange {
                confidence_percent: confidence,
            });
        }
        if unit.shut_down {
            return ignored(IgnoredReason::UnitShutDown {
                round: unit.round,
                since: Seq(0),
            });
        }
        if round != unit.round {
            return ignored(IgnoredReason::WrongRound {
                current: unit.round,
            });
        }
        let counted_as = match choice {
            _ if confidence < MIN_CONFIDENCE_PERCENT => CountedAs::Abstention,
            Choice::Shutdown => CountedAs::Shutdown,
            Choice::Continue => CountedAs::Continue,
        };
        if unit.ballots.get(&agent) == Some(&Counted::of(counted_as)) {
            return ignored(IgnoredReason::UnchangedVote { counted_as });
        }
        unit.ballots.insert(agent, Counted::of(counted_as));
        let tally = self.tally(&unit);
        unit.shut_down = tally.shutdown_votes >= self.quorum;
        let decision = self.decision(&unit);
        self.units.insert(unit_name.to_string(), unit);
        Output::Counted {
            round,
            counted_as,
            tally,
            decision,
        }
    }

    /// Rule 7: q distinct agents reset a shut-down unit into the next round.
    fn reset(&mut self, agent: usize, unit_name: &str, round: u64) -> Output {
        let ignored = |reason| Output::Ignored { reason };
        if agent >= self.agents {
            return ignored(IgnoredReason::UnregisteredAgent);
        }
        let Some(unit) = self.units.get_mut(unit_name) else {
            return ignored(IgnoredReason::UnknownUnit);
        };
        if !unit.shut_down {
            return ignored(IgnoredReason::NotShutDown);
        }
        if round != unit.round {
            return ignored(IgnoredReason::WrongRound {
                current: unit.round,
            });
        }
        if !unit.reset_votes.insert(agent) {
            return ignored(IgnoredReason::DuplicateResetVote);
        }
        let reset_votes = unit.reset_votes.len() as u32;
        let reset = reset_votes >= self.quorum;
        if reset {
            *unit = UnitModel {
                round: unit.round + 1,
                ..UnitModel::default()
            };
        }
        Output::ResetCounted {
            round,
            reset_votes,
            reset,
        }
    }
}

impl Model for InterlockModel {
    type Op = InterlockOp;
    type Output = Seen;

    fn step(&self, client: usize, op: &InterlockOp) -> (InterlockModel, Seen) {
        let mut next = self.clone();
        let seen = match op {
            Operation::Command(Command::Vote {
                unit,
                round,
                choice,
                confidence_percent,
            }) => Answer::Output(next.vote(client, unit, *round, *choice, *confidence_percent)),
            Operation::Command(Command::Reset { unit, round }) => {
                Answer::Output(next.reset(client, unit, *round))
            }
            Operation::Query(Query::Status { unit }) => {
                Answer::QueryOutput(match self.units.get(unit) {
                    Some(record) => Summary::Status {
                        round: record.round,
                        decision: self.decision(record),
                        tally: self.tally(record),
                        reset_votes: record.reset_votes.len() as u32,
                    },
                    None => Summary::UnknownUnit { unit: unit.clone() },
                })
            }
            Operation::Query(Query::Policy) => Answer::QueryOutput(Summary::Policy),
        };
        (next, seen)
    }

    /// Units are independent: a vote, reset or status touches its unit only.
    fn partition(op: &InterlockOp) -> Option<String> {
        match op {
            Operation::Command(Command::Vote { unit, .. } | Command::Reset { unit, .. })
            | Operation::Query(Query::Status { unit }) => Some(format!("unit {unit}")),
            Operation::Query(Query::Policy) => Some("policy".to_string()),
        }
    }
}
