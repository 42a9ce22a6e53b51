//! Operating a cluster of replica processes: every replica's `/metrics` passes
//! `promtool check metrics` and a real Prometheus server scrapes them all; `/health`,
//! `/ready` and `rampart health`; `rampart status` with a replica down and with all down;
//! the log lines of a view change and of an unreachable peer, in JSON too.
//!
//! Prometheus' tools come from Debian's `prometheus` package (`scripts/install-deps`).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rampart_deploy::address::HostPort;
use rampart_deploy::files::cluster::ClusterFile;
use rampart_deploy::http_get::{self, Answer};

use crate::processes::ProcessCluster;
use crate::support::{
    KillOnDrop, assert_one_line_error, describe, free_tcp_ports, one_cluster_at_a_time, rampart,
    run,
};

/// How long a cluster of processes gets to do something that takes a second when the
/// machine is idle: on a loaded machine, much longer.
const DEADLINE: Duration = Duration::from_secs(90);

const PROMTOOL: &str = "/usr/bin/promtool";
const PROMETHEUS: &str = "/usr/bin/prometheus";

fn get(address: &HostPort, path: &str) -> Result<Answer, String> {
    http_get::get(address, path, Duration::from_secs(5))
}

/// Waits until `check` holds, polling; panics with `what` after [`DEADLINE`].
fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(started.elapsed() < DEADLINE, "{what}: {last}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn require(tool: &str) {
    assert!(
        Path::new(tool).exists(),
        "{tool} is missing: install Debian's prometheus package (scripts/install-deps does)"
    );
}

/// `promtool check metrics` on `text`: its complaints, if any.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads");
    let output = child.wait_with_output().expect("promtool ends");
    if output.status.success() && output.stdout.is_empty() && output.stderr.is_empty() {
        Ok(())
    } else {
        Err(describe(&output))
    }
}

/// The value of the sample `name{labels}` in a metrics text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// A Prometheus server scraping `targets` every second, with its data in `dir`.
fn start_prometheus(dir: &Path, targets: &[String]) -> (KillOnDrop, HostPort) {
    let config = dir.join("prometheus.yml");
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - \
             job_name: rampart\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("write the configuration");
    let port = free_tcp_ports(1)[0];
    let log = fs::File::create(dir.join("prometheus.log")).expect("log file");
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    (KillOnDrop(Some(child)), HostPort::new("127.0.0.1", port))
}

/// Prometheus' view of its targets: how many, and how many are up.
fn targets_up(prometheus: &HostPort) -> Result<(usize, usize), String> {
    let answer = get(prometheus, "/api/v1/targets")?;
    let json: serde_json::Value = serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
    let targets = json["data"]["activeTargets"]
        .as_array()
        .ok_or_else(|| format!("no activeTargets in {json}"))?;
    let up = targets
        .iter()
        .filter(|target| target["health"] == "up")
        .count();
    Ok((targets.len(), up))
}

