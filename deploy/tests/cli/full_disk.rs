//! Storage that runs out of room: the replica stops with one line that says so, the
//! others go on, and once there is room again the replica restarts from what it had
//! written and catches up. Nothing is silently lost.

use std::time::Duration;

use crate::processes::ProcessCluster;
use crate::support::one_cluster_at_a_time;

/// No file of the limited replica may grow past this: its write-ahead log soon does.
const FILE_LIMIT_KILOBYTES: u64 = 256;

#[test]
fn a_replica_out_of_disk_space_stops_with_a_clear_error_and_recovers_later() {
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 1, &["--checkpoint-interval", "8"]);
    for replica in 0..3 {
        cluster.start(replica);
    }
    cluster.start_with_file_limit(3, FILE_LIMIT_KILOBYTES);

    // Writes until the limited replica's log outgrows the limit and its store fails.
    let value = "v".repeat(2_000);
    let mut written = 0;
    let code = loop {
        assert!(written < 400, "the limited replica never ran out of room");
        let key = format!("key-{written}");
        cluster.client_ok(0, &["kv", "put", &key, &value]);
        written += 1;
        if let Some(code) = cluster.wait_exit(3, Duration::from_millis(10)) {
            break code;
        }
        if written % 20 == 0 {
            cluster.assert_running_except(&[3]);
        }
    };
    assert_eq!(code, 1, "a storage failure is a runtime failure");
    let log = cluster.log(3);
    let last = log.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        last.starts_with("error:") && last.contains("storage") && last.contains("space"),
        "the last line should say storage failed and to check the space: {last:?}"
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error line: {log}"
    );

    // The others serve on.
    cluster.client_ok(0, &["kv", "put", "while-down", "yes"]);

    // With room again, the replica starts from its store (nothing there is half
    // written: the failed batch was never applied) and catches up.
    cluster.start(3);
    for i in 0..20 {
        cluster.client_ok(0, &["kv", "put", &format!("after-{i}"), "x"]);
    }
    assert_eq!(
        cluster.client_ok(0, &["kv", "get", "key-0"]),
        format!("{value}\n")
    );
    assert_eq!(cluster.client_ok(0, &["kv", "get", "while-down"]), "yes\n");
    cluster.assert_running();
    cluster.stop_all();
}
