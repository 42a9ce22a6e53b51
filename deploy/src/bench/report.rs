//! The benchmark's results: throughput, latency percentiles, the crypto-bound ceiling,
//! printed as a table and, with `--json`, as one JSON object on the last line.

use std::fmt::Write;

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

impl Latency {
    /// Percentiles of latencies given in microseconds (sorted here).
    pub fn of(mut latencies_us: Vec<u32>) -> Latency {
        if latencies_us.is_empty() {
            return Latency::default();
        }
        latencies_us.sort_unstable();
        let at = |quantile: f64| {
            let index = ((latencies_us.len() as f64 - 1.0) * quantile).round() as usize;
            f64::from(latencies_us[index]) / 1000.0
        };
        Latency {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
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

    /// One JSON object on one line.
    pub fn json(&self) -> String {
        let l = self.latency_ms;
        let c = &self.calibration;
        let (signatures_per_batch, signers_per_batch) = self.verified.per_batch();
        format!(
            concat!(
                "{{\"replicas\":{},\"clients\":{},\"outstanding\":{},\"payload_bytes\":{},",
                "\"read_only_share\":{},",
                "\"batch_size_max\":{},\"batch_delay_ticks\":{},\"sync\":{},\"measured_s\":{:.3},",
                "\"operations\":{},\"failures\":{},\"throughput_ops_per_s\":{:.1},",
                "\"ceiling_ops_per_s\":{:.1},\"ceiling_before_and_after_ops_per_s\":[{:.1},{:.1}],",
                "\"fraction_of_ceiling\":{:.4},",
                "\"latency_ms\":{{\"p50\":{:.3},\"p90\":{:.3},\"p99\":{:.3},\"max\":{:.3}}},",
                "\"calibration_ns\":{{\"sign\":{:.0},\"verify\":{:.0},\"batch_verify_per_signature\":{:.0},\"sha256_per_kib\":{:.0}}},",
                "\"average_batch\":{},\"view_changes\":{},\"cpu\":{},",
                "\"verify_batch\":{{\"batches\":{},\"signatures_per_batch\":{:.2},\"signers_per_batch\":{:.2}}}}}"
            ),
            self.replicas,
            self.clients,
            self.outstanding,
            self.payload_bytes,
            self.read_only_share,
            self.batch_size_max,
            self.batch_delay_ticks,
            self.sync,
            self.measured_s,
            self.operations,
            self.failures,
            self.throughput_ops_per_s,
            self.ceiling.ops_per_s,
            self.ceiling_before_and_after[0],
            self.ceiling_before_and_after[1],
            self.fraction_of_ceiling(),
            l.p50,
            l.p90,
            l.p99,
            l.max,
            c.sign_ns,
            c.verify_ns,
            c.batch_verify_ns_per_signature,
            c.sha256_ns_per_kib,
            self.average_batch,
            self.view_changes,
            self.cpu_json(),
            self.verified.batches,
            signatures_per_batch,
            signers_per_batch
        )
    }

    fn cpu_json(&self) -> String {
        match &self.cpu {
            Some(cpu) => format!(
                "{{\"us_per_op\":{:.2},\"ceiling_share\":{:.4},\"cores_busy\":{:.3},\"steal_share\":{:.4}}}",
                cpu.ns_per_op / 1000.0,
                self.ceiling_share_of(cpu),
                cpu.cores_busy,
                cpu.steal_share
            ),
            None => "null".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let latency = Latency::of((1..=100).rev().map(|ms| ms * 1000).collect());
        assert_eq!(latency.p50, 51.0);
        assert_eq!(latency.p90, 90.0);
        assert_eq!(latency.p99, 99.0);
        assert_eq!(latency.max, 100.0);
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }
}
