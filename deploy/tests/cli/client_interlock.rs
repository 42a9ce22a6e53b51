//! `rampart client … interlock` against four `rampart replica` processes: five of seven
//! agents vote a unit down, `status` shows it, and the commit certificate of the deciding
//! vote verifies offline while a tampered copy does not.

use std::fs;

use rampart_client::Certificate;
use rampart_deploy::client::certificate;

use crate::processes::ProcessCluster;
use crate::support::{assert_one_line_error, describe, one_cluster_at_a_time};

/// `rampart client … interlock vote` for a SHUTDOWN of reactor-1 in round 0, then `extra`.
fn shutdown_vote<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "interlock",
        "vote",
        "--unit",
        "reactor-1",
        "--round",
        "0",
        "--shutdown",
        "--confidence",
        "90",
    ];
    args.extend_from_slice(extra);
    args
}

fn vote_shutdown(cluster: &ProcessCluster, agent: usize, extra: &[&str]) -> String {
    cluster.client_ok(agent, &shutdown_vote(extra))
}

#[test]
fn five_of_seven_agents_shut_a_unit_down_with_a_verifiable_certificate() {
    let _exclusive = one_cluster_at_a_time();
    // Seven agents: q = 5, f = 2.
    let mut cluster = ProcessCluster::init("interlock", 4, 7, &[]);
    cluster.start_all();

    for agent in 0..4 {
        let outcome = vote_shutdown(&cluster, agent, &[]);
        assert!(
            outcome.contains("outcome: counted as shutdown in round 0"),
            "{outcome}"
        );
        assert!(outcome.contains("decision: UNDECIDED"), "{outcome}");
        assert!(
            outcome.contains(&format!("tally: {} shutdown", agent + 1)),
            "{outcome}"
        );
    }
    let certificate_path = cluster.dir().join("shutdown.cert");
    let certificate_arg = certificate_path.to_str().expect("UTF-8 path");
    let fifth = vote_shutdown(&cluster, 4, &["--certificate", certificate_arg]);
    assert!(fifth.contains("decision: SHUTDOWN"), "{fifth}");
    assert!(fifth.contains("certificate: "), "{fifth}");

    // The decision latches: a later vote is ignored, and says why.
    let late = cluster.client_ok(
        5,
        &[
            "interlock",
            "vote",
            "--unit",
            "reactor-1",
            "--round",
            "0",
            "--continue",
            "--confidence",
            "80",
        ],
    );
    assert!(
        late.contains("outcome: ignored, the unit is shut down"),
        "{late}"
    );

    let status = cluster.client_ok(6, &["interlock", "status", "--unit", "reactor-1"]);
    assert!(status.contains("decision: SHUTDOWN"), "{status}");
    assert!(status.contains("round: 0"), "{status}");
    assert!(status.contains("agent 4 ("), "{status}");
    assert!(
        status.contains("SHUTDOWN with 5 shutdown votes"),
        "{status}"
    );

    // The certificate verifies offline: every replica may be stopped.
    cluster.stop_all();
    let verify = ["interlock", "verify", "--certificate", certificate_arg];
    let verified = cluster.client_ok(6, &verify);
    assert!(
        verified.contains("verified: committed by cluster"),
        "{verified}"
    );
    assert!(
        verified.contains("command: vote shutdown on reactor-1 in round 0, confidence 90%"),
        "{verified}"
    );
    assert!(verified.contains("request: number "), "{verified}");
    assert!(verified.contains("from agent 4 ("), "{verified}");
    assert!(verified.contains("decision: SHUTDOWN"), "{verified}");

    // One flipped bit inside a replica's COMMIT signature and it proves nothing.
    let bytes = fs::read(&certificate_path).expect("read the certificate");
    let genuine: Certificate = certificate::read(&certificate_path).expect("decodes");
    let signature = genuine.proof.commits[0].signature.0;
    let at = bytes
        .windows(signature.len())
        .position(|window| window == signature)
        .expect("the signature is in the file");
    let mut tampered = bytes.clone();
    tampered[at + 10] ^= 0x01;
    let tampered_path = cluster.dir().join("tampered.cert");
    fs::write(&tampered_path, &tampered).expect("write");
    let output = cluster.client(
        6,
        &[
            "interlock",
            "verify",
            "--certificate",
            tampered_path.to_str().expect("UTF-8 path"),
        ],
    );
    assert_one_line_error(&output, 1, &["tampered.cert", "does not verify"]);
    assert!(output.stdout.is_empty(), "{}", describe(&output));

    // A vote for a unit the policy does not name is refused before connecting.
    let unknown = cluster.client(
        0,
        &[
            "interlock",
            "vote",
            "--unit",
            "pump-9",
            "--round",
            "0",
            "--shutdown",
            "--confidence",
            "90",
        ],
    );
    assert_one_line_error(&unknown, 2, &["no unit \"pump-9\"", "reactor-1"]);
}

/// A client the replicas admit (open admission) whose key is not a registered agent: its
/// vote is ignored by every replica, and the command says so and fails instead of printing
/// an outcome a script could take for a counted vote.
#[test]
fn a_vote_from_an_unregistered_agent_fails_with_a_message() {
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("interlock", 4, 1, &["--open-admission"]);
    cluster.add_stranger(5);
    cluster.start_all();
    let vote = shutdown_vote(&[]);
    let refused = cluster.client(5, &vote);
    assert_one_line_error(
        &refused,
        2,
        &[
            "not one of the interlock's registered_agents",
            "client-<j>.toml",
        ],
    );
    assert!(refused.stdout.is_empty(), "{}", describe(&refused));
    let counted = cluster.client_ok(0, &vote);
    assert!(
        counted.contains("outcome: counted as shutdown"),
        "{counted}"
    );
    let status = cluster.client_ok(5, &["interlock", "status", "--unit", "reactor-1"]);
    assert!(status.contains("tally: 1 shutdown"), "{status}");
    cluster.stop_all();
}