#[test]
fn replicas_serve_metrics_health_and_status_and_log_what_operators_need() {
    require(PROMTOOL);
    require(PROMETHEUS);
    let _exclusive = one_cluster_at_a_time();
    let mut cluster = ProcessCluster::init("kv", 4, 1, &[]);
    let spec = ClusterFile::load(&cluster.dir().join("cluster.toml")).expect("cluster file");
    let metrics: Vec<HostPort> = spec
        .metrics
        .iter()
        .map(|address| address.clone().expect("init writes a metrics address"))
        .collect();
    for replica in 0..3 {
        cluster.start(replica);
    }
    cluster.start_with_flags(3, &["--log-format", "json"]);

    // Ready: normal in the current view, and told so by f peers.
    eventually("every replica ready", || {
        cluster.assert_running();
        for address in &metrics {
            let answer = get(address, "/ready")?;
            if answer.status != 200 {
                return Err(format!("{address}: {} {}", answer.status, answer.body));
            }
        }
        Ok(())
    });
    cluster.client_ok(0, &["kv", "put", "colour", "blue"]);
    // The client is answered by a quorum; every replica orders the put, some a moment later.
    eventually("every replica ordered the put", || {
        for (replica, address) in metrics.iter().enumerate() {
            let answer = get(address, "/metrics")?;
            let series = format!("rampart_requests_ordered_total{{replica=\"{replica}\"}}");
            if sample(&answer.body, &series) < Some(1.0) {
                return Err(format!("replica {replica}: nothing ordered yet"));
            }
            for peer in (0..4).filter(|peer| *peer != replica) {
                let series = format!(
                    "rampart_peer_sent_bytes_total{{replica=\"{replica}\",peer=\"{peer}\"}}"
                );
                if sample(&answer.body, &series) <= Some(0.0) {
                    return Err(format!("replica {replica}: nothing sent to {peer} yet"));
                }
            }
        }
        Ok(())
    });

    // Every replica's metrics pass Prometheus' own linter, with the protocol's numbers in.
    for (replica, address) in metrics.iter().enumerate() {
        let answer = get(address, "/metrics").expect("metrics");
        assert_eq!(answer.status, 200);
        promtool_check(&answer.body)
            .unwrap_or_else(|complaints| panic!("replica {replica}: {complaints}"));
        let label = format!("{{replica=\"{replica}\"}}");
        for series in [
            "rampart_view",
            "rampart_last_executed_seq",
            "rampart_committed_seq",
            "rampart_stable_checkpoint_seq",
            "rampart_signatures_verified_total",
            "rampart_storage_bytes",
            "rampart_view_changes_completed_total",
            "rampart_client_connections",
            "rampart_state_transfers_started_total",
            "rampart_batch_requests_count",
            "rampart_storage_write_seconds_count",
        ] {
            let value = sample(&answer.body, &format!("{series}{label}"));
            assert!(value.is_some(), "replica {replica}: no {series}");
        }
        let state = format!("rampart_state{{replica=\"{replica}\",state=\"normal\"}}");
        assert_eq!(sample(&answer.body, &state), Some(1.0), "replica {replica}");
        let ordered = sample(
            &answer.body,
            &format!("rampart_requests_ordered_total{label}"),
        );
        assert!(ordered >= Some(1.0), "replica {replica}: {ordered:?}");
        for peer in (0..4).filter(|peer| *peer != replica) {
            let series =
                format!("rampart_peer_sent_bytes_total{{replica=\"{replica}\",peer=\"{peer}\"}}");
            assert!(sample(&answer.body, &series) > Some(0.0), "{series}");
        }
    }

    // A real Prometheus scrapes every replica.
    let prometheus_dir = tempfile::tempdir().expect("temporary directory");
    let targets: Vec<String> = metrics.iter().map(ToString::to_string).collect();
    let (_prometheus, prometheus) = start_prometheus(prometheus_dir.path(), &targets);
    eventually("Prometheus scrapes every replica", || {
        match targets_up(&prometheus)? {
            (4, 4) => Ok(()),
            other => Err(format!(
                "(targets, up) = {other:?}; log: {}",
                fs::read_to_string(prometheus_dir.path().join("prometheus.log"))
                    .unwrap_or_default()
            )),
        }
    });

    // The primary of view 0 stops; the next request makes the others change views.
    cluster.stop(0);
    cluster.client_ok(0, &["kv", "put", "colour", "green"]);
    let status = run(rampart()
        .args(["status", "--config"])
        .arg(cluster.client_config(0)));
    assert_eq!(status.status.code(), Some(0), "{}", describe(&status));
    let table = String::from_utf8_lossy(&status.stdout).into_owned();
    println!("{table}");
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("REPLICA  ADDRESS"), "{table}");
    assert!(
        rows[1].contains(" no ") && rows[1].contains(" down "),
        "{table}"
    );
    for row in &rows[2..5] {
        assert!(row.contains(" yes "), "{table}");
    }
    assert!(
        rows[2].trim_end().ends_with("yes"),
        "replica 1 leads view 1: {table}"
    );
    assert!(
        table.contains("view 1, primary replica 1; 3 of 4 replicas reachable"),
        "{table}"
    );
    let json = run(rampart()
        .args(["status", "--json", "--config"])
        .arg(cluster.dir().join("replica-2.toml")));
    assert_eq!(json.status.code(), Some(0), "{}", describe(&json));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        (json["reachable"].as_u64(), json["primary"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(json["replicas"][0]["reachable"], false);
    assert_eq!(json["replicas"][2]["status"]["state"], "normal");

    let health = |address: &HostPort, path: &str| {
        run(rampart()
            .args(["health", "--url"])
            .arg(format!("http://{address}{path}")))
    };
    assert_eq!(health(&metrics[1], "/health").status.code(), Some(0));
    assert_eq!(health(&metrics[1], "/ready").status.code(), Some(0));
    assert_one_line_error(&health(&metrics[0], "/health"), 1, &["cannot connect"]);
    assert_one_line_error(&health(&metrics[1], "/nothing"), 1, &["HTTP 404"]);

    // The others said that replica 0 is out of reach, and why they changed views.
    eventually("the log says what happened", || {
        for replica in 1..3 {
            let log = cluster.log(replica);
            for needle in [
                "cannot reach replica r0",
                "view change started",
                "view change completed: entering view v1",
            ] {
                if !log.contains(needle) {
                    return Err(format!("replica {replica}: no {needle:?} in {log}"));
                }
            }
        }
        Ok(())
    });
    let json_log = cluster.log(3);
    let events: Vec<serde_json::Value> = json_log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(events.iter().all(|event| event["timestamp"].is_string()
        && event["level"].is_string()
        && event["message"].is_string()));
    assert!(
        events.iter().any(|event| event["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("view change completed"))
            && event["cause"].is_string()),
        "{json_log}"
    );

    // With every replica down, `rampart status` says so and fails.
    cluster.stop_all();
    let output = run(rampart()
        .args(["status", "--config"])
        .arg(cluster.client_config(0)));
    assert_one_line_error(&output, 1, &["no replica answered"]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("no replica of 4 reachable"), "{table}");
}
