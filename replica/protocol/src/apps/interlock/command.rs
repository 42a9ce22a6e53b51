//! What agents send to the interlock and what it answers.

use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::unit::{Choice, CountedAs, Decision, Tally, UnitStatus};
use crate::message::Seq;

/// A command. The agent is the client that signed the request, never a field here.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Command {
    /// The agent's ballot on `unit` for `round`, replacing its earlier one in the round.
    Vote {
        unit: String,
        round: u64,
        choice: Choice,
        confidence_percent: u8,
    },
    /// The agent's vote to reset `unit`, shut down in `round`, and open the next round.
    Reset { unit: String, round: u64 },
}

/// What a command did.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Output {
    /// The vote became the agent's ballot in `round`; `decision` is the unit's decision
    /// after it.
    Counted {
        round: u64,
        counted_as: CountedAs,
        tally: Tally,
        decision: Decision,
    },
    /// The reset vote was counted; with `reset`, the unit is now running in round
    /// `round + 1`.
    ResetCounted {
        round: u64,
        reset_votes: u32,
        reset: bool,
    },
    /// The command changed nothing.
    Ignored { reason: IgnoredReason },
}

/// Why a command changed nothing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum IgnoredReason {
    /// The signer is not a registered agent.
    UnregisteredAgent,
    /// The policy names no such unit.
    UnknownUnit,
    ConfidenceOutOfRange {
        confidence_percent: u8,
    },
    /// The unit is shut down: votes wait for a reset.
    UnitShutDown {
        round: u64,
        since: Seq,
    },
    /// The command is for another round than the unit's current one.
    WrongRound {
        current: u64,
    },
    /// The agent's ballot in this round already counts this way.
    UnchangedVote {
        counted_as: CountedAs,
    },
    /// Only a shut-down unit can be reset.
    NotShutDown,
    /// The agent already voted to reset the unit in this round.
    DuplicateResetVote,
}

/// A read-only query; any client of the cluster may ask.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Query {
    /// The unit's round, decision, ballots and history.
    Status { unit: String },
    /// The policy the interlock was configured with at genesis.
    Policy,
}

/// What a query returns.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum QueryOutput {
    Status(UnitStatus),
    UnknownUnit { unit: String },
    Policy(Policy),
}
