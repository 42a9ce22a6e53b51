//! The benchmark's results: throughput, latency percentiles, the crypto-bound ceiling,
//! printed as a table and, with `--json`, as one JSON object on the last line.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::{CreationError, Histogram};
use serde::Serialize;

use super::calibration::{Calibration, Ceiling};

use super::CpuUse;

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The decimal digits a latency histogram keeps: each latency is counted within 0.1% of
/// its value, and the histogram's size depends on the range of latencies, not on how many
/// operations a run completes.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

impl Latency {
    /// An empty histogram for latencies in microseconds.
    pub fn histogram() -> Result<Histogram<u64>, CreationError> {
        Histogram::new(LATENCY_SIGNIFICANT_DIGITS)
    }

    /// Counts one operation's latency in `histogram` (one of [`Latency::histogram`]'s).
    /// The histogram grows to hold it, up to 2^62 µs; a latency beyond, which no run
    /// lasts, is counted as the largest it holds.
    pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
        let microseconds = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if histogram.record(microseconds).is_err() {
            histogram.saturating_record(microseconds);
        }
    }

    /// The percentiles of latencies recorded in microseconds. Each is the highest latency
    /// the histogram does not tell apart from the one at that rank: it errs, if at all,
    /// upwards and by less than 0.1%.
    pub fn of(latencies_us: &Histogram<u64>) -> Latency {
        if latencies_us.is_empty() {
            return Latency::default();
        }
        let milliseconds = |microseconds: u64| microseconds as f64 / 1000.0;
        let at = |quantile: f64| milliseconds(latencies_us.value_at_quantile(quantile));
        Latency {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: milliseconds(latencies_us.max()),
        }
    }
}

/// The replicas' batch verifications in the measured period: how many, and the signatures
/// and distinct signers they held, summed over the batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyBatches {
    pub batches: u64,
    pub signatures: u64,
    pub signers: u64,
}

impl VerifyBatches {
    /// The counts from `earlier` until `self`.
    pub fn since(&self, earlier: &VerifyBatches) -> VerifyBatches {
        VerifyBatches {
            batches: self.batches.saturating_sub(earlier.batches),
            signatures: self.signatures.saturating_sub(earlier.signatures),
            signers: self.signers.saturating_sub(earlier.signers),
        }
    }

    /// Signatures and distinct signers per batch, on average.
    pub fn per_batch(&self) -> (f64, f64) {
        let batches = self.batches.max(1) as f64;
        (
            self.signatures as f64 / batches,
            self.signers as f64 / batches,
        )
    }
}

/// Everything a run reports.
#[derive(Clone, Debug)]
pub struct Report {
    pub replicas: usize,
    pub clients: usize,
    /// Operations each client keeps in flight.
    pub outstanding: usize,
    pub payload_bytes: usize,
    pub read_only_share: f64,
    pub batch_size_max: usize,
    pub batch_delay_ticks: u64,
    pub sync: bool,
    pub measured_s: f64,
    pub operations: u64,
    pub failures: u64,
    pub throughput_ops_per_s: f64,
    pub latency_ms: Latency,
    /// The mean of the calibrations before and after the run.
    pub calibration: Calibration,
    pub ceiling: Ceiling,
    /// The ceiling by the calibration before the run alone, and after it alone: how far the
    /// host's speed drifted during the run.
    pub ceiling_before_and_after: [f64; 2],
    /// Ordered operations per sequence number in the measured period.
    pub average_batch: usize,
    pub view_changes: u64,
    /// The CPU the measured period used, where `/proc` tells.
    pub cpu: Option<CpuUse>,
    /// The replicas' batch verifications in the measured period. The ceiling prices every
    /// signature at V, measured on distinct signers; batches whose signatures share
    /// signers cost less (`rampart_crypto`'s `batch.rs`).
    pub verified: VerifyBatches,
}

impl Report {
    pub fn fraction_of_ceiling(&self) -> f64 {
        self.ceiling.fraction_of_ceiling(self.throughput_ops_per_s)
    }

    /// The ceiling's CPU per operation over the CPU the run spent per operation (`cpu`): how
    /// much of the work was the cryptography the ceiling counts.
    fn ceiling_share_of(&self, cpu: &CpuUse) -> f64 {
        self.ceiling.cpu_ns_per_op / cpu.ns_per_op
    }

