//! `rampart bench`: throughput and latency of a real cluster, measured against what this
//! machine's ed25519 can do at all.
//!
//! It starts n replicas in this process over QUIC on 127.0.0.1 (RocksDB in a temporary
//! directory) running the null application, times ed25519 and SHA-256 on this machine
//! ([`calibration`]) before and after the run (the ceiling uses the mean,
//! see [`Calibration::mean`], and the report shows both ends), drives the cluster with C
//! clients (each with its own key and connections, each running `--outstanding` closed
//! loops) for a warm-up and a measured period, and reports
//! throughput, latency percentiles, the crypto-bound ceiling for the run's settings (the
//! formula is documented in `calibration.rs`) and the fraction of it reached. Replicas and
//! clients all share this machine's cores, and the ceiling assumes so. It also reports the
//! process's CPU time per operation and the host's steal time ([`cpu`]): the fraction is
//! the share of that CPU time the ceiling's cryptography accounts for, times the share of
//! the cores kept busy, so the two tell a run that wasted CPU from one that waited.
//!
//! Each client keeps `--outstanding` operations in flight, each in its own closed loop
//! (PBFT clients may have several requests outstanding; the replicas' `client_window`
//! bounds how many). C clients with K outstanding each put as many requests in flight as
//! C·K clients with one each, and cost the replicas the same cryptography (every request
//! is signed by its client and verified by every replica), but their requests and replies
//! share C clients' connections: what the replicas send one client in one round travels
//! in one QUIC write. Comparing the two tells how much of a run's cost is per connection.

pub mod calibration;
mod cpu;
mod null;
mod report;
mod workload;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rampart_client::{Client, ClientConfig};
use rampart_crypto::KeyPair;
use rampart_replica::cluster::ClientAdmission;
use rampart_replica::node::InboundCounters;

use crate::failure::Failure;
use crate::local::{ClusterSpec, InProcessCluster};
use calibration::{Calibration, Ceiling, CeilingInputs, available_cores, signed_request_bytes};
use cpu::CpuSample;
pub use cpu::CpuUse;
pub use null::Null;
use rampart_replica::net::ConnectionLimits;
pub use report::{Latency, Report, VerifyBatches};
use workload::{Progress, WorkloadSettings, run_loop};

/// Measures a cluster's throughput and latency.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Replicas in the cluster: 3f + 1.
    #[arg(long, default_value_t = 4)]
    pub replicas: usize,
    /// Clients, each with its own key and connections.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Operations each client keeps in flight, each in its own closed loop; at most the
    /// replicas' client window, and better well below it: the window spans request numbers
    /// from the oldest unanswered one, so one slow request holds the others back.
    #[arg(long, default_value_t = 1)]
    pub outstanding: usize,
    /// Bytes of each operation (the null application ignores them).
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,
    /// Share of operations sent read-only, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub read_only_share: f64,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up, not measured.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Most requests in one batch.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Ticks (10 ms) the primary waits to fill a batch; 0 sends as soon as it can.
    #[arg(long, default_value_t = 0)]
    pub batch_delay: u64,
    /// Batches the primary keeps in flight at once (pipelining); fewer make larger batches.
    #[arg(long)]
    pub in_flight: Option<u64>,
    /// Sync every write batch to disk (group commit).
    #[arg(long)]
    pub sync: bool,
    /// Execute only committed batches: no tentative execution (PBFT §5.1.2).
    #[arg(long)]
    pub no_tentative: bool,
    /// Print one JSON object with the results as the last line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rampart bench`.
