//! Agents vote on shutting a unit down, and an actuator acts only on what a certificate
//! proves. Starts a four-replica cluster in this process, like `rampart demo` without the
//! faults:
//!
//! ```text
//! cargo run --example interlock
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rampart_client::actuator::{Actuator, Verdict};
use rampart_client::{Client, ClientConfig};
use rampart_crypto::KeyPair;
use rampart_deploy::local::{ClusterSpec, InProcessCluster};
use rampart_replica::app::{StateMachine, Typed};
use rampart_replica::apps::interlock::{Choice, Command, Interlock, Policy};
use rampart_replica::cluster::ClientAdmission;
use rampart_replica::message::ClientId;
use rampart_replica::net::ConnectionLimits;

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Five agents, each with its own key; three SHUTDOWN votes decide, one faulty agent
    // can neither trigger nor block that.
    let agents: Vec<KeyPair> = (0..5)
        .map(|_| KeyPair::generate())
        .collect::<Result<_, _>>()?;
    let policy = Policy {
        registered_agents: agents
            .iter()
            .map(|key| ClientId(key.public_key()))
            .collect(),
        units: BTreeSet::from(["pump-1".to_string()]),
        shutdown_quorum: 3,
        faulty_agents_tolerated: 1,
        min_confidence_percent: 50,
    };
    let interlock = Interlock::new(policy)?;
    let cluster = InProcessCluster::start(ClusterSpec {
        replicas: 4,
        tick: Duration::from_millis(5),
        protocol: Box::new(|protocol| protocol.view_change_timeout_ticks = 40),
        sync: false,
        application: Box::new(move || {
            Box::new(Typed::new(interlock.clone())) as Box<dyn StateMachine>
        }),
        byzantine: BTreeMap::new(),
        // Only the agents may connect.
        clients: ClientAdmission::listed(agents.iter().map(KeyPair::public_key)),
        connection_limits: ConnectionLimits::default(),
    })
    .await?;

    // The actuator needs nothing but the cluster description: it trusts no agent and no
    // single replica, only certificates it checks itself.
    let mut actuator = Actuator::new(cluster.cluster().clone(), "pump-1".to_string());
    for (index, key) in agents.into_iter().enumerate() {
        let config = ClientConfig::new(cluster.cluster().clone(), cluster.addresses());
        let agent = Client::connect(config, key).await?;
        let vote = Command::Vote {
            unit: "pump-1".to_string(),
            round: 0,
            choice: Choice::Shutdown,
            confidence_percent: 90,
        };
        let (output, certificate) = agent.execute_certified::<Interlock>(&vote).await?;
        println!("agent {index}: {output:?}");
        agent.close().await;
        match actuator.consider(&certificate)? {
            Verdict::Hold => println!("actuator: seq {} verified, hold", certificate.seq.0),
            Verdict::Trip { seq, signers, .. } => {
                println!("actuator: TRIP at seq {} (COMMITs of {signers:?})", seq.0);
                break;
            }
        }
    }
    cluster.shutdown().await?;
    Ok(())
}
