//! The interlock actuator: the component that really cuts power to a unit, and acts on a
//! shutdown decision of the [interlock](rampart_protocol::apps::interlock) only when a
//! [`Certificate`] proves it.
//!
//! An agent hands the actuator the certificate of one of its votes. The actuator trusts
//! neither the agent nor any single replica: it checks the certificate offline against the
//! cluster description ([`Certificate::verify`]), decodes what was committed and what it
//! returned, and trips only if the certified output says the unit is shut down.
//!
//! ```no_run
//! # fn example(
//! #     cluster: rampart_protocol::cluster::Cluster,
//! #     certificate: rampart_client::Certificate,
//! # ) -> Result<(), rampart_client::actuator::ActuatorError> {
//! use rampart_client::actuator::{Actuator, Verdict};
//!
//! let mut actuator = Actuator::new(cluster, "reactor-1".to_string());
//! if let Verdict::Trip { round, seq, .. } = actuator.consider(&certificate)? {
//!     println!("cutting power: shutdown of round {round} certified at {seq}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Why a verified certificate is enough
//!
//! With n = 3f + 1 replicas of which at most f are faulty:
//!
//! - **The order is final.** The certificate holds COMMITs for one (view, sequence number,
//!   batch digest) signed by a quorum of 2f + 1 distinct replicas, and the batch holds the
//!   vote. Any two quorums share a correct replica, so no other batch can ever commit at
//!   that sequence number, in any view (PBFT §4.2, §4.4): every correct replica executes
//!   this vote at this sequence number, after the same requests before it.
//! - **The result is the state machine's.** The certificate holds f + 1 replies signed by
//!   distinct replicas with the same result. At most f replicas lie, so at least one of
//!   them is correct: it executed the committed order up to and including the vote, and
//!   the interlock is deterministic, so every correct replica computed that same output,
//!   decision included.
//! - **The decision is the agents'.** The interlock counts a vote for the client whose
//!   signature the replicas verified, and decides SHUTDOWN only when the policy's quorum of
//!   registered agents voted for it; faulty agents below the quorum cannot reach it (see
//!   the interlock's module docs).
//!
//! So neither a lying agent, nor up to f lying replicas, nor anyone who tampers with a
//! certificate in transit (a forged, missing or repeated signature, another request, another
//! result) can make the actuator trip, and none of them can keep it from tripping once an
//! honest agent hands over a certificate of the decision.
//!
//! # Latching, and what a certificate does not prove
//!
//! A SHUTDOWN latches in the interlock until a quorum of agents resets the unit, which
//! opens the next round. The actuator mirrors that: once it trips for a round it stays
//! tripped for that round, whatever later certificates say; only a certificate proving a
//! later round (a vote counted there) releases it. A certificate proves the state at its
//! sequence number, not now: an actuator started afresh trips on the certificate of an
//! old round's shutdown, erring on the safe side.

use rampart_protocol::app::{Operation, decode_output};
use rampart_protocol::apps::interlock::{
    Command, Decision, IgnoredReason, Interlock, Output, Query,
};
use rampart_protocol::cluster::Cluster;
use rampart_protocol::message::{ReplicaId, Seq, decode};

use crate::certificate::{Certificate, CertificateError};

/// What the actuator does after considering a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Cut the power: the unit's shutdown in `round` is certified. Repeated, unchanged,
    /// for every certificate considered until a later round is proven.
    Trip {
        unit: String,
        round: u64,
        /// The sequence number of the certificate that proved the shutdown.
        seq: Seq,
        /// The replicas whose COMMITs proved the order, in id order.
        signers: Vec<ReplicaId>,
        /// The replicas whose signed replies proved the result, in id order.
        reply_signers: Vec<ReplicaId>,
    },
    /// Nothing proves a shutdown of the current round.
    Hold,
}

/// Why a certificate cannot be acted on. The actuator's state is unchanged by it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActuatorError {
    #[error("the certificate does not verify against the cluster: {0}")]
    Certificate(#[from] CertificateError),
    #[error(
        "the certificate is for a vote on unit {found:?}, but this actuator drives {expected:?}"
    )]
    WrongUnit { expected: String, found: String },
    #[error(
        "the certified request is {found}, not a vote; hand the actuator the certificate of a vote"
    )]
    NotAVote { found: &'static str },
    #[error("the certified request is not an interlock operation: {reason}")]
    UndecodableOperation { reason: String },
    #[error("the certified result is not an interlock output: {reason}")]
    UndecodableResult { reason: String },
    #[error(
        "the certified output answers a reset, not a vote; check that the cluster runs the \
         interlock"
    )]
    UnexpectedOutput,
}

