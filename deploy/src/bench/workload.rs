//! Closed loops: each sends one operation through its client, waits for the result, and
//! sends the next, for a warm-up and then a measured period. A client runs as many loops as
//! it keeps operations outstanding.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rampart_client::{Client, ClientError};
use rampart_replica::core::Rng;

/// What each loop does.
#[derive(Clone, Copy, Debug)]
pub struct WorkloadSettings {
    pub payload_bytes: usize,
    /// The share of operations sent read-only (PBFT §5.1.3), in per mille.
    pub read_only_per_mille: u64,
}

/// Shared between the loops and the progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    /// Set once the warm-up is over: operations completed from then on are measured.
    pub measuring: AtomicBool,
    pub stop: AtomicBool,
}

/// What one loop measured.
#[derive(Debug)]
pub struct LoopResult {
    /// Latencies of operations that started and completed in the measured period, in
    /// microseconds, as they came: one push per operation while the run is measured.
    /// They are counted into a histogram after the run ([`super::Latency::record`]): a
    /// bench runs hundreds of loops, and a histogram for each (tens of KiB of counters,
    /// touched at random) cost the measured period more CPU than the list does.
    pub latencies_us: Vec<u32>,
    pub errors: Vec<String>,
}

/// Runs one closed loop on `client` until told to stop, recording the latencies of the
/// measured period.
pub async fn run_loop(
    client: Arc<Client>,
    settings: WorkloadSettings,
    progress: Arc<Progress>,
    seed: u64,
) -> LoopResult {
    let mut rng = Rng::new(seed);
    let mut payload = vec![0u8; settings.payload_bytes];
    for byte in &mut payload {
        *byte = rng.next_u64() as u8;
    }
    let payload = Bytes::from(payload);
    let mut result = LoopResult {
        latencies_us: Vec::new(),
        errors: Vec::new(),
    };
    while !progress.stop.load(Ordering::Relaxed) {
        let measured = progress.measuring.load(Ordering::Relaxed);
        let read_only = rng.chance(settings.read_only_per_mille, 1000);
        let started = Instant::now();
        let outcome: Result<Bytes, ClientError> = if read_only {
            client.query(payload.clone()).await
        } else {
            client.submit(payload.clone()).await
        };
        let elapsed = started.elapsed();
        match outcome {
            Ok(_) => {
                progress.completed.fetch_add(1, Ordering::Relaxed);
                if measured && !progress.stop.load(Ordering::Relaxed) {
                    let microseconds = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
                    result.latencies_us.push(microseconds);
                }
            }
            Err(error) => {
                progress.failed.fetch_add(1, Ordering::Relaxed);
                if result.errors.len() < 4 {
                    result.errors.push(error.to_string());
                }
                // Do not spin on a failing cluster.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    result
}