    /// A human-readable summary.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "rampart bench: {} replicas, {} clients with {} outstanding each, {}-byte operations, {:.0}% read-only, batches up to {}, sync {}",
            self.replicas,
            self.clients,
            self.outstanding,
            self.payload_bytes,
            self.read_only_share * 100.0,
            self.batch_size_max,
            if self.sync { "on" } else { "off" }
        );
        let _ = writeln!(
            out,
            "  throughput      {:>12.0} ops/s   ({} operations in {:.1} s, {} failed)",
            self.throughput_ops_per_s, self.operations, self.measured_s, self.failures
        );
        let l = self.latency_ms;
        let _ = writeln!(
            out,
            "  latency         p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            l.p50, l.p90, l.p99, l.max
        );
        let _ = writeln!(
            out,
            "  batches         {:>12} requests on average",
            self.average_batch
        );
        let c = &self.calibration;
        let _ = writeln!(
            out,
            "  ed25519         sign {:.1} µs   verify {:.1} µs   batch verify {:.1} µs/signature",
            c.sign_ns / 1000.0,
            c.verify_ns / 1000.0,
            c.batch_verify_ns_per_signature / 1000.0
        );
        let (signatures, signers) = self.verified.per_batch();
        let _ = writeln!(
            out,
            "  verification    {:>12.1} signatures per batch verification, by {:.1} distinct signers ({} batches)",
            signatures, signers, self.verified.batches
        );
        let [before, after] = self.ceiling_before_and_after;
        let _ = writeln!(
            out,
            "  crypto ceiling  {:>12.0} ops/s   ({:.1} µs of CPU per operation; {before:.0} calibrated before the run, {after:.0} after)",
            self.ceiling.ops_per_s,
            self.ceiling.cpu_ns_per_op / 1000.0
        );
        let _ = writeln!(
            out,
            "  fraction        {:>12.1}% of the ceiling",
            self.fraction_of_ceiling() * 100.0
        );
        if let Some(cpu) = &self.cpu {
            let _ = writeln!(
                out,
                "  cpu             {:>12.1} µs per operation ({:.0}% of it the ceiling's cryptography), {:.2} cores busy, host steal {:.1}%",
                cpu.ns_per_op / 1000.0,
                self.ceiling_share_of(cpu) * 100.0,
                cpu.cores_busy,
                cpu.steal_share * 100.0
            );
        }
        if self.view_changes > 0 {
            let _ = writeln!(out, "  view changes    {}", self.view_changes);
        }
        out
    }

    /// One JSON object on one line. Figures keep the decimals the table shows; a figure
    /// that is not a number (a ratio over a period too short to measure) is `null`.
    pub fn json(&self) -> Result<String, serde_json::Error> {
        let l = self.latency_ms;
        let c = &self.calibration;
        let (signatures_per_batch, signers_per_batch) = self.verified.per_batch();
        let line = JsonLine {
            replicas: self.replicas,
            clients: self.clients,
            outstanding: self.outstanding,
            payload_bytes: self.payload_bytes,
            read_only_share: self.read_only_share,
            batch_size_max: self.batch_size_max,
            batch_delay_ticks: self.batch_delay_ticks,
            sync: self.sync,
            measured_s: rounded(self.measured_s, 3),
            operations: self.operations,
            failures: self.failures,
            throughput_ops_per_s: rounded(self.throughput_ops_per_s, 1),
            ceiling_ops_per_s: rounded(self.ceiling.ops_per_s, 1),
            ceiling_before_and_after_ops_per_s: self
                .ceiling_before_and_after
                .map(|ceiling| rounded(ceiling, 1)),
            fraction_of_ceiling: rounded(self.fraction_of_ceiling(), 4),
            latency_ms: JsonLatency {
                p50: rounded(l.p50, 3),
                p90: rounded(l.p90, 3),
                p99: rounded(l.p99, 3),
                max: rounded(l.max, 3),
            },
            calibration_ns: JsonCalibration {
                sign: rounded(c.sign_ns, 0),
                verify: rounded(c.verify_ns, 0),
                batch_verify_per_signature: rounded(c.batch_verify_ns_per_signature, 0),
                sha256_per_kib: rounded(c.sha256_ns_per_kib, 0),
            },
            average_batch: self.average_batch,
            view_changes: self.view_changes,
            cpu: self.cpu.map(|cpu| JsonCpu {
                us_per_op: rounded(cpu.ns_per_op / 1000.0, 2),
                ceiling_share: rounded(self.ceiling_share_of(&cpu), 4),
                cores_busy: rounded(cpu.cores_busy, 3),
                steal_share: rounded(cpu.steal_share, 4),
            }),
            verify_batch: JsonVerifyBatch {
                batches: self.verified.batches,
                signatures_per_batch: rounded(signatures_per_batch, 2),
                signers_per_batch: rounded(signers_per_batch, 2),
            },
        };
        serde_json::to_string(&line)
    }
}

