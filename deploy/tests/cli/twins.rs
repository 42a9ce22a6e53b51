//! Two `rampart replica` processes with one replica's key: the second is refused by its
//! peers and exits with a clear message, and the first runs on.

use std::fs;
use std::time::{Duration, Instant};

use crate::processes::ProcessCluster;
use crate::support::{
    describe, free_ports, free_tcp_ports, one_cluster_at_a_time, rampart, run_within,
};

/// How long the replicas get to start and connect on a loaded two-core machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the second process may take to be refused and exit.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections a replica logged: those it dialled and those it accepted.
fn connections(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains(" connected"))
        .count()
}

#[test]
fn a_second_process_with_a_replicas_key_exits_and_the_first_runs_on() {
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 1, &[]);
    cluster.start_all();
    let started = Instant::now();
    while (0..4).any(|replica| connections(&cluster.log(replica)) < 3) {
        cluster.assert_running();
        assert!(
            started.elapsed() < CONNECT_TIMEOUT,
            "the replicas did not connect: {:?}",
            (0..4)
                .map(|replica| cluster.log(replica))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Replica 1 again, from the same files, as a second host would run it: its own ports
    // and data directory, the same key and cluster.toml.
    let original = fs::read_to_string(cluster.dir().join("replica-1.toml")).expect("read");
    let mut listens = [
        format!("listen = \"127.0.0.1:{}\"", free_ports(1)[0]),
        format!("listen = \"127.0.0.1:{}\"", free_tcp_ports(1)[0]),
    ]
    .into_iter();
    let twin: Vec<String> = original
        .lines()
        .map(|line| match line.starts_with("listen =") {
            true => listens.next().expect("two listen lines"),
            false => line.to_string(),
        })
        .collect();
    assert!(
        listens.next().is_none(),
        "replica-1.toml has a replica and a metrics listen"
    );
    let twin_config = cluster.dir().join("replica-1-twin.toml");
    fs::write(&twin_config, twin.join("\n") + "\n").expect("write");
    let output = run_within(
        rampart()
            .arg("replica")
            .arg("--config")
            .arg(&twin_config)
            .arg("--data-dir")
            .arg(cluster.dir().join("data/replica-1-twin")),
        REFUSAL_TIMEOUT,
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: replica 1 stopped: another process already runs replica 1; refusing to run"
        ),
        "{}",
        describe(&output)
    );
    assert!(last.contains("stop the other process"), "{last}");

    // The peers said why, loudly; the first process runs on, and the cluster serves.
    let peers_logs: String = [0, 2, 3]
        .iter()
        .map(|replica| cluster.log(*replica))
        .collect();
    assert!(
        peers_logs.contains("two processes run replica 1"),
        "{peers_logs}"
    );
    cluster.assert_running();
    cluster.client_ok(0, &["kv", "put", "twin", "refused"]);
    cluster.stop_all();
}