pub fn run(args: &BenchArgs) -> Result<(), Failure> {
    // Logs are off unless asked for: the report is what the bench prints.
    if std::env::var_os("RUST_LOG").is_some() {
        crate::logging::init()?;
    }
    if !(0.0..=1.0).contains(&args.read_only_share) {
        return Err(Failure::config("--read-only-share must be between 0 and 1"));
    }
    if args.clients == 0 || args.outstanding == 0 || args.duration <= 0.0 {
        return Err(Failure::config(
            "--clients, --outstanding and --duration must be positive",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::runtime(format_args!("cannot start the runtime: {error}")))?;
    let report = runtime.block_on(measure(args))?;
    print!("{}", report.table());
    if args.json {
        let line = report.json().map_err(|error| {
            Failure::runtime(format_args!("cannot write the report as JSON: {error}"))
        })?;
        println!("{line}");
    }
    Ok(())
}

/// Calibrates, starts the cluster, runs the workload, stops the cluster, calibrates again
/// and reports.
pub async fn measure(args: &BenchArgs) -> Result<Report, Failure> {
    eprintln!("calibrating ed25519 and SHA-256 on this machine ...");
    let calibrated_before = calibrate().await?;
    let (batch_size, batch_delay, in_flight) = (args.batch_size, args.batch_delay, args.in_flight);
    let tentative = !args.no_tentative;
    let mut spec = ClusterSpec::new(args.replicas, Box::new(|| Box::new(Null)));
    spec.sync = args.sync;
    spec.connection_limits = room_for_clients(args.clients);
    spec.protocol = Box::new(move |protocol| {
        protocol.batch_size_max = batch_size;
        protocol.batch_delay_ticks = batch_delay;
        protocol.tentative_execution = tentative;
        if let Some(in_flight) = in_flight {
            protocol.in_flight_max = in_flight;
        }
    });
    let keys = (0..args.clients)
        .map(|_| KeyPair::generate())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Failure::runtime(format_args!("cannot generate a key: {error}")))?;
    spec.clients = ClientAdmission::listed(keys.iter().map(KeyPair::public_key));
    let cluster = InProcessCluster::start(spec).await?;
    let clients = match connect_clients(&cluster, keys, args).await {
        Ok(clients) => clients,
        Err(failure) => {
            shut_down(cluster).await;
            return Err(failure);
        }
    };
    let progress = Arc::new(Progress::default());
    let mut latencies = Latency::histogram().map_err(|error| {
        Failure::runtime(format_args!("cannot make a latency histogram: {error}"))
    })?;
    let workload = WorkloadSettings {
        payload_bytes: args.payload_bytes,
        read_only_per_mille: (args.read_only_share * 1000.0).round() as u64,
    };
    let tasks: Vec<_> = (0..args.outstanding)
        .flat_map(|_| clients.iter())
        .enumerate()
        .map(|(index, client)| {
            tokio::spawn(run_loop(
                Arc::clone(client),
                workload,
                progress.clone(),
                index as u64 + 1,
            ))
        })
        .collect();

    let warmup = Duration::from_secs_f64(args.warmup);
    let measured = Duration::from_secs_f64(args.duration);
    let started = Instant::now();
    show_progress(&progress, started, warmup, "warm-up").await;
    let executed_before = executed_sequence_numbers(&cluster);
    let completed_before = progress.completed.load(Ordering::Relaxed);
    progress.measuring.store(true, Ordering::Relaxed);
    let verified_before = verify_batch_totals(&cluster);
    let cpu_before = CpuSample::now();
    let measure_started = Instant::now();
    show_progress(&progress, measure_started, measured, "measuring").await;
    let measured_s = measure_started.elapsed().as_secs_f64();
    let operations = progress.completed.load(Ordering::Relaxed) - completed_before;
    let cpu = cpu_before
        .zip(CpuSample::now())
        .map(|(before, after)| before.until(&after, measured_s, operations));
    let sequence_numbers = executed_sequence_numbers(&cluster) - executed_before;
    let verified = verify_batch_totals(&cluster).since(&verified_before);
    progress.stop.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for task in tasks {
        match task.await {
            Ok(result) => {
                for &microseconds in &result.latencies_us {
                    let latency = Duration::from_micros(u64::from(microseconds));
                    Latency::record(&mut latencies, latency);
                }
                errors.extend(result.errors);
            }
            Err(error) => errors.push(format!("a closed loop stopped: {error}")),
        }
    }
    for client in clients {
        if let Some(client) = Arc::into_inner(client) {
            client.close().await;
        }
    }
    if let Some(error) = errors.first() {
        eprintln!("some operations failed; the first error: {error}");
    }
    let view_changes = cluster
        .statuses()
        .iter()
        .map(|s| s.view.0)
        .max()
        .unwrap_or(0);
    let checkpoint_interval = cluster.protocol().checkpoint_interval;
    shut_down(cluster).await;
    eprintln!("calibrating again ...");
    let calibrated_after = calibrate().await?;
    let calibration = calibrated_before.mean(&calibrated_after);

    // The ceiling for the batches this run actually cut.
    let ordered = (operations as f64 * (1.0 - args.read_only_share)).max(1.0);
    let batch_size = (ordered / sequence_numbers.max(1) as f64).round().max(1.0) as usize;
    let inputs = CeilingInputs {
        replicas: args.replicas,
        batch_size,
        cores: available_cores(),
        clients_share_machine: true,
        read_only_share: args.read_only_share,
        checkpoint_interval,
        request_bytes: signed_request_bytes(args.payload_bytes),
    };
    let ceiling_of = |calibration| {
        Ceiling::compute(calibration, inputs)
            .map_err(|error| Failure::config(format_args!("cannot compute the ceiling: {error}")))
    };
    let ceiling = ceiling_of(calibration)?;
    let ceiling_before_and_after = [
        ceiling_of(calibrated_before)?.ops_per_s,
        ceiling_of(calibrated_after)?.ops_per_s,
    ];
    Ok(Report {
        replicas: args.replicas,
        clients: args.clients,
        outstanding: args.outstanding,
        payload_bytes: args.payload_bytes,
        read_only_share: args.read_only_share,
        batch_size_max: args.batch_size,
        batch_delay_ticks: args.batch_delay,
        sync: args.sync,
        measured_s,
        operations,
        failures: progress.failed.load(Ordering::Relaxed),
        throughput_ops_per_s: operations as f64 / measured_s,
        latency_ms: Latency::of(&latencies),
        calibration,
        ceiling,
        ceiling_before_and_after,
        average_batch: batch_size,
        view_changes,
        cpu,
        verified,
    })
}

/// One client per `--clients`, each allowed the replicas' whole client window. Refuses more
/// operations outstanding per client than that window.
async fn connect_clients(
    cluster: &InProcessCluster,
    keys: Vec<KeyPair>,
    args: &BenchArgs,
) -> Result<Vec<Arc<Client>>, Failure> {
    let window = cluster.protocol().client_window;
    if args.outstanding as u64 > window {
        return Err(Failure::config(format_args!(
            "--outstanding {} is above the replicas' client window of {window}",
            args.outstanding
        )));
    }
    let mut clients = Vec::with_capacity(keys.len());
    for key in keys {
        let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.addresses());
        config.request_timeout = Duration::from_secs(30);
        config.window = window;
        let client = Client::connect(config, key)
            .await
            .map_err(|error| Failure::runtime(format_args!("a client cannot connect: {error}")))?;
        clients.push(Arc::new(client));
    }
    Ok(clients)
}

