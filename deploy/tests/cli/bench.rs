//! `rampart bench` runs a real cluster briefly and reports every field the JSON line
//! promises; a setting the replicas cannot honour is refused before anything runs.

use crate::support::{describe, one_cluster_at_a_time, rampart, run, run_within};
use std::time::Duration;

/// Calibration, cluster start, warm-up, measurement and shutdown on a loaded machine.
const BENCH_BOUND: Duration = Duration::from_secs(120);

/// The number after `"key":` in a one-line JSON object.
fn number(json: &str, key: &str) -> f64 {
    let needle = format!("\"{key}\":");
    let start = json
        .find(&needle)
        .unwrap_or_else(|| panic!("{key} missing from {json}"))
        + needle.len();
    let end = json[start..]
        .find([',', '}'])
        .map_or(json.len(), |end| start + end);
    json[start..end]
        .parse()
        .unwrap_or_else(|error| panic!("{key} in {json}: {error}"))
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
    let json = stdout.lines().last().expect("a last line");
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    assert_eq!(number(json, "replicas"), 4.0);
    assert_eq!(number(json, "clients"), 2.0);
    assert_eq!(number(json, "outstanding"), 3.0);
    assert_eq!(number(json, "payload_bytes"), 64.0);
    assert_eq!(number(json, "failures"), 0.0);
    assert!(number(json, "operations") > 0.0, "{json}");
    let throughput = number(json, "throughput_ops_per_s");
    let ceiling = number(json, "ceiling_ops_per_s");
    assert!(throughput > 0.0 && ceiling > 0.0, "{json}");
    // The ceiling comes from the mean of the calibrations before and after the run, so
    // it lies between the ceilings each gives alone.
    let needle = "\"ceiling_before_and_after_ops_per_s\":[";
    let start = json.find(needle).expect("both ceilings") + needle.len();
    let end = start + json[start..].find(']').expect("a closing bracket");
    let ends: Vec<f64> = json[start..end]
        .split(',')
        .map(|value| value.parse().expect("a number"))
        .collect();
    let (low, high) = (ends[0].min(ends[1]), ends[0].max(ends[1]));
    assert!(low - 0.1 <= ceiling && ceiling <= high + 0.1, "{json}");
    let fraction = number(json, "fraction_of_ceiling");
    assert!((fraction - throughput / ceiling).abs() < 1e-3, "{json}");
    let (p50, p90, p99, max) = (
        number(json, "p50"),
        number(json, "p90"),
        number(json, "p99"),
        number(json, "max"),
    );
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{json}"
    );
    assert!(
        stdout.contains("2 clients with 3 outstanding each"),
        "{stdout}"
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
