//! The story: the cluster starts with a Byzantine primary, agents vote (one of them the
//! wrong way, one not at all), the replicas change views, SHUTDOWN latches, the actuator
//! trips on a certificate it verified itself, and every correct replica reports the
//! decision.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rampart_client::actuator::{Actuator, Verdict};
use rampart_client::{Certificate, Client};
use rampart_crypto::KeyPair;
use rampart_replica::app::{StateMachine, Typed};
use rampart_replica::apps::interlock::{
    Choice, Command, CountedAs, Decision, Interlock, Output, Policy, Query, QueryOutput, UnitStatus,
};
use rampart_replica::cluster::ClientAdmission;
use rampart_replica::fault::Behaviour;
use rampart_replica::message::{ReplicaId, Seq};
use rampart_replica::net::ConnectionLimits;

use super::agents::{Agent, Role, choice_name, decision_name, outcome};
use super::inspect::ask_each;
use super::timeline::{Timeline, replicas};
use super::traitor::Traitor;
use super::views::watch_view_changes;
use crate::failure::Failure;
use crate::local::{ClusterSpec, InProcessCluster};

const UNIT: &str = "reactor-1";
const REPLICAS: usize = 4;
const BYZANTINE: ReplicaId = ReplicaId(0);
/// Short ticks and a 200 ms view-change timeout keep the story to a few seconds.
const TICK: Duration = Duration::from_millis(5);
const VIEW_CHANGE_TIMEOUT_TICKS: u64 = 40;
const SHUTDOWN_QUORUM: u32 = 5;
const FAULTY_AGENTS_TOLERATED: u32 = 2;
const MIN_CONFIDENCE_PERCENT: u8 = 60;
/// How long the correct replicas get to execute the decision before they are asked.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// The agents, agent-1 to agent-7: five correct, then the two faulty ones.
fn agents() -> Result<Vec<Agent>, Failure> {
    let roles = [
        Role::Correct {
            confidence_percent: 95,
        },
        Role::Correct {
            confidence_percent: 90,
        },
        Role::Correct {
            confidence_percent: 88,
        },
        Role::Correct {
            confidence_percent: 97,
        },
        Role::Correct {
            confidence_percent: 92,
        },
        Role::WrongWay,
        Role::Silent,
    ];
    (1..)
        .zip(roles)
        .map(|(index, role)| Agent::new(index, role))
        .collect()
}

/// Who votes when, by index into the agents: the faulty agent votes early, and tries
/// again once the unit is shut down.
const VOTES: [usize; 7] = [0, 5, 1, 2, 3, 4, 5];

pub async fn run() -> Result<(), Failure> {
    let timeline = Timeline::start();
    let agents = agents()?;
    // Asks each replica for the unit's status at the end; admitted like the agents.
    let observer = KeyPair::generate()
        .map_err(|error| Failure::runtime(format_args!("cannot generate a key: {error}")))?;
    let admitted = agents
        .iter()
        .map(|agent| agent.key.public_key())
        .chain([observer.public_key()]);
    let clients = ClientAdmission::listed(admitted);
    let policy = Policy {
        registered_agents: agents.iter().map(Agent::id).collect(),
        units: BTreeSet::from([UNIT.to_string()]),
        shutdown_quorum: SHUTDOWN_QUORUM,
        faulty_agents_tolerated: FAULTY_AGENTS_TOLERATED,
        min_confidence_percent: MIN_CONFIDENCE_PERCENT,
    };
    let interlock = Interlock::new(policy)
        .map_err(|error| Failure::runtime(format_args!("the demo's policy: {error}")))?;
    timeline.event(format!(
        "starting {REPLICAS} replicas in this process: QUIC on 127.0.0.1, ephemeral ports, \
         temporary storage"
    ));
    let byzantine: Box<dyn Behaviour> = Box::new(Traitor);
    let cluster = InProcessCluster::start(ClusterSpec {
        replicas: REPLICAS,
        tick: TICK,
        protocol: Box::new(|protocol| {
            protocol.view_change_timeout_ticks = VIEW_CHANGE_TIMEOUT_TICKS;
            protocol.status_interval_ticks = 10;
        }),
        sync: false,
        application: Box::new(move || {
            Box::new(Typed::new(interlock.clone())) as Box<dyn StateMachine>
        }),
        byzantine: BTreeMap::from([(BYZANTINE, byzantine)]),
        clients,
        connection_limits: ConnectionLimits::default(),
    })
    .await?;
    let played = play(&timeline, &cluster, &agents, &observer).await;
    let stopped = cluster.shutdown().await;
    if stopped.is_ok() {
        timeline.event("cluster stopped; temporary storage removed");
    }
    played.and(stopped)
}

