//! `rampart chaos`: the seeded fault campaign of the test kit, from the command line.
//!
//! Each seed builds a simulated cluster of 4 or 7 replicas running the production shell,
//! draws its faults (crashes and restarts, partitions and one-way links, lossy and slow
//! links, wiped and faulty disks, Byzantine replicas, Twins, faulty clients), runs a
//! workload of the chosen application through them, heals, and checks safety (no two
//! correct replicas execute different requests at a sequence number; equal state digests
//! at every stable checkpoint), linearizability of what the clients were told against the
//! application's model, and liveness once the faults heal. `--app kv` (the default) runs
//! the key-value store; `--app interlock` the shutdown interlock, with four agents of which
//! one lies (`rampart_testkit::models`). The same seed always gives the same run, so any
//! failure is replayed with `--first SEED --seeds 1`.
//!
//! `--beyond-tolerance` is the negative control: f + 1 Twins, more faults than PBFT
//! tolerates, on links that force a split. There the checkers are expected to report a
//! safety violation; a campaign that never fails would prove nothing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rampart_testkit::campaign::{Campaign, CampaignReport, SeedReport};
use rampart_testkit::models::{interlock, kv};

use crate::failure::Failure;
use crate::files::cluster::ApplicationKind;

/// How many violations of one seed are printed; the count says how many there were.
const VIOLATIONS_SHOWN: usize = 3;

/// The campaign's progress line: `  [###########                   ] 812/2000 seeds, 41s (eta 60s)`.
const PROGRESS_TEMPLATE: &str = "  [{bar:30}] {pos}/{len} seeds, {elapsed} (eta {eta})";

/// `rampart chaos` options.
#[derive(Debug, clap::Args)]
pub struct ChaosArgs {
    /// The application the replicas run and the clients' workload speaks to.
    #[arg(long, value_enum, value_name = "APP", default_value = "kv")]
    pub app: ApplicationKind,
    /// How many seeds to run.
    #[arg(long, default_value_t = 2000)]
    pub seeds: u64,
    /// The first seed; the campaign runs seeds FIRST to FIRST + SEEDS - 1.
    #[arg(long, default_value_t = 0)]
    pub first: u64,
    /// Run the negative control (f + 1 Twins) instead: succeeds only if the checkers
    /// report a safety violation.
    #[arg(long)]
    pub beyond_tolerance: bool,
    /// Worker threads [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs the campaign and prints its report. Exit status 0 when the outcome is the
/// expected one (no violation; or, beyond tolerance, at least one safety violation).
pub fn run(args: &ChaosArgs) -> Result<(), Failure> {
    if args.seeds == 0 {
        return Err(Failure::config("--seeds must be at least 1"));
    }
    let last = args
        .first
        .checked_add(args.seeds - 1)
        .ok_or_else(|| Failure::config("--first + --seeds overflows a 64-bit seed"))?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    println!(
        "chaos: {} campaign, seeds {} to {last}{}, {threads} thread(s)",
        args.app.name(),
        args.first,
        if args.beyond_tolerance {
            ", f + 1 Twins (beyond tolerance)"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let seeds = args.first..=last;
    let reports = match args.app {
        ApplicationKind::Kv => run_seeds(seeds, &tolerance(kv::campaign(), args), threads),
        ApplicationKind::Interlock => {
            run_seeds(seeds, &tolerance(interlock::campaign(), args), threads)
        }
    };
    let mut campaign = CampaignReport::default();
    for report in &reports {
        campaign.add(report);
        print_violations(report, args);
    }
    println!("{}", campaign.summary());
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    let unsafe_seeds = campaign.seeds_with_safety_violations();
    if args.beyond_tolerance {
        if unsafe_seeds.is_empty() {
            return Err(Failure::runtime(
                "f + 1 Twins never broke safety: the checkers did not see the divergence",
            ));
        }
        println!(
            "as expected, {} of {} seeds violated safety beyond the tolerance",
            unsafe_seeds.len(),
            campaign.seeds
        );
        return Ok(());
    }
    if campaign.violations.is_empty() {
        println!("no violations");
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{} violation(s) in {} seed(s); each is printed above with the command that replays it",
            campaign.violations.len(),
            reports.iter().filter(|r| !r.violations.is_empty()).count()
        )))
    }
}

/// The campaign, or its negative control.
fn tolerance<Op, Output>(campaign: Campaign<Op, Output>, args: &ChaosArgs) -> Campaign<Op, Output>
where
    Op: Clone + Send + 'static,
    Output: Send + 'static,
{
    if args.beyond_tolerance {
        campaign.beyond_tolerance()
    } else {
        campaign
    }
}

/// Runs every seed on `threads` workers that take the next seed as they finish one, and
/// returns the reports in seed order. A progress bar goes to standard error, drawn only
/// when it is a terminal ([`crate::progress`]).
fn run_seeds<Op, Output>(
    seeds: std::ops::RangeInclusive<u64>,
    campaign: &Campaign<Op, Output>,
    threads: usize,
) -> Vec<SeedReport>
where
    Op: Clone + Send + 'static,
    Output: Send + 'static,
{
    let total = seeds.end() - seeds.start() + 1;
    let progress = crate::progress::bar(total, PROGRESS_TEMPLATE);
    let next = AtomicU64::new(*seeds.start());
    let reports = Mutex::new(Vec::with_capacity(total as usize));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed > *seeds.end() || seed < *seeds.start() {
                        return;
                    }
                    let report = campaign.run_seed(seed);
                    progress.inc(1);
                    reports
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(report);
                }
            });
        }
    });
    progress.finish();
    let mut reports = reports
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reports.sort_by_key(|report| report.seed);
    reports
}

fn print_violations(report: &SeedReport, args: &ChaosArgs) {
    if report.violations.is_empty() {
        return;
    }
    println!(
        "seed {} ({} replicas, faults {:?}): {} violation(s)",
        report.seed,
        report.replicas,
        report.faults,
        report.violations.len()
    );
    for violation in report.violations.iter().take(VIOLATIONS_SHOWN) {
        println!("  {violation}");
    }
    if report.violations.len() > VIOLATIONS_SHOWN {
        println!(
            "  … and {} more",
            report.violations.len() - VIOLATIONS_SHOWN
        );
    }
    let app = args.app.name();
    let seed = report.seed;
    if args.beyond_tolerance {
        println!("  replay: rampart chaos --app {app} --beyond-tolerance --first {seed} --seeds 1");
        return;
    }
    // The test kit's tests of each campaign replay one seed with RAMPART_SEED.
    let test = match args.app {
        ApplicationKind::Kv => "campaign::replay_seed",
        ApplicationKind::Interlock => "interlock_campaign::no_fault_within_tolerance",
    };
    println!(
        "  replay: rampart chaos --app {app} --first {seed} --seeds 1, or RAMPART_SEED={seed} cargo nextest run -p rampart-testkit {test}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_template_is_valid() {
        indicatif::ProgressStyle::with_template(PROGRESS_TEMPLATE).expect("a valid template");
    }
}
