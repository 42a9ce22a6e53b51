//! Closed loops: each sends one operation through its client, waits for the result, and
//! sends the next, for a warm-up and then a measured period. A client runs as many loops as
//! it keeps operations outstanding.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use rampart_client::{Client, ClientError};
use rampart_replica::core::Rng;

use super::Latency;

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
    /// microseconds.
    pub latencies_us: Histogram<u64>,
    pub errors: Vec<String>,
}

/// Runs one closed loop on `client` until told to stop, recording latencies into
/// `latencies_us` (given empty).
pub async fn run_loop(
    client: Arc<Client>,
    settings: WorkloadSettings,
    progress: Arc<Progress>,
    seed: u64,
    latencies_us: Histogram<u64>,
) -> LoopResult {
    let mut rng = Rng::new(seed);
    let mut payload = vec![0u8; settings.payload_bytes];
    for byte in &mut payload {
        *byte = rng.next_u64() as u8;
    }
    let payload = Bytes::from(payload);
    let mut result = LoopResult {
        latencies_us,
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
                    Latency::record(&mut result.latencies_us, elapsed);
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
