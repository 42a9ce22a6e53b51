//! `rampart client … kv` against four `rampart replica` processes: puts and gets print
//! what the store saw, the service survives `kill -9` of its primary, and failures are
//! one line with the documented exit status.

use std::fs;

use crate::processes::ProcessCluster;
use crate::support::{assert_one_line_error, one_cluster_at_a_time};

#[test]
fn kv_commands_succeed_and_survive_the_primary_being_killed() {
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 2, &[]);
    cluster.start_all();

    // `put` prints the previous value, nothing when there was none.
    assert_eq!(cluster.client_ok(0, &["kv", "put", "colour", "red"]), "");
    assert_eq!(
        cluster.client_ok(1, &["kv", "put", "colour", "blue"]),
        "red\n"
    );
    assert_eq!(cluster.client_ok(0, &["kv", "get", "colour"]), "blue\n");
    assert_eq!(
        cluster.client_ok(1, &["kv", "get", "colour", "--read-only"]),
        "blue\n"
    );
    assert_eq!(cluster.client_ok(0, &["kv", "put", "empty", ""]), "");
    assert_eq!(cluster.client_ok(0, &["kv", "get", "empty"]), "\n");
    assert_eq!(cluster.client_ok(0, &["kv", "delete", "colour"]), "blue\n");
    assert_eq!(cluster.client_ok(0, &["kv", "get", "colour"]), "");
    assert_eq!(
        cluster.client_ok(0, &["kv", "get", "never", "--read-only"]),
        ""
    );

    // Replica 0 is the primary of view 0: the others change views and go on.
    cluster.kill(0);
    assert_eq!(cluster.client_ok(1, &["kv", "put", "after", "kill"]), "");
    assert_eq!(cluster.client_ok(0, &["kv", "get", "after"]), "kill\n");
    assert_eq!(
        cluster.client_ok(1, &["kv", "put", "after", "again"]),
        "kill\n"
    );
    assert_eq!(
        cluster.client_ok(0, &["kv", "get", "after", "--read-only"]),
        "again\n"
    );
    cluster.assert_running();

    // Interlock commands are refused before connecting: the cluster runs the store.
    let refused = cluster.client(0, &["interlock", "status", "--unit", "reactor-1"]);
    assert_one_line_error(
        &refused,
        2,
        &["runs the kv application", "`interlock` commands"],
    );

    // With every replica stopped, the client reports the cluster unreachable.
    cluster.stop_all();
    let config = cluster.client_config(0);
    let text = fs::read_to_string(&config).expect("read");
    let text = text.replace("connect_timeout_ms = 10000", "connect_timeout_ms = 500");
    fs::write(&config, text).expect("write");
    let unreachable = cluster.client(0, &["kv", "get", "after"]);
    assert_one_line_error(
        &unreachable,
        1,
        &["none of the 4 replicas", "connect_timeout_ms"],
    );
}

#[test]
fn kv_commands_refuse_a_missing_config() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = crate::support::run(
        crate::support::rampart()
            .args(["client", "--config"])
            .arg(dir.path().join("client-0.toml"))
            .args(["kv", "get", "k"]),
    );
    assert_one_line_error(&output, 2, &["client-0.toml", "No such file"]);
}
