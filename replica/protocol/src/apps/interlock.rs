//! The safety-shutdown interlock: agents vote on shutting units down, and the replicated
//! state decides by a policy fixed at genesis.
//!
//! Agents are clients with their own ed25519 keys. A vote counts for the client whose
//! signature the replicas verified ([`ApplyContext::client`]); nothing in a command names
//! its voter, so no agent can vote for another. Because the decision is a replicated
//! state machine, it also tolerates faulty replicas: a client accepts a status only when
//! enough replicas agree on it.
//!
//! # The policy, precisely
//!
//! The [`Policy`] names the n registered agents, the units, the quorum q, the number f of
//! faulty agents to tolerate, and a minimum confidence. The interlock is constructed with
//! it ([`Interlock::new`]), it is part of every snapshot, and no command changes it.
//!
//! Each unit goes through rounds 0, 1, 2, …; a round ends only when a shutdown is reset.
//! Within a round:
//!
//! 1. **Registered agents only.** A vote from any other client is ignored, and the
//!    output says so ([`IgnoredReason::UnregisteredAgent`]); it leaves no trace in the
//!    state, so strangers cannot grow it.
//! 2. **Current round only.** A vote names its unit and round; a vote for another round
//!    is ignored ([`IgnoredReason::WrongRound`] tells the current one), so a vote delayed
//!    across a reset cannot count in the new round.
//! 3. **Confidence.** Confidence is a whole percentage, 0 to 100. A vote below the
//!    policy's minimum counts as an abstention; above 100 it is ignored.
//! 4. **One ballot per agent: its latest vote.** A vote that counts the same way as the
//!    agent's standing ballot is a duplicate: ignored and not recorded. A vote that counts
//!    differently replaces the ballot and is recorded in the history.
//! 5. **SHUTDOWN latches.** The moment q ballots count as Shutdown, the decision becomes
//!    [`Decision::Shutdown`]. It is irreversible within the round: further votes are
//!    ignored ([`IgnoredReason::UnitShutDown`]), so no withdrawal undoes it.
//! 6. **CONTINUE confirms, never latches.** A Continue vote replaces the agent's earlier
//!    ballot (withdrawing a Shutdown ballot). While q ballots count as Continue the
//!    decision reads [`Decision::Continue`]: a quorum confirms the unit is safe to run.
//!    Otherwise it reads [`Decision::Undecided`]. Neither asks for a shutdown, and
//!    neither stops a later shutdown quorum. Since 2q > n, Continue and Shutdown quorums
//!    cannot coexist.
//! 7. **Reset.** Only a shut-down unit can be reset, by q distinct registered agents
//!    each sending [`Command::Reset`] for the current round. The q-th reset vote opens
//!    the next round with no ballots.
//!
//! Every counted vote, the shutdown and every reset vote are recorded with the sequence
//! number that ordered them; [`Query::Status`] reports them with the decision. The
//! history keeps the latest [`HISTORY_ENTRIES_MAX`] entries per unit.
//!
//! ## Why the latest vote counts, not the first
//!
//! If an agent's first vote in a round were final, a stale ballot could block a
//! shutdown. With 7 agents, q = 5 and f = 2: one correct agent votes Continue while all
//! is well; trouble starts, the four other correct agents vote Shutdown, and the two
//! faulty agents stay silent. Shutdown would stall at four votes for good, blocked by
//! two faulty agents and one outdated opinion. Counting each agent's latest ballot lets
//! correct agents keep their assessment current, and gives faulty agents nothing: each
//! agent counts once however often it votes, and a reached shutdown latches.
//!
//! The duty this puts on a correct agent: when its alarm clears, it votes Continue (or
//! with low confidence), because a standing Shutdown ballot stays counted.
//!
//! ## Fault tolerance
//!
//! [`Policy::validate`], run by [`Interlock::new`], refuses a policy unless up to f
//! faulty agents (lying, silent or crashed) can neither trigger nor block a decision:
//!
//! - f < q: faulty agents cannot reach the quorum on their own;
//! - n − f ≥ q: the correct agents reach it without them;
//! - 2q > n: every shutdown and every reset has a majority of the agents behind it.
//!
//! Seven agents with q = 5 tolerate two faulty ones.
//!
//! ## Scope
//!
//! The interlock decides; acting on a decision (tripping the equipment) belongs to
//! whatever reads the status. It complements local, hard-wired protection and does not
//! replace it. There is no notion of time: a round stays open until it is decided, since
//! replicas share no clock.

mod command;
mod policy;
mod unit;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::{AppError, Application, ApplyContext};
use crate::message::ClientId;

pub use command::{Command, IgnoredReason, Output, Query, QueryOutput};
pub use policy::{CONFIDENCE_PERCENT_MAX, Policy, PolicyError, UNIT_NAME_BYTES_MAX};
pub use unit::{
    Ballot, Choice, CountedAs, Decision, Event, HISTORY_ENTRIES_MAX, HistoryEntry, Tally,
    UnitStatus,
};

use unit::UnitRecord;

/// The interlock's replicated state.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Interlock {
    policy: Policy,
    units: BTreeMap<String, UnitRecord>,
}

