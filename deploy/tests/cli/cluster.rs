//! Four `rampart replica` processes from `rampart init` output connect to each other, stay
//! up, and stop cleanly on SIGTERM.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    KillOnDrop, assert_one_line_error, init_cluster, one_cluster_at_a_time, rampart, run,
};

/// How long the replicas get to start and connect on a loaded two-core machine.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the replicas must then stay up.
const STAY_UP: Duration = Duration::from_secs(2);
/// How long a replica may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections a replica logs: those it dialled ("connected") and those it accepted
/// ("replica connected"). Each pair of replicas shares one connection.
fn connections(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains(" connected"))
        .count()
}

fn send_sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}");
}

#[test]
fn four_replicas_connect_stay_up_and_stop_cleanly_on_sigterm() {
    let _exclusive = one_cluster_at_a_time();
    let dir = tempfile::tempdir().expect("temporary directory");
    init_cluster(dir.path(), 4, 2, "interlock");
    let log_path = |index: usize| dir.path().join(format!("replica-{index}.log"));
    let mut replicas: Vec<KillOnDrop> = (0..4)
        .map(|index| {
            let log = File::create(log_path(index)).expect("log file");
            let child = rampart()
                .arg("replica")
                .arg("--config")
                .arg(dir.path().join(format!("replica-{index}.toml")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start a replica");
            KillOnDrop(Some(child))
        })
        .collect();
    let read_log = |index: usize| fs::read_to_string(log_path(index)).unwrap_or_default();

    // Every replica connects to its three peers.
    let started = Instant::now();
    while !(0..4).all(|index| connections(&read_log(index)) >= 3) {
        for (index, replica) in replicas.iter_mut().enumerate() {
            let exited = replica.get().try_wait().expect("wait");
            assert!(
                exited.is_none(),
                "replica {index} exited with {exited:?}: {}",
                read_log(index)
            );
        }
        assert!(
            started.elapsed() < CONNECT_TIMEOUT,
            "replicas did not connect: {:?}",
            (0..4).map(read_log).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    std::thread::sleep(STAY_UP);
    for (index, replica) in replicas.iter_mut().enumerate() {
        let exited = replica.get().try_wait().expect("wait");
        assert!(
            exited.is_none(),
            "replica {index} exited: {}",
            read_log(index)
        );
    }

    for replica in &mut replicas {
        send_sigterm(replica.get().id());
    }
    let stopping = Instant::now();
    for (index, replica) in replicas.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = replica.get().try_wait().expect("wait") {
                break status;
            }
            assert!(
                stopping.elapsed() < STOP_TIMEOUT,
                "replica {index} still running after SIGTERM: {}",
                read_log(index)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = read_log(index);
        assert_eq!(status.code(), Some(0), "replica {index}: {log}");
        assert!(log.contains("replica stopped"), "replica {index}: {log}");
        assert!(!log.contains("ERROR"), "replica {index}: {log}");
    }

    // Replica 1 pointed at replica 0's data is refused: the directory is not its own.
    let output = run(rampart()
        .arg("replica")
        .arg("--config")
        .arg(dir.path().join("replica-1.toml"))
        .arg("--data-dir")
        .arg(dir.path().join("data/replica-0")));
    assert_one_line_error(&output, 2, &["replica-1.toml", "own data directory"]);
    assert!(Path::new(&dir.path().join("data/replica-1")).is_dir());
}