async fn play(
    timeline: &Timeline,
    cluster: &InProcessCluster,
    agents: &[Agent],
    observer: &KeyPair,
) -> Result<(), Failure> {
    let addresses = cluster.addresses();
    let listing: Vec<String> = addresses
        .iter()
        .enumerate()
        .map(|(index, address)| format!("{index} at {address}"))
        .collect();
    timeline.event(format!("cluster up: replicas {}", listing.join(", ")));
    timeline.detail(
        "n = 4 tolerates f = 1 faulty replica: a commit takes 3 replicas, a result 2 \
         matching replies",
    );
    timeline.event(format!(
        "replica {} is Byzantine: as primary of view 0 it equivocates (the real batch to \
         replica 2, an empty one to replicas 1 and 3),",
        BYZANTINE.0
    ));
    timeline.detail(
        "so nothing commits until the others change views; and it tells every client the \
         unit is UNDECIDED",
    );
    timeline.event(format!(
        "interlock on {UNIT}: 7 registered agents, SHUTDOWN latches at {SHUTDOWN_QUORUM} \
         votes, tolerating {FAULTY_AGENTS_TOLERATED} faulty agents"
    ));
    timeline.detail(
        "agent-6 is faulty: it votes CONTINUE with 99% confidence; agent-7 is faulty: it \
         stays silent",
    );
    let correct: Vec<_> = cluster
        .nodes()
        .iter()
        .filter(|node| node.id() != BYZANTINE)
        .map(|node| node.watch_status())
        .collect();
    let views = watch_view_changes(*timeline, REPLICAS, correct);
    let voted = vote(timeline, cluster, agents).await;
    views.abort();
    let (latched, trip) = voted?;
    let agreement = ask_replicas(timeline, cluster, observer, latched).await?;
    summarize(timeline, agents, latched, &agreement, &trip);
    Ok(())
}

