//! One unit's replicated record: its round, ballots, decision and history.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::policy::Policy;
use crate::message::{ClientId, Seq};

/// The most history entries kept per unit. Duplicate votes are not recorded, so the
/// history grows only when an agent changes its ballot; the bound keeps an agent that
/// flips back and forth from growing the replicated state without limit.
pub const HISTORY_ENTRIES_MAX: usize = 1024;

/// An agent's assessment of a unit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Choice {
    Shutdown,
    Continue,
}

/// How a ballot counts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum CountedAs {
    Shutdown,
    Continue,
    /// A vote below the policy's minimum confidence.
    Abstention,
}

/// An agent's standing ballot in the current round: its latest vote.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Ballot {
    pub choice: Choice,
    pub confidence_percent: u8,
    pub counted_as: CountedAs,
    /// Where the vote was ordered.
    pub seq: Seq,
}

/// The interlock's decision on a unit.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Decision {
    /// A quorum of Shutdown ballots was reached at `since`; latched until a reset.
    Shutdown { since: Seq },
    /// A quorum of ballots currently says Continue. Not latched.
    Continue,
    /// Neither quorum is met; the interlock does not ask for a shutdown.
    Undecided,
}

/// The ballots of the current round, counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Tally {
    pub shutdown_votes: u32,
    pub continue_votes: u32,
    pub abstentions: u32,
    /// Registered agents without a ballot in this round.
    pub not_voted: u32,
}

/// One line of a unit's history.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: Seq,
    pub round: u64,
    pub event: Event,
}

/// What happened to a unit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Event {
    /// An agent's vote became its ballot.
    Vote {
        agent: ClientId,
        choice: Choice,
        confidence_percent: u8,
        counted_as: CountedAs,
    },
    /// The shutdown quorum was reached.
    Shutdown {
        shutdown_votes: u32,
    },
    ResetVote {
        agent: ClientId,
    },
    /// A quorum voted to reset; the next round opened.
    Reset,
}

/// A unit's state, as the status query reports it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct UnitStatus {
    pub unit: String,
    pub round: u64,
    pub decision: Decision,
    pub tally: Tally,
    pub ballots: BTreeMap<ClientId, Ballot>,
    pub reset_votes: BTreeSet<ClientId>,
    /// The most recent entries, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Entries dropped from the front of `history` to respect [`HISTORY_ENTRIES_MAX`].
    pub history_dropped: u64,
}

/// One unit's replicated record.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub(super) struct UnitRecord {
    pub(super) round: u64,
    /// Where the shutdown quorum was reached in this round, if it was.
    pub(super) shutdown_since: Option<Seq>,
    pub(super) ballots: BTreeMap<ClientId, Ballot>,
    pub(super) reset_votes: BTreeSet<ClientId>,
    history: VecDeque<HistoryEntry>,
    history_dropped: u64,
}

impl UnitRecord {
    pub(super) fn tally(&self, policy: &Policy) -> Tally {
        let mut tally = Tally::default();
        for ballot in self.ballots.values() {
            match ballot.counted_as {
                CountedAs::Shutdown => tally.shutdown_votes += 1,
                CountedAs::Continue => tally.continue_votes += 1,
                CountedAs::Abstention => tally.abstentions += 1,
            }
        }
        let voted = tally.shutdown_votes + tally.continue_votes + tally.abstentions;
        tally.not_voted = policy.agent_count().saturating_sub(voted);
        tally
    }

    pub(super) fn decision(&self, policy: &Policy) -> Decision {
        if let Some(since) = self.shutdown_since {
            Decision::Shutdown { since }
        } else if self.tally(policy).continue_votes >= policy.shutdown_quorum {
            Decision::Continue
        } else {
            Decision::Undecided
        }
    }

    pub(super) fn record(&mut self, seq: Seq, event: Event) {
        if self.history.len() == HISTORY_ENTRIES_MAX {
            self.history.pop_front();
            self.history_dropped += 1;
        }
        self.history.push_back(HistoryEntry {
            seq,
            round: self.round,
            event,
        });
    }

    pub(super) fn status(&self, unit: &str, policy: &Policy) -> UnitStatus {
        UnitStatus {
            unit: unit.to_string(),
            round: self.round,
            decision: self.decision(policy),
            tally: self.tally(policy),
            ballots: self.ballots.clone(),
            reset_votes: self.reset_votes.clone(),
            history: self.history.iter().cloned().collect(),
            history_dropped: self.history_dropped,
        }
    }

    /// The record's invariants under `policy`, checked on restored snapshots and in tests.
    pub(super) fn check(&self, policy: &Policy) -> Result<(), String> {
        if let Some(agent) = self
            .ballots
            .keys()
            .chain(&self.reset_votes)
            .find(|agent| !policy.is_registered(agent))
        {
            return Err(format!(
                "unregistered agent {agent} has a ballot or reset vote"
            ));
        }
        let shutdown_votes = self.tally(policy).shutdown_votes;
        match self.shutdown_since {
            None if shutdown_votes >= policy.shutdown_quorum => {
                Err(format!("{shutdown_votes} shutdown votes but no shutdown"))
            }
            None if !self.reset_votes.is_empty() => Err("reset votes while running".to_string()),
            Some(_) if shutdown_votes < policy.shutdown_quorum => Err(format!(
                "a shutdown with only {shutdown_votes} shutdown votes"
            )),
            Some(_) if self.reset_votes.len() >= policy.shutdown_quorum as usize => {
                Err("a reset quorum that did not reset".to_string())
            }
            _ if self.history.len() > HISTORY_ENTRIES_MAX => {
                Err(format!("{} history entries", self.history.len()))
            }
            _ => Ok(()),
        }
    }
}
