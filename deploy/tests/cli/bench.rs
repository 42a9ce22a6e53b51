//! `rampart bench` runs a real cluster briefly and reports every field the JSON line
//! promises; a setting the replicas cannot honour is refused before anything runs.

use std::time::Duration;

use serde_json::Value;

use crate::support::{describe, one_cluster_at_a_time, rampart, run, run_within};

/// Calibration, cluster start, warm-up, measurement and shutdown on a loaded machine.
const BENCH_BOUND: Duration = Duration::from_secs(120);

/// The number under `path` (keys separated by dots) in the report.
fn number(report: &Value, path: &str) -> f64 {
    path.split('.')
        .try_fold(report, |value, key| value.get(key))
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {report}"))
}

#[test]
fn a_short_bench_with_several_operations_outstanding_per_client_reports_its_json() {
    let _cluster = one_cluster_at_a_time();
    let output = run_within(
        rampart().args([
            "bench",
            "--clients",
            "2",
            "--outstanding",
            "3",
            "--warmup",
            "0.3",
            "--duration",
            "1",
            "--json",
        ]),
        BENCH_BOUND,
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("2 clients with 3 outstanding each"),
        "{stdout}"
    );
    // Standard error is a pipe here, not a terminal: no progress bar is drawn on it.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("warm-up") && !stderr.contains("ops/s"),
        "{stderr}"
    );
    let line = stdout.lines().last().expect("a last line");
    let report: Value = serde_json::from_str(line).expect("the last line is one JSON object");

    for (path, expected) in [
        ("replicas", 4.0),
        ("clients", 2.0),
        ("outstanding", 3.0),
        ("payload_bytes", 64.0),
        ("read_only_share", 0.0),
        ("batch_size_max", 256.0),
        ("batch_delay_ticks", 0.0),
        ("failures", 0.0),
        ("view_changes", 0.0),
    ] {
        assert_eq!(number(&report, path), expected, "{path} in {report}");
    }
    assert_eq!(report["sync"], Value::Bool(false), "{report}");
    for path in [
        "measured_s",
        "operations",
        "throughput_ops_per_s",
        "ceiling_ops_per_s",
        "average_batch",
        "calibration_ns.sign",
        "calibration_ns.verify",
        "calibration_ns.batch_verify_per_signature",
        "calibration_ns.sha256_per_kib",
    ] {
        assert!(number(&report, path) > 0.0, "{path} in {report}");
    }
    let (throughput, ceiling) = (
        number(&report, "throughput_ops_per_s"),
        number(&report, "ceiling_ops_per_s"),
    );
    let fraction = number(&report, "fraction_of_ceiling");
    assert!((fraction - throughput / ceiling).abs() < 1e-3, "{report}");
    let latency: Vec<f64> = ["p50", "p90", "p99", "max"]
        .iter()
        .map(|percentile| number(&report, &format!("latency_ms.{percentile}")))
        .collect();
    // An ordered operation signs, verifies and crosses QUIC several times: no p50 is
    // below 0.1 ms.
    assert!(
        latency[0] >= 0.1 && latency.windows(2).all(|pair| pair[0] <= pair[1]),
        "{report}"
    );
    // The ceiling comes from the mean of the calibrations before and after the run, so
    // it lies between the ceilings each gives alone.
    let ends: Vec<f64> = report["ceiling_before_and_after_ops_per_s"]
        .as_array()
        .expect("both ceilings")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(ends.len(), 2, "{report}");
    let (low, high) = (ends[0].min(ends[1]), ends[0].max(ends[1]));
    assert!(low - 0.1 <= ceiling && ceiling <= high + 0.1, "{report}");

    // The CPU the run used, from /proc: the fraction is the ceiling's share of that CPU
    // time times the share of the cores kept busy (within the clock's 10 ms ticks).
    let cores_busy = number(&report, "cpu.cores_busy");
    let share = number(&report, "cpu.ceiling_share");
    assert!(number(&report, "cpu.us_per_op") > 0.0, "{report}");
    assert!(cores_busy > 0.0 && share > 0.0, "{report}");
    let steal = number(&report, "cpu.steal_share");
    assert!((0.0..1.0).contains(&steal), "{report}");
    // Every replica batch-verified the clients' requests and its peers' messages; a batch
    // has at least one signature and at most as many signers as signatures.
    assert!(number(&report, "verify_batch.batches") > 0.0, "{report}");
    let signatures = number(&report, "verify_batch.signatures_per_batch");
    let signers = number(&report, "verify_batch.signers_per_batch");
    assert!(
        signatures >= 1.0 && (1.0..=signatures).contains(&signers),
        "{report}"
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let expected = share * cores_busy / cores;
    assert!(
        (fraction - expected).abs() <= 0.05 * fraction.max(expected),
        "{report}"
    );
}

#[test]
fn more_operations_outstanding_than_the_client_window_are_refused() {
    let _cluster = one_cluster_at_a_time();
    let output = run(rampart().args(["bench", "--outstanding", "65", "--duration", "1"]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--outstanding 65 is above the replicas' client window of 64"),
        "{stderr}"
    );
}