/// `value` with `decimals` decimals, as the table prints it.
fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The `--json` line, field by field in the order it is printed.
#[derive(Serialize)]
struct JsonLine {
    replicas: usize,
    clients: usize,
    outstanding: usize,
    payload_bytes: usize,
    read_only_share: f64,
    batch_size_max: usize,
    batch_delay_ticks: u64,
    sync: bool,
    measured_s: f64,
    operations: u64,
    failures: u64,
    throughput_ops_per_s: f64,
    ceiling_ops_per_s: f64,
    ceiling_before_and_after_ops_per_s: [f64; 2],
    fraction_of_ceiling: f64,
    latency_ms: JsonLatency,
    calibration_ns: JsonCalibration,
    average_batch: usize,
    view_changes: u64,
    cpu: Option<JsonCpu>,
    verify_batch: JsonVerifyBatch,
}

#[derive(Serialize)]
struct JsonLatency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

#[derive(Serialize)]
struct JsonCalibration {
    sign: f64,
    verify: f64,
    batch_verify_per_signature: f64,
    sha256_per_kib: f64,
}

#[derive(Serialize)]
struct JsonCpu {
    us_per_op: f64,
    ceiling_share: f64,
    cores_busy: f64,
    steal_share: f64,
}

#[derive(Serialize)]
struct JsonVerifyBatch {
    batches: u64,
    signatures_per_batch: f64,
    signers_per_batch: f64,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::calibration::CeilingInputs;
    use super::*;

    fn latencies(recorded: &[(u64, u64)]) -> Latency {
        let mut histogram = Latency::histogram().expect("a histogram");
        for &(microseconds, count) in recorded {
            histogram
                .record_n(microseconds, count)
                .expect("within range");
        }
        Latency::of(&histogram)
    }

    fn assert_close(got: f64, expected: f64) {
        assert!(
            expected <= got && got <= expected * 1.001,
            "{got} is not within 0.1% above {expected}"
        );
    }

    #[test]
    fn percentiles_come_from_the_histogram_within_its_precision() {
        // 0.1 to 100 ms in steps of 0.1 ms, one operation each: the p-th percentile is p ms.
        let uniform: Vec<(u64, u64)> = (1..=1000).rev().map(|step| (step * 100, 1)).collect();
        let latency = latencies(&uniform);
        assert_close(latency.p50, 50.0);
        assert_close(latency.p90, 90.0);
        assert_close(latency.p99, 99.0);
        assert_close(latency.max, 100.0);
        // Below 2.048 ms every microsecond is counted apart: the figures are exact.
        let fast: Vec<(u64, u64)> = (1001..=2000).map(|us| (us, 1)).collect();
        assert_eq!(
            latencies(&fast),
            Latency {
                p50: 1.5,
                p90: 1.9,
                p99: 1.99,
                max: 2.0,
            }
        );
        // A tail of 1% slow operations shows in p99 and max only; one more slow operation
        // moves p99 onto it.
        let latency = latencies(&[(1200, 990), (250_000, 10)]);
        assert_eq!((latency.p50, latency.p90, latency.p99), (1.2, 1.2, 1.2));
        assert_close(latency.max, 250.0);
        assert_close(latencies(&[(1200, 989), (250_000, 11)]).p99, 250.0);
        assert_eq!(latencies(&[]), Latency::default());
    }

    /// The run's latencies are counted into one empty histogram, which must grow to hold
    /// them rather than clamp them to the few microseconds an empty one spans.
    #[test]
    fn an_empty_histogram_grows_to_hold_any_latency() {
        let mut histogram = Latency::histogram().expect("a histogram");
        for latency_ms in [2, 40, 250, 60_000] {
            Latency::record(&mut histogram, Duration::from_millis(latency_ms));
        }
        Latency::record(&mut histogram, Duration::MAX);
        let latency = Latency::of(&histogram);
        assert_close(latency.p50, 250.0);
        assert_close(latency.p90, latency.max);
        assert!(latency.max > 1e12, "the largest latency held: {latency:?}");
        let mut histogram = Latency::histogram().expect("a histogram");
        Latency::record(&mut histogram, Duration::from_micros(1500));
        assert_eq!(Latency::of(&histogram).max, 1.5);
    }