impl Interlock {
    /// The genesis state: every unit of the policy running in round 0.
    pub fn new(policy: Policy) -> Result<Interlock, PolicyError> {
        policy.validate()?;
        let units = policy
            .units
            .iter()
            .map(|unit| (unit.clone(), UnitRecord::default()))
            .collect();
        Ok(Interlock { policy, units })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The unit's status, if the policy names it.
    pub fn status(&self, unit: &str) -> Option<UnitStatus> {
        let record = self.units.get(unit)?;
        Some(record.status(unit, &self.policy))
    }

    /// Checks the state's invariants: a valid policy, exactly its units, and records
    /// consistent with it. Restoring a snapshot runs it; tests run it after every command.
    pub fn check(&self) -> Result<(), InconsistentState> {
        let inconsistent = |reason: String| InconsistentState { reason };
        self.policy
            .validate()
            .map_err(|error| inconsistent(error.to_string()))?;
        if !self.units.keys().eq(self.policy.units.iter()) {
            return Err(inconsistent(
                "the units differ from the policy's".to_string(),
            ));
        }
        for (unit, record) in &self.units {
            record
                .check(&self.policy)
                .map_err(|reason| inconsistent(format!("unit {unit:?}: {reason}")))?;
        }
        Ok(())
    }

    fn vote(
        &mut self,
        context: &ApplyContext,
        unit: &str,
        round: u64,
        choice: Choice,
        confidence_percent: u8,
    ) -> Output {
        let agent = context.client;
        if !self.policy.is_registered(&agent) {
            return ignored(IgnoredReason::UnregisteredAgent);
        }
        let Some(record) = self.units.get_mut(unit) else {
            return ignored(IgnoredReason::UnknownUnit);
        };
        if confidence_percent > CONFIDENCE_PERCENT_MAX {
            return ignored(IgnoredReason::ConfidenceOutOfRange { confidence_percent });
        }
        if let Some(since) = record.shutdown_since {
            return ignored(IgnoredReason::UnitShutDown {
                round: record.round,
                since,
            });
        }
        if round != record.round {
            return ignored(IgnoredReason::WrongRound {
                current: record.round,
            });
        }
        let counted_as = if confidence_percent < self.policy.min_confidence_percent {
            CountedAs::Abstention
        } else {
            match choice {
                Choice::Shutdown => CountedAs::Shutdown,
                Choice::Continue => CountedAs::Continue,
            }
        };
        if let Some(ballot) = record.ballots.get(&agent)
            && ballot.counted_as == counted_as
        {
            return ignored(IgnoredReason::UnchangedVote { counted_as });
        }
        record.ballots.insert(
            agent,
            Ballot {
                choice,
                confidence_percent,
                counted_as,
                seq: context.seq,
            },
        );
        record.record(
            context.seq,
            Event::Vote {
                agent,
                choice,
                confidence_percent,
                counted_as,
            },
        );
        let tally = record.tally(&self.policy);
        if tally.shutdown_votes >= self.policy.shutdown_quorum {
            record.shutdown_since = Some(context.seq);
            record.record(
                context.seq,
                Event::Shutdown {
                    shutdown_votes: tally.shutdown_votes,
                },
            );
        }
        Output::Counted {
            round,
            counted_as,
            tally,
            decision: record.decision(&self.policy),
        }
    }

    fn reset(&mut self, context: &ApplyContext, unit: &str, round: u64) -> Output {
        let agent = context.client;
        if !self.policy.is_registered(&agent) {
            return ignored(IgnoredReason::UnregisteredAgent);
        }
        let Some(record) = self.units.get_mut(unit) else {
            return ignored(IgnoredReason::UnknownUnit);
        };
        if record.shutdown_since.is_none() {
            return ignored(IgnoredReason::NotShutDown);
        }
        if round != record.round {
            return ignored(IgnoredReason::WrongRound {
                current: record.round,
            });
        }
        if !record.reset_votes.insert(agent) {
            return ignored(IgnoredReason::DuplicateResetVote);
        }
        record.record(context.seq, Event::ResetVote { agent });
        let reset_votes = u32::try_from(record.reset_votes.len()).unwrap_or(u32::MAX);
        let reset = reset_votes >= self.policy.shutdown_quorum;
        if reset {
            record.record(context.seq, Event::Reset);
            record.round += 1;
            record.shutdown_since = None;
            record.ballots.clear();
            record.reset_votes.clear();
        }
        Output::ResetCounted {
            round,
            reset_votes,
            reset,
        }
    }
}

/// A state that breaks the interlock's invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent interlock state: {reason}")]
pub struct InconsistentState {
    pub reason: String,
}

fn ignored(reason: IgnoredReason) -> Output {
    Output::Ignored { reason }
}

impl Application for Interlock {
    type Command = Command;
    type Output = Output;
    type Query = Query;
    type QueryOutput = QueryOutput;

    fn apply(&mut self, context: &ApplyContext, command: Command) -> Output {
        match command {
            Command::Vote {
                unit,
                round,
                choice,
                confidence_percent,
            } => self.vote(context, &unit, round, choice, confidence_percent),
            Command::Reset { unit, round } => self.reset(context, &unit, round),
        }
    }

    fn query(&self, _client: &ClientId, query: Query) -> QueryOutput {
        match query {
            Query::Status { unit } => match self.status(&unit) {
                Some(status) => QueryOutput::Status(status),
                None => QueryOutput::UnknownUnit { unit },
            },
            Query::Policy => QueryOutput::Policy(self.policy.clone()),
        }
    }

    /// A snapshot must hold a consistent state under the policy this replica was
    /// configured with at genesis. A different policy means the replicas were configured
    /// differently, which an operator must fix; adopting it silently would hide that.
    fn check_restored(&self, restored: &Interlock) -> Result<(), AppError> {
        if restored.policy != self.policy {
            return Err(AppError::RejectedSnapshot {
                reason: "its interlock policy differs from this replica's".to_string(),
            });
        }
        restored
            .check()
            .map_err(|error| AppError::RejectedSnapshot {
                reason: error.to_string(),
            })
    }
}
