//! The demo's agents: clients with their own keys that vote on the unit, and how their
//! votes' outcomes read on the timeline.

use std::net::SocketAddr;
use std::time::Duration;

use rampart_client::{Client, ClientConfig};
use rampart_crypto::KeyPair;
use rampart_replica::apps::interlock::{Choice, CountedAs, Decision, IgnoredReason, Output};
use rampart_replica::cluster::Cluster;
use rampart_replica::message::{ClientId, Seq};

use crate::failure::Failure;

/// How an agent behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sees the alarm and votes SHUTDOWN.
    Correct { confidence_percent: u8 },
    /// Faulty: votes CONTINUE with high confidence, whatever it sees.
    WrongWay,
    /// Faulty: never votes.
    Silent,
}

/// A registered agent and its connection to the cluster.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    pub role: Role,
    pub key: KeyPair,
}

impl Agent {
    pub fn new(index: usize, role: Role) -> Result<Agent, Failure> {
        let key = KeyPair::generate()
            .map_err(|error| Failure::runtime(format_args!("cannot generate a key: {error}")))?;
        Ok(Agent {
            name: format!("agent-{index}"),
            role,
            key,
        })
    }

    pub fn id(&self) -> ClientId {
        ClientId(self.key.public_key())
    }

    /// Connects with the agent's own key, with timings suited to a local cluster.
    pub async fn connect(
        &self,
        cluster: &Cluster,
        addresses: &[SocketAddr],
    ) -> Result<Client, Failure> {
        let mut config = ClientConfig::new(cluster.clone(), addresses.to_vec());
        config.connect_timeout = Duration::from_secs(10);
        config.request_timeout = Duration::from_secs(20);
        // The first vote reaches the equivocating primary; the sooner it goes to every
        // replica, the sooner their timers run out and they change views.
        config.retransmit_interval_min = Duration::from_millis(100);
        config.retransmit_interval_max = Duration::from_secs(1);
        Client::connect(config, self.key.clone())
            .await
            .map_err(|error| {
                Failure::runtime(format_args!("{} cannot connect: {error}", self.name))
            })
    }
}

pub fn choice_name(choice: Choice) -> &'static str {
    match choice {
        Choice::Shutdown => "SHUTDOWN",
        Choice::Continue => "CONTINUE",
    }
}

pub fn decision_name(decision: Decision) -> String {
    match decision {
        Decision::Shutdown { since } => format!("SHUTDOWN since seq {}", since.0),
        Decision::Continue => "CONTINUE".to_string(),
        Decision::Undecided => "UNDECIDED".to_string(),
    }
}

/// What the cluster answered to a vote committed at `seq`, in words.
pub fn outcome(output: &Output, seq: Seq, quorum: u32) -> String {
    match output {
        Output::Counted {
            counted_as,
            tally,
            decision,
            ..
        } => {
            let counted = match counted_as {
                CountedAs::Shutdown => "SHUTDOWN",
                CountedAs::Continue => "CONTINUE",
                CountedAs::Abstention => "an abstention",
            };
            let verdict = match decision {
                Decision::Shutdown { .. } => "SHUTDOWN LATCHED".to_string(),
                other => format!("{} ({quorum} needed)", decision_name(*other)),
            };
            format!(
                "committed at seq {}, counted as {counted}; tally {} shutdown, {} continue, {} \
                 not voted -> {verdict}",
                seq.0, tally.shutdown_votes, tally.continue_votes, tally.not_voted
            )
        }
        Output::Ignored {
            reason: IgnoredReason::UnitShutDown { since, .. },
        } => format!(
            "committed at seq {}, ignored: the unit is shut down since seq {}",
            seq.0, since.0
        ),
        Output::Ignored { reason } => format!("committed at seq {}, ignored: {reason:?}", seq.0),
        Output::ResetCounted { .. } => format!("committed at seq {}: a reset count", seq.0),
    }
}