    fn sample() -> Report {
        let calibration = Calibration {
            sign_ns: 20_000.0,
            verify_ns: 40_000.0,
            batch_verify_ns_per_signature: 25_000.0,
            sha256_ns_per_kib: 3_000.0,
        };
        let ceiling =
            Ceiling::compute(calibration, CeilingInputs::new(4, 10, 128)).expect("valid inputs");
        Report {
            replicas: 4,
            clients: 2,
            outstanding: 3,
            payload_bytes: 64,
            read_only_share: 0.25,
            batch_size_max: 256,
            batch_delay_ticks: 0,
            sync: false,
            measured_s: 1.00049,
            operations: 1200,
            failures: 1,
            throughput_ops_per_s: 1199.42,
            latency_ms: Latency {
                p50: 1.2344,
                p90: 2.5,
                p99: 3.75,
                max: 4.0,
            },
            calibration,
            ceiling,
            ceiling_before_and_after: [3000.04, 3100.06],
            average_batch: 7,
            view_changes: 0,
            cpu: Some(CpuUse {
                cores_busy: 1.5,
                ns_per_op: 250_000.0,
                steal_share: 0.01,
            }),
            verified: VerifyBatches {
                batches: 10,
                signatures: 45,
                signers: 30,
            },
        }
    }

    fn object_keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn the_json_line_is_one_object_with_every_field() {
        let report = sample();
        let line = report.json().expect("serializes");
        assert!(!line.contains('\n'), "{line}");
        let value: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(
            object_keys(&value),
            [
                "average_batch",
                "batch_delay_ticks",
                "batch_size_max",
                "calibration_ns",
                "ceiling_before_and_after_ops_per_s",
                "ceiling_ops_per_s",
                "clients",
                "cpu",
                "failures",
                "fraction_of_ceiling",
                "latency_ms",
                "measured_s",
                "operations",
                "outstanding",
                "payload_bytes",
                "read_only_share",
                "replicas",
                "sync",
                "throughput_ops_per_s",
                "verify_batch",
                "view_changes",
            ]
        );
        assert_eq!(
            object_keys(&value["latency_ms"]),
            ["max", "p50", "p90", "p99"]
        );
        assert_eq!(
            object_keys(&value["calibration_ns"]),
            [
                "batch_verify_per_signature",
                "sha256_per_kib",
                "sign",
                "verify"
            ]
        );
        assert_eq!(
            object_keys(&value["cpu"]),
            ["ceiling_share", "cores_busy", "steal_share", "us_per_op"]
        );
        assert_eq!(
            object_keys(&value["verify_batch"]),
            ["batches", "signatures_per_batch", "signers_per_batch"]
        );
        // Figures keep the decimals the table shows.
        assert_eq!(value["measured_s"], json!(1.0));
        assert_eq!(value["throughput_ops_per_s"], json!(1199.4));
        assert_eq!(value["latency_ms"]["p50"], json!(1.234));
        assert_eq!(
            value["ceiling_before_and_after_ops_per_s"],
            json!([3000.0, 3100.1])
        );
        assert_eq!(value["read_only_share"], json!(0.25));
        assert_eq!(value["sync"], json!(false));
        assert_eq!(value["operations"], json!(1200));
        assert_eq!(value["cpu"]["us_per_op"], json!(250.0));
        assert_eq!(value["verify_batch"]["signatures_per_batch"], json!(4.5));
        assert_eq!(
            value["fraction_of_ceiling"].as_f64(),
            Some((report.fraction_of_ceiling() * 1e4).round() / 1e4)
        );
        let mut without_cpu = sample();
        without_cpu.cpu = None;
        let value: Value =
            serde_json::from_str(&without_cpu.json().expect("serializes")).expect("valid JSON");
        assert_eq!(value["cpu"], Value::Null);
    }

    /// A measured period shorter than the kernel's CPU clock counts no CPU time: the
    /// ceiling's share of it is infinite, which JSON has no number for.
    #[test]
    fn a_run_too_short_for_the_cpu_clock_still_prints_valid_json() {
        let mut report = sample();
        report.cpu = Some(CpuUse {
            cores_busy: 0.0,
            ns_per_op: 0.0,
            steal_share: 0.0,
        });
        report.throughput_ops_per_s = f64::NAN;
        let line = report.json().expect("serializes");
        let value: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["cpu"]["ceiling_share"], Value::Null, "{line}");
        assert_eq!(value["throughput_ops_per_s"], Value::Null, "{line}");
        assert_eq!(value["cpu"]["us_per_op"], json!(0.0), "{line}");
    }
}
