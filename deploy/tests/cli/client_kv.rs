//! `rampart client … kv` against four `rampart replica` processes: puts and gets print
//! what the store saw, the service survives `kill -9` of its primary, and failures are
//! one line with the documented exit status.

use std::fs;

use crate::processes::ProcessCluster;
use crate::support::{assert_one_line_error, describe, one_cluster_at_a_time};

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

/// A value that is not text: every byte value, NUL and newlines included, repeated to
/// `length` bytes.
fn binary_value(length: usize) -> Vec<u8> {
    (0..length)
        .map(|index| (index * 7 + index / 256) as u8)
        .collect()
}

/// What `kv get` prints for a value: its bytes and a newline.
fn printed(value: &[u8]) -> Vec<u8> {
    [value, b"\n"].concat()
}

#[test]
fn kv_put_takes_binary_and_large_values_from_a_file_or_standard_input() {
    let _exclusive = one_cluster_at_a_time();
    // A 1 MiB value with its key needs a little more than the default 1 MiB operation.
    let mut cluster = ProcessCluster::init("kv", 4, 1, &["--operation-bytes-max", "2097152"]);
    let cluster_file = cluster.dir().join("cluster.toml");
    let text = fs::read_to_string(&cluster_file).expect("read");
    assert!(text.contains("operation_bytes_max = 2097152"), "{text}");
    cluster.start_all();

    let binary = binary_value(1_000);
    let binary_file = cluster.dir().join("binary.value");
    fs::write(&binary_file, &binary).expect("write");
    let binary_arg = binary_file.to_str().expect("UTF-8 path");
    assert_eq!(
        cluster.client_ok(0, &["kv", "put", "binary", "--value-file", binary_arg]),
        ""
    );
    let got = cluster.client(0, &["kv", "get", "binary"]);
    assert_eq!(got.status.code(), Some(0), "{}", describe(&got));
    assert_eq!(got.stdout, printed(&binary));

    let large = binary_value(1 << 20);
    let large_file = cluster.dir().join("large.value");
    fs::write(&large_file, &large).expect("write");
    let large_arg = large_file.to_str().expect("UTF-8 path");
    assert_eq!(
        cluster.client_ok(0, &["kv", "put", "large", "--value-file", large_arg]),
        ""
    );
    let got = cluster.client(0, &["kv", "get", "large"]);
    assert_eq!(got.status.code(), Some(0), "{}", describe(&got));
    assert!(
        got.stdout == printed(&large),
        "the 1 MiB value came back changed"
    );

    // No value and no file: standard input, to its end. The put prints the previous value.
    let piped = cluster.client_with_input(0, &["kv", "put", "binary"], b"piped\0\nvalue");
    assert_eq!(piped.status.code(), Some(0), "{}", describe(&piped));
    assert_eq!(piped.stdout, printed(&binary));
    let got = cluster.client(0, &["kv", "get", "binary", "--read-only"]);
    assert_eq!(got.stdout, printed(b"piped\0\nvalue"));
    let empty = cluster.client_with_input(0, &["kv", "put", "empty"], b"");
    assert_eq!(empty.status.code(), Some(0), "{}", describe(&empty));
    assert_eq!(cluster.client_ok(0, &["kv", "get", "empty"]), "\n");

    // Too large, a missing file, or both a value and a file: refused before connecting.
    let too_large_file = cluster.dir().join("too-large.value");
    fs::write(&too_large_file, binary_value((2 << 20) + 1)).expect("write");
    let too_large_arg = too_large_file.to_str().expect("UTF-8 path");
    let too_large = cluster.client(0, &["kv", "put", "k", "--value-file", too_large_arg]);
    assert_one_line_error(&too_large, 2, &["too-large.value", "operation_bytes_max"]);
    let just_over = binary_value(2 << 20);
    let over = cluster.client_with_input(0, &["kv", "put", "k"], &just_over);
    assert_one_line_error(&over, 2, &["encodes to", "operation_bytes_max"]);
    let missing = cluster.client(0, &["kv", "put", "k", "--value-file", "/nonexistent/v"]);
    assert_one_line_error(&missing, 2, &["/nonexistent/v", "--value-file"]);
    let both = cluster.client(0, &["kv", "put", "k", "v", "--value-file", binary_arg]);
    assert_eq!(both.status.code(), Some(2), "{}", describe(&both));
    cluster.stop_all();
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
