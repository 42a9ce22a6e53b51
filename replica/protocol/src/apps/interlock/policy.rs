//! The interlock's policy, fixed at genesis, and the rules that make it fault tolerant.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::message::ClientId;

/// The longest unit name, in bytes.
pub const UNIT_NAME_BYTES_MAX: usize = 64;

/// Confidence is a whole percentage, so that comparisons are exact on every replica.
pub const CONFIDENCE_PERCENT_MAX: u8 = 100;

/// Who may vote, on what, and how many votes decide. See the [module docs](super) for
/// how the interlock applies it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Policy {
    /// The agents whose votes count, by the key they sign requests with.
    pub registered_agents: BTreeSet<ClientId>,
    /// The units (pieces of equipment) the interlock protects.
    pub units: BTreeSet<String>,
    /// q: how many registered agents' Shutdown ballots shut a unit down, and how many
    /// Reset votes reset it.
    pub shutdown_quorum: u32,
    /// f: how many registered agents may be faulty (lying, silent or crashed) without
    /// triggering or blocking a decision. Validation checks q and n against it.
    pub faulty_agents_tolerated: u32,
    /// Votes with a lower confidence count as abstentions.
    pub min_confidence_percent: u8,
}

/// Why a policy cannot protect anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy registers no agents; register the keys of the agents that vote")]
    NoAgents,
    #[error("the policy names no units; name the equipment the interlock protects")]
    NoUnits,
    #[error(
        "unit name {unit:?} is empty or longer than {UNIT_NAME_BYTES_MAX} bytes; \
         use a short, non-empty name"
    )]
    InvalidUnitName { unit: String },
    #[error("a shutdown quorum of {quorum} is not between 1 and the {agents} registered agents")]
    QuorumOutOfRange { quorum: u32, agents: u32 },
    #[error(
        "{faulty} faulty agents could shut a unit down on their own with a quorum of \
         {quorum}; raise the quorum above {faulty}"
    )]
    FaultyAgentsCanTrigger { faulty: u32, quorum: u32 },
    #[error(
        "{faulty} faulty agents could block a shutdown: the other {} of {agents} agents \
         fall short of the quorum of {quorum}; register more agents or lower the quorum",
        agents - faulty
    )]
    FaultyAgentsCanBlock {
        faulty: u32,
        quorum: u32,
        agents: u32,
    },
    #[error(
        "a shutdown quorum of {quorum} of {agents} agents is not a majority; raise it to \
         at least {}",
        agents / 2 + 1
    )]
    QuorumNotMajority { quorum: u32, agents: u32 },
    #[error("a minimum confidence of {min_confidence_percent}% is above 100%")]
    MinConfidenceOutOfRange { min_confidence_percent: u8 },
}

impl Policy {
    /// n, the number of registered agents.
    pub fn agent_count(&self) -> u32 {
        // A policy with more than u32::MAX agents cannot be built in memory anyway.
        u32::try_from(self.registered_agents.len()).unwrap_or(u32::MAX)
    }

    pub fn is_registered(&self, agent: &ClientId) -> bool {
        self.registered_agents.contains(agent)
    }

    /// Checks that f faulty agents can neither trigger nor block a decision:
    /// f < q (they cannot reach the quorum alone), n − f ≥ q (the correct agents reach it
    /// without them), and 2q > n (every decision has a majority, so the quorums for
    /// Shutdown and Continue cannot both be met).
    pub fn validate(&self) -> Result<(), PolicyError> {
        let agents = self.agent_count();
        let quorum = self.shutdown_quorum;
        let faulty = self.faulty_agents_tolerated;
        if agents == 0 {
            return Err(PolicyError::NoAgents);
        }
        if self.units.is_empty() {
            return Err(PolicyError::NoUnits);
        }
        if let Some(unit) = self
            .units
            .iter()
            .find(|unit| unit.is_empty() || unit.len() > UNIT_NAME_BYTES_MAX)
        {
            return Err(PolicyError::InvalidUnitName { unit: unit.clone() });
        }
        if quorum == 0 || quorum > agents {
            return Err(PolicyError::QuorumOutOfRange { quorum, agents });
        }
        if faulty >= quorum {
            return Err(PolicyError::FaultyAgentsCanTrigger { faulty, quorum });
        }
        if agents - faulty < quorum {
            return Err(PolicyError::FaultyAgentsCanBlock {
                faulty,
                quorum,
                agents,
            });
        }
        if u64::from(quorum) * 2 <= u64::from(agents) {
            return Err(PolicyError::QuorumNotMajority { quorum, agents });
        }
        if self.min_confidence_percent > CONFIDENCE_PERCENT_MAX {
            return Err(PolicyError::MinConfidenceOutOfRange {
                min_confidence_percent: self.min_confidence_percent,
            });
        }
        Ok(())
    }
}
