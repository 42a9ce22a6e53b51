//! Client admission against four `rampart replica` processes: the clients `rampart init`
//! made are served, any other key is told at once that it is not admitted, and
//! `--open-admission` serves any key.

use crate::processes::ProcessCluster;
use crate::support::{assert_one_line_error, one_cluster_at_a_time};

#[test]
fn listed_clients_are_served_and_others_are_not_admitted() {
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 1, &[]);
    cluster.add_stranger(5);
    cluster.start_all();
    assert_eq!(cluster.client_ok(0, &["kv", "put", "colour", "red"]), "");
    // The client's request timeout is 30 s and the command's own limit 60 s: a refusal
    // found only by timing out would fail with another message.
    let refused = cluster.client(5, &["kv", "put", "colour", "blue"]);
    assert_one_line_error(&refused, 2, &["not admitted", "[clients] keys"]);
    assert_eq!(cluster.client_ok(0, &["kv", "get", "colour"]), "red\n");
    let logs: String = (0..cluster.size())
        .map(|replica| cluster.log(replica))
        .collect();
    assert!(
        logs.contains("not admitted"),
        "no replica logged the refusal: {logs}"
    );
    cluster.assert_running();
    cluster.stop_all();
}

#[test]
fn open_admission_serves_any_key() {
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 1, &["--open-admission"]);
    cluster.add_stranger(5);
    cluster.start_all();
    assert_eq!(cluster.client_ok(5, &["kv", "put", "colour", "red"]), "");
    assert_eq!(cluster.client_ok(0, &["kv", "get", "colour"]), "red\n");
    cluster.stop_all();
}
