//! The interlock actuator on real certificates: agents vote through the client SDK on a
//! four-replica cluster over QUIC, one replica signing wrong results, and the actuator
//! trips only on a genuine certificate of the SHUTDOWN decision.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rampart_client::actuator::{Actuator, ActuatorError, Verdict};
use rampart_client::{Certificate, CertificateError, Client, ClientConfig};
use rampart_crypto::{KeyPair, Signature};
use rampart_replica::app::{StateMachine, Typed};
use rampart_replica::apps::interlock::{Choice, Command, Decision, Interlock, Output, Policy};
use rampart_replica::message::{ClientId, ReplicaId};
use rampart_testkit::byzantine::{MakeBehaviour, WrongResults};
use rampart_testkit::real::{LocalCluster, LocalClusterConfig};

const UNIT: &str = "pump-1";

fn agent_keys() -> Vec<KeyPair> {
    (0..5)
        .map(|index| KeyPair::from_seed(9_000 + index))
        .collect()
}

/// Five agents; three SHUTDOWN votes decide.
fn interlock() -> Interlock {
    let policy = Policy {
        registered_agents: agent_keys()
            .iter()
            .map(|key| ClientId(key.public_key()))
            .collect(),
        units: BTreeSet::from([UNIT.to_string(), "pump-2".to_string()]),
        shutdown_quorum: 3,
        faulty_agents_tolerated: 1,
        min_confidence_percent: 50,
    };
    Interlock::new(policy).expect("a valid policy")
}

async fn start_cluster() -> LocalCluster {
    let mut config = LocalClusterConfig::new(
        4,
        Arc::new(|| Box::new(Typed::new(interlock())) as Box<dyn StateMachine>),
    );
    let lie: MakeBehaviour = |_, _| Box::new(WrongResults);
    config.behaviours = BTreeMap::from([(ReplicaId(3), lie)]);
    config.other_clients = agent_keys().iter().map(KeyPair::public_key).collect();
    LocalCluster::start(config).await.expect("cluster starts")
}

async fn vote(cluster: &LocalCluster, key: KeyPair, choice: Choice) -> (Output, Certificate) {
    let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
    config.retransmit_interval_min = Duration::from_millis(200);
    let client = Client::connect(config, key).await.expect("agent connects");
    let command = Command::Vote {
        unit: UNIT.to_string(),
        round: 0,
        choice,
        confidence_percent: 90,
    };
    let voted = client
        .execute_certified::<Interlock>(&command)
        .await
        .expect("the vote is certified");
    client.close().await;
    voted
}

/// Tampered copies of `certificate`: a forged, a missing and a duplicated signature, on
/// the COMMITs and on the replies, with the error each must be refused with.
fn tampered(certificate: &Certificate, quorum: usize, weak_quorum: usize) -> Vec<Certificate> {
    let mut forged_commit = certificate.clone();
    forged_commit.proof.commits[0].signature = Signature([7; 64]);
    let mut missing_commit = certificate.clone();
    missing_commit.proof.commits.truncate(quorum - 1);
    let mut duplicated_commit = certificate.clone();
    duplicated_commit.proof.commits[1] = duplicated_commit.proof.commits[0].clone();
    let mut forged_reply = certificate.clone();
    forged_reply.replies[0].signature = Signature([9; 64]);
    let mut missing_reply = certificate.clone();
    missing_reply.replies.truncate(weak_quorum - 1);
    let mut duplicated_reply = certificate.clone();
    duplicated_reply.replies[1] = duplicated_reply.replies[0].clone();
    vec![
        forged_commit,
        missing_commit,
        duplicated_commit,
        forged_reply,
        missing_reply,
        duplicated_reply,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actuator_trips_on_the_certified_shutdown_and_refuses_tampered_certificates() {
    let cluster = start_cluster().await;
    let keys = agent_keys();
    let mut actuator = Actuator::new(cluster.cluster().clone(), UNIT.to_string());

    // Two votes: undecided, and the actuator holds.
    for key in &keys[..2] {
        let (output, certificate) = vote(&cluster, key.clone(), Choice::Shutdown).await;
        assert!(matches!(
            output,
            Output::Counted {
                decision: Decision::Undecided,
                ..
            }
        ));
        assert_eq!(actuator.consider(&certificate), Ok(Verdict::Hold));
    }

    // The third latches SHUTDOWN.
    let (output, latching) = vote(&cluster, keys[2].clone(), Choice::Shutdown).await;
    let Output::Counted {
        decision: Decision::Shutdown { since },
        ..
    } = output
    else {
        panic!("the third vote did not latch: {output:?}");
    };
    assert_eq!(since, latching.seq);

    // Tampered copies are refused, and the actuator stays as it was.
    let (quorum, weak_quorum) = (cluster.cluster().quorum(), cluster.cluster().weak_quorum());
    for (index, copy) in tampered(&latching, quorum, weak_quorum).iter().enumerate() {
        let refused = actuator.consider(copy);
        let expected_kind = match refused {
            Err(ActuatorError::Certificate(ref error)) => error.clone(),
            ref other => panic!("tampered copy {index} was not refused: {other:?}"),
        };
        assert!(
            matches!(
                (index, expected_kind),
                (0, CertificateError::ForgedSignature { .. })
                    | (1, CertificateError::BelowQuorum { .. })
                    | (2, CertificateError::DuplicateSigner { .. })
                    | (3, CertificateError::ForgedReply { .. })
                    | (4, CertificateError::TooFewReplies { .. })
                    | (5, CertificateError::DuplicateReply { .. })
            ),
            "tampered copy {index}: {refused:?}"
        );
        assert!(!actuator.is_tripped());
    }

    // The genuine one trips, naming the replicas whose signatures it checked.
    let Ok(Verdict::Trip {
        unit,
        round,
        seq,
        signers,
        reply_signers,
    }) = actuator.consider(&latching)
    else {
        panic!("the genuine certificate of the latching vote did not trip");
    };
    assert_eq!((unit.as_str(), round, seq), (UNIT, 0, since));
    assert!(signers.len() >= quorum, "{signers:?}");
    assert!(reply_signers.len() >= weak_quorum, "{reply_signers:?}");
    // Replica 3 signs wrong results: its reply cannot be among those that agree.
    assert!(!reply_signers.contains(&ReplicaId(3)), "{reply_signers:?}");

    // A vote after the shutdown is ignored, and its certificate proves the shutdown too:
    // an actuator that missed the latching certificate trips on it.
    let (output, late) = vote(&cluster, keys[3].clone(), Choice::Continue).await;
    assert!(matches!(output, Output::Ignored { .. }), "{output:?}");
    let mut fresh = Actuator::new(cluster.cluster().clone(), UNIT.to_string());
    assert!(matches!(fresh.consider(&late), Ok(Verdict::Trip { seq, .. }) if seq == late.seq));
    // The latched actuator keeps its trip.
    assert!(matches!(actuator.consider(&late), Ok(Verdict::Trip { seq, .. }) if seq == since));

    // An actuator of another unit refuses the certificate.
    let mut other = Actuator::new(cluster.cluster().clone(), "pump-2".to_string());
    assert_eq!(
        other.consider(&latching),
        Err(ActuatorError::WrongUnit {
            expected: "pump-2".to_string(),
            found: UNIT.to_string(),
        })
    );
    assert!(cluster.safety_violations().is_empty());
    cluster.shutdown().await;
}