/// Stops the cluster; a failure to stop cleanly is reported, not fatal to the report.
async fn shut_down(cluster: InProcessCluster) {
    if let Err(failure) = cluster.shutdown().await {
        eprintln!("{failure}");
    }
}

/// Times this machine's cryptography, off the async runtime.
async fn calibrate() -> Result<Calibration, Failure> {
    tokio::task::spawn_blocking(|| Calibration::measure(Duration::from_millis(300)))
        .await
        .map_err(|error| Failure::runtime(format_args!("calibration failed: {error}")))
}

/// The batch verifications of every replica's verifier threads so far.
fn verify_batch_totals(cluster: &InProcessCluster) -> VerifyBatches {
    let sum = |counter: fn(&InboundCounters) -> &AtomicU64| {
        cluster
            .nodes()
            .iter()
            .map(|node| counter(node.inbound_counters()).load(Ordering::Relaxed))
            .sum()
    };
    VerifyBatches {
        batches: sum(|c| &c.verify_batches),
        signatures: sum(|c| &c.verify_batch_signatures),
        signers: sum(|c| &c.verify_batch_signers),
    }
}

/// The highest sequence number any replica executed.
fn executed_sequence_numbers(cluster: &InProcessCluster) -> u64 {
    cluster
        .statuses()
        .iter()
        .map(|status| status.last_executed.0)
        .max()
        .unwrap_or(0)
}

/// Waits `period`, with a progress bar on standard error updated twice a second, drawn only
/// when standard error is a terminal ([`crate::progress`]).
async fn show_progress(progress: &Progress, started: Instant, period: Duration, phase: &str) {
    let bar = crate::progress::bar(
        period.as_millis().try_into().unwrap_or(u64::MAX),
        PROGRESS_TEMPLATE,
    )
    .with_prefix(phase.to_string());
    let mut last = progress.completed.load(Ordering::Relaxed);
    let mut last_at = Instant::now();
    while started.elapsed() < period {
        tokio::time::sleep(
            Duration::from_millis(500).min(period.saturating_sub(started.elapsed())),
        )
        .await;
        let completed = progress.completed.load(Ordering::Relaxed);
        let rate = (completed - last) as f64 / last_at.elapsed().as_secs_f64().max(1e-3);
        last = completed;
        last_at = Instant::now();
        let elapsed = started.elapsed().min(period);
        bar.set_position(elapsed.as_millis().try_into().unwrap_or(u64::MAX));
        bar.set_message(format!(
            "{:>5.1}/{:.1} s {completed:>8} ops {rate:>7.0} ops/s",
            elapsed.as_secs_f64(),
            period.as_secs_f64(),
        ));
    }
    bar.finish();
}

/// The progress line of a phase, within 80 columns:
/// `warm-up   [#######             ]   1.0/3.0 s     2100 ops    2090 ops/s`.
const PROGRESS_TEMPLATE: &str = "{prefix:<9} [{bar:20}] {msg}";

/// Caps that let `clients` clients, all on this machine, connect to each replica at once,
/// with room to spare for reconnections.
fn room_for_clients(clients: usize) -> ConnectionLimits {
    let defaults = ConnectionLimits::default();
    let room = clients.saturating_add(16);
    ConnectionLimits {
        connections_max: defaults.connections_max.max(room),
        connections_per_ip_max: defaults.connections_per_ip_max.max(room),
        handshakes_max: defaults.handshakes_max.max(room),
        handshakes_per_ip_max: defaults.handshakes_per_ip_max.max(room),
        handshakes_before_retry: defaults.handshakes_before_retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_template_is_valid() {
        indicatif::ProgressStyle::with_template(PROGRESS_TEMPLATE).expect("a valid template");
    }
}
