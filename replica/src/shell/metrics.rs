//! The metrics the shell records as things happen: histograms of latencies and batch
//! sizes, counters of ordered requests, and the store's writes. The operations layer
//! (`ops`) exports them, with what it reads at each scrape.

use std::fmt;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::WriteObserver;

/// The protocol steps of one sequence number, as this replica sees them: it accepts (or,
/// as primary, sends) the PRE-PREPARE, holds a prepared certificate, then a commit
/// certificate, then executes the batch (PBFT §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    PrePreparedToPrepared,
    PreparedToCommitted,
    CommittedToExecuted,
    /// The whole way, tentative executions included.
    PrePreparedToExecuted,
}

impl Phase {
    fn label(self) -> [(&'static str, &'static str); 1] {
        [(
            "phase",
            match self {
                Phase::PrePreparedToPrepared => "pre_prepared_to_prepared",
                Phase::PreparedToCommitted => "prepared_to_committed",
                Phase::CommittedToExecuted => "committed_to_executed",
                Phase::PrePreparedToExecuted => "pre_prepared_to_executed",
            },
        )]
    }
}

type PhaseFamily = Family<[(&'static str, &'static str); 1], Histogram, fn() -> Histogram>;

/// Latencies from 100 µs to about 100 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 4.0, 11))
}

/// What the shell records.
pub(crate) struct ShellMetrics {
    pub(crate) requests_ordered: Counter,
    pub(crate) batches_ordered: Counter,
    pub(crate) batch_requests: Histogram,
    phase_seconds: PhaseFamily,
    storage_write_seconds: Histogram,
    storage_written_bytes: Counter,
}

impl fmt::Debug for ShellMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShellMetrics")
            .field("batches_ordered", &self.batches_ordered.get())
            .finish_non_exhaustive()
    }
}

impl Default for ShellMetrics {
    fn default() -> ShellMetrics {
        ShellMetrics {
            requests_ordered: Counter::default(),
            batches_ordered: Counter::default(),
            // Batches of 1 to 4096 requests.
            batch_requests: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            phase_seconds: Family::new_with_constructor(latency_histogram),
            storage_write_seconds: latency_histogram(),
            storage_written_bytes: Counter::default(),
        }
    }
}

impl ShellMetrics {
    pub(crate) fn phase(&self, phase: Phase, elapsed: Duration) {
        self.phase_seconds
            .get_or_create(&phase.label())
            .observe(elapsed.as_secs_f64());
    }

    /// Registers the metrics in `registry`. The phase histograms are created here, so that
    /// each is exported (empty) before its first observation.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests_ordered",
            "Requests in batches this replica saw committed (PBFT 4.2), each counted once",
            self.requests_ordered.clone(),
        );
        registry.register(
            "batches_ordered",
            "Batches this replica saw committed, null batches of a new view included",
            self.batches_ordered.clone(),
        );
        registry.register(
            "batch_requests",
            "Requests per committed batch",
            self.batch_requests.clone(),
        );
        for phase in [
            Phase::PrePreparedToPrepared,
            Phase::PreparedToCommitted,
            Phase::CommittedToExecuted,
            Phase::PrePreparedToExecuted,
        ] {
            drop(self.phase_seconds.get_or_create(&phase.label()));
        }
        registry.register(
            "phase_seconds",
            "Time between protocol steps of one sequence number at this replica: \
             PRE-PREPARE accepted or sent to prepared, prepared to committed, committed to \
             executed (tentative executions, which come before the commit, are not counted \
             there), and PRE-PREPARE to executed",
            self.phase_seconds.clone(),
        );
        registry.register(
            "storage_write_seconds",
            "Time the disk (RocksDB) took to write one batch of records, synced when sync is on",
            self.storage_write_seconds.clone(),
        );
        registry.register(
            "storage_written_bytes",
            "Bytes of the write batches the store wrote",
            self.storage_written_bytes.clone(),
        );
    }
}

impl WriteObserver for ShellMetrics {
    fn written(&self, bytes: usize, elapsed: Duration) {
        self.storage_write_seconds.observe(elapsed.as_secs_f64());
        self.storage_written_bytes.inc_by(bytes as u64);
    }
}