/// Acts on the interlock's decisions about one unit: the cluster whose signatures it
/// checks, the latest round it has proof of, and its trip in that round, if any.
#[derive(Clone, Debug)]
pub struct Actuator {
    cluster: Cluster,
    unit: String,
    round: u64,
    tripped: Option<Verdict>,
}

/// What a certified output proves about the unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Evidence {
    /// The unit was shut down in `round`.
    ShutDown { round: u64 },
    /// The unit was running in `round`.
    Running { round: u64 },
    /// Nothing about the unit's round (for example a vote of an unregistered client).
    Nothing,
}

impl Actuator {
    /// An actuator for `unit` of the interlock replicated by `cluster`, not tripped, in
    /// round 0.
    pub fn new(cluster: Cluster, unit: String) -> Actuator {
        Actuator {
            cluster,
            unit,
            round: 0,
            tripped: None,
        }
    }

    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// Whether the actuator has tripped in the latest round it knows of.
    pub fn is_tripped(&self) -> bool {
        self.tripped.is_some()
    }

    /// The current verdict, without a new certificate: the trip latched in the latest
    /// round the actuator knows of, or [`Verdict::Hold`].
    pub fn verdict(&self) -> Verdict {
        self.tripped.clone().unwrap_or(Verdict::Hold)
    }

    /// Verifies `certificate` offline and returns what to do: [`Verdict::Trip`] if it, or
    /// an earlier certificate of the same round, proves the unit shut down; otherwise
    /// [`Verdict::Hold`]. An error leaves the actuator as it was.
    pub fn consider(&mut self, certificate: &Certificate) -> Result<Verdict, ActuatorError> {
        let verified = certificate.verify(&self.cluster)?;
        let operation: Operation<Command, Query> =
            decode("interlock operation", &certificate.request.value.operation).map_err(
                |error| ActuatorError::UndecodableOperation {
                    reason: error.to_string(),
                },
            )?;
        let (unit, vote_round) = match operation {
            Operation::Command(Command::Vote { unit, round, .. }) => (unit, round),
            Operation::Command(Command::Reset { .. }) => {
                return Err(ActuatorError::NotAVote { found: "a reset" });
            }
            Operation::Query(_) => return Err(ActuatorError::NotAVote { found: "a query" }),
        };
        if unit != self.unit {
            return Err(ActuatorError::WrongUnit {
                expected: self.unit.clone(),
                found: unit,
            });
        }
        let output = decode_output::<Interlock>(&verified.result).map_err(|error| {
            ActuatorError::UndecodableResult {
                reason: error.to_string(),
            }
        })?;
        match evidence(&output, vote_round)? {
            Evidence::ShutDown { round } if round >= self.round => {
                if round > self.round || self.tripped.is_none() {
                    self.round = round;
                    self.tripped = Some(Verdict::Trip {
                        unit,
                        round,
                        seq: verified.seq,
                        signers: verified.signers,
                        reply_signers: verified.reply_signers,
                    });
                }
            }
            Evidence::Running { round } if round > self.round => {
                // The unit runs in a later round, so a quorum of agents reset it.
                self.round = round;
                self.tripped = None;
            }
            // Evidence about an earlier round, or about the current one that a latched
            // shutdown outranks.
            Evidence::ShutDown { .. } | Evidence::Running { .. } | Evidence::Nothing => {}
        }
        Ok(self.verdict())
    }
}

/// What the interlock's answer to a vote proves about the unit's round and decision. The
/// order of the interlock's checks makes each reason a fact: a vote is refused as
/// `UnitShutDown` before its round is looked at, so `WrongRound` and `UnchangedVote` are
/// answered only while the unit runs, and `UnchangedVote` only in the vote's own round.
fn evidence(output: &Output, vote_round: u64) -> Result<Evidence, ActuatorError> {
    Ok(match output {
        Output::Counted {
            round,
            decision: Decision::Shutdown { .. },
            ..
        } => Evidence::ShutDown { round: *round },
        Output::Counted { round, .. } => Evidence::Running { round: *round },
        Output::Ignored {
            reason: IgnoredReason::UnitShutDown { round, .. },
        } => Evidence::ShutDown { round: *round },
        Output::Ignored {
            reason: IgnoredReason::WrongRound { current },
        } => Evidence::Running { round: *current },
        Output::Ignored {
            reason: IgnoredReason::UnchangedVote { .. },
        } => Evidence::Running { round: vote_round },
        Output::Ignored {
            reason:
                IgnoredReason::UnregisteredAgent
                | IgnoredReason::UnknownUnit
                | IgnoredReason::ConfidenceOutOfRange { .. },
        } => Evidence::Nothing,
        Output::ResetCounted { .. }
        | Output::Ignored {
            reason: IgnoredReason::NotShutDown | IgnoredReason::DuplicateResetVote,
        } => return Err(ActuatorError::UnexpectedOutput),
    })
}

#[cfg(test)]
mod tests;