/// Runs the votes and hands every certificate to the actuator. Returns where SHUTDOWN
/// latched and the actuator's trip.
async fn vote(
    timeline: &Timeline,
    cluster: &InProcessCluster,
    agents: &[Agent],
) -> Result<(Seq, Verdict), Failure> {
    let addresses = cluster.addresses();
    let mut clients: Vec<Option<Client>> = Vec::new();
    for agent in agents {
        clients.push(match agent.role {
            Role::Silent => None,
            _ => Some(agent.connect(cluster.cluster(), &addresses).await?),
        });
    }
    timeline.event("agents 1 to 6 connected, each with its own key");
    let mut actuator = Actuator::new(cluster.cluster().clone(), UNIT.to_string());
    let mut latched = None;
    for index in VOTES {
        let (agent, Some(client)) = (&agents[index], &clients[index]) else {
            continue;
        };
        let (choice, confidence_percent) = match agent.role {
            Role::Correct { confidence_percent } => (Choice::Shutdown, confidence_percent),
            Role::WrongWay | Role::Silent => (Choice::Continue, 99),
        };
        timeline.event(format!(
            "{} votes {} with {confidence_percent}% confidence",
            agent.name,
            choice_name(choice)
        ));
        let command = Command::Vote {
            unit: UNIT.to_string(),
            round: 0,
            choice,
            confidence_percent,
        };
        let (output, certificate) = client
            .execute_certified::<Interlock>(&command)
            .await
            .map_err(|error| {
                Failure::runtime(format_args!("{}'s vote failed: {error}", agent.name))
            })?;
        timeline.event(format!(
            "{}: {}",
            agent.name,
            outcome(&output, certificate.seq, SHUTDOWN_QUORUM)
        ));
        if let Output::Counted {
            decision: Decision::Shutdown { since },
            tally,
            ..
        } = output
        {
            latched = Some(since);
            timeline.event(format!(
                "*** {UNIT}: SHUTDOWN LATCHED at seq {} ({} of 7 agents) ***",
                since.0, tally.shutdown_votes
            ));
        }
        consider(timeline, &mut actuator, &certificate, &agent.name)?;
    }
    // Each close waits for its connections to drain; together they take the time of one.
    let closing: Vec<_> = clients
        .into_iter()
        .flatten()
        .map(|client| tokio::spawn(client.close()))
        .collect();
    for close in closing {
        let _ = close.await;
    }
    let Some(latched) = latched else {
        return Err(Failure::runtime(
            "the votes ended without a SHUTDOWN decision",
        ));
    };
    match actuator.verdict() {
        trip @ Verdict::Trip { .. } => Ok((latched, trip)),
        Verdict::Hold => Err(Failure::runtime(
            "SHUTDOWN latched, but the actuator did not trip",
        )),
    }
}

/// Hands a certificate to the actuator and tells what it made of it.
fn consider(
    timeline: &Timeline,
    actuator: &mut Actuator,
    certificate: &Certificate,
    from: &str,
) -> Result<(), Failure> {
    let was_tripped = actuator.is_tripped();
    let verdict = actuator.consider(certificate).map_err(|error| {
        Failure::runtime(format_args!(
            "the actuator refused the certificate of {from}'s vote: {error}"
        ))
    })?;
    let seq = certificate.seq.0;
    match verdict {
        Verdict::Hold => timeline.event(format!(
            "actuator: certificate of seq {seq} verified -> HOLD (no shutdown proven)"
        )),
        Verdict::Trip { seq: tripped, .. } if was_tripped => timeline.event(format!(
            "actuator: certificate of seq {seq} verified -> stays TRIPPED (latched at seq {})",
            tripped.0
        )),
        Verdict::Trip {
            unit,
            round,
            signers,
            reply_signers,
            ..
        } => {
            timeline.event(format!(
                "actuator: certificate of seq {seq} verified offline -> TRIP: power to {unit} \
                 cut (round {round})"
            ));
            timeline.detail(format!(
                "checked: COMMITs for seq {seq} signed by {} (any 3 include 2 correct \
                 replicas),",
                replicas(&signers)
            ));
            timeline.detail(format!(
                "and the same result signed by {} (any 2 include a correct replica)",
                replicas(&reply_signers)
            ));
        }
    }
    Ok(())
}

/// What the replicas said about the unit, each on its own.
struct Agreement {
    /// The correct replicas reporting the SHUTDOWN, and the status one of them reported.
    agreed: Vec<ReplicaId>,
    status: UnitStatus,
    /// The Byzantine replica's claimed decision.
    byzantine_said: String,
}

/// Asks every replica for the unit's status, prints each answer, and checks that every
/// correct replica reports the SHUTDOWN that latched at `latched`.
async fn ask_replicas(
    timeline: &Timeline,
    cluster: &InProcessCluster,
    observer: &KeyPair,
    latched: Seq,
) -> Result<Agreement, Failure> {
    wait_for_execution(cluster, latched).await?;
    let query = Query::Status {
        unit: UNIT.to_string(),
    };
    let addresses = cluster.addresses();
    let patience = Duration::from_secs(5);
    let answers = ask_each(cluster.cluster(), &addresses, observer, &query, patience).await?;
    timeline.event(format!(
        "status of {UNIT}, asked of each replica on its own:"
    ));
    let shutdown = Decision::Shutdown { since: latched };
    let mut agreed = Vec::new();
    let mut agreed_status = None;
    let mut byzantine_said = "nothing".to_string();
    for replica in cluster.cluster().replica_ids() {
        let said = match answers.get(&replica) {
            Some(Ok(QueryOutput::Status(status))) => {
                if replica == BYZANTINE {
                    byzantine_said = decision_name(status.decision);
                } else if status.decision == shutdown {
                    agreed.push(replica);
                    agreed_status = Some(status.clone());
                }
                describe_status(status)
            }
            Some(Ok(other)) => format!("{other:?}"),
            Some(Err(error)) => format!("no status: {error}"),
            None => "no answer".to_string(),
        };
        let role = if replica == BYZANTINE {
            " (Byzantine)"
        } else {
            ""
        };
        timeline.detail(format!("replica {}{role}: {said}", replica.0));
    }
    let correct = cluster.cluster().size() - 1;
    match agreed_status {
        Some(status) if agreed.len() == correct => Ok(Agreement {
            agreed,
            status,
            byzantine_said,
        }),
        _ => Err(Failure::runtime(format_args!(
            "not every correct replica reports the SHUTDOWN since seq {} (only {} do)",
            latched.0,
            replicas(&agreed)
        ))),
    }
}

/// The story in four lines: who decided, who could not stop it, who agrees, what tripped.
fn summarize(
    timeline: &Timeline,
    agents: &[Agent],
    latched: Seq,
    agreement: &Agreement,
    trip: &Verdict,
) {
    let voters: Vec<String> = (1..)
        .zip(agents)
        .filter(|(_, agent)| {
            agreement
                .status
                .ballots
                .get(&agent.id())
                .is_some_and(|ballot| ballot.counted_as == CountedAs::Shutdown)
        })
        .map(|(number, _): (usize, _)| number.to_string())
        .collect();
    timeline.event(format!(
        "summary: {UNIT} SHUTDOWN since seq {}, decided by agents {} ({} of 7, \
         {SHUTDOWN_QUORUM} needed);",
        latched.0,
        voters.join(", "),
        voters.len()
    ));
    timeline
        .detail("faulty agent-6 (CONTINUE) and agent-7 (silent) could neither block nor undo it;");
    timeline.detail(format!(
        "agreed by the correct {}; Byzantine replica {} says {}, outvoted;",
        replicas(&agreement.agreed),
        BYZANTINE.0,
        agreement.byzantine_said
    ));
    if let Verdict::Trip {
        seq,
        signers,
        reply_signers,
        ..
    } = trip
    {
        timeline.detail(format!(
            "the actuator tripped on seq {}'s certificate: COMMITs of {}, replies of {}",
            seq.0,
            replicas(signers),
            replicas(reply_signers)
        ));
    }
}

fn describe_status(status: &UnitStatus) -> String {
    format!(
        "{} in round {} ({} shutdown, {} continue, {} not voted)",
        decision_name(status.decision),
        status.round,
        status.tally.shutdown_votes,
        status.tally.continue_votes,
        status.tally.not_voted
    )
}

/// Waits until every correct replica has executed `seq`, so each one's status includes it.
async fn wait_for_execution(cluster: &InProcessCluster, seq: Seq) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let behind: Vec<ReplicaId> = cluster
            .statuses()
            .iter()
            .filter(|status| status.replica != BYZANTINE && status.last_executed < seq)
            .map(|status| status.replica)
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::runtime(format_args!(
                "{} had not executed seq {} after {CATCH_UP_TIMEOUT:?}",
                replicas(&behind),
                seq.0
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
