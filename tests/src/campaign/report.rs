//! What a campaign found: per seed, and in total.

use std::collections::BTreeSet;
use std::fmt;

use super::plan::Fault;
use crate::checker::Violation;
use crate::faulty_client::ClientFault;
use crate::simulation::RunStats;

/// How many violations a report's `Display` lists; the count says how many there were.
const VIOLATIONS_LISTED: usize = 20;

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    pub replicas: usize,
    pub faults: Vec<Fault>,
    pub faulty_clients: Vec<ClientFault>,
    pub stats: RunStats,
    pub violations: Vec<Violation>,
    /// Histories the linearizability search could not decide within its bound.
    pub undecided: Vec<String>,
}

/// The totals of a campaign.
#[derive(Clone, Debug, Default)]
pub struct CampaignReport {
    pub seeds: u64,
    pub operations: u64,
    pub faults: u64,
    pub byzantine: u64,
    pub twins: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub view_changes: u64,
    pub state_transfers: u64,
    pub chunks_refused: u64,
    pub rollbacks: u64,
    /// Faulty disks' damage at crashes, and stores refused for it.
    pub storage_damages: u64,
    /// Every violation, with the seed that replays it.
    pub violations: Vec<(u64, Violation)>,
    /// Every undecided history, with its seed.
    pub undecided: Vec<(u64, String)>,
    /// How to replay a seed, with `{seed}` standing for it.
    pub replay: String,
}

impl CampaignReport {
    pub fn add(&mut self, report: &SeedReport) {
        self.seeds += 1;
        self.operations += report.stats.operations_completed;
        self.faults += report.faults.len() as u64;
        self.byzantine += report
            .faults
            .iter()
            .filter(|f| matches!(f, Fault::Byzantine { .. }))
            .count() as u64;
        self.twins += report
            .faults
            .iter()
            .filter(|f| matches!(f, Fault::Twin { .. }))
            .count() as u64;
        self.crashes += report.stats.crashes;
        self.partitions += report.stats.partitions;
        self.view_changes += report.stats.view_changes;
        self.state_transfers += report.stats.state_transfers;
        self.chunks_refused += report.stats.chunks_refused;
        self.rollbacks += report.stats.rollbacks;
        self.storage_damages += report.stats.storage_damages;
        for violation in &report.violations {
            self.violations.push((report.seed, violation.clone()));
        }
        for undecided in &report.undecided {
            self.undecided.push((report.seed, undecided.clone()));
        }
    }

    /// The command that replays `seed`.
    pub fn replay_command(&self, seed: u64) -> String {
        self.replay.replace("{seed}", &seed.to_string())
    }

    /// The totals on one line.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} seeds, {} operations completed, {} faults injected ({} Byzantine replicas, {} Twins, {} crashes, {} partitions, {} storage faults), {} view changes, {} state transfers ({} corrupt chunks refused), {} tentative executions rolled back, {} violations",
            self.seeds,
            self.operations,
            self.faults,
            self.byzantine,
            self.twins,
            self.crashes,
            self.partitions,
            self.storage_damages,
            self.view_changes,
            self.state_transfers,
            self.chunks_refused,
            self.rollbacks,
            self.violations.len()
        );
        if !self.undecided.is_empty() {
            line.push_str(&format!(", {} histories undecided", self.undecided.len()));
        }
        line
    }

    /// Seeds with at least one safety violation.
    pub fn seeds_with_safety_violations(&self) -> BTreeSet<u64> {
        self.violations
            .iter()
            .filter(|(_, v)| v.is_safety())
            .map(|(seed, _)| *seed)
            .collect()
    }
}

/// The totals, then each violation and undecided history with its seed, and the command
/// that replays each seed.
impl fmt::Display for CampaignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        for (seed, violation) in self.violations.iter().take(VIOLATIONS_LISTED) {
            write!(f, "\n  seed {seed}: {violation}")?;
        }
        if self.violations.len() > VIOLATIONS_LISTED {
            write!(
                f,
                "\n  … and {} more",
                self.violations.len() - VIOLATIONS_LISTED
            )?;
        }
        for (seed, undecided) in &self.undecided {
            write!(f, "\n  seed {seed}: undecided: {undecided}")?;
        }
        let seeds: BTreeSet<u64> = self
            .violations
            .iter()
            .map(|(seed, _)| *seed)
            .chain(self.undecided.iter().map(|(seed, _)| *seed))
            .collect();
        for seed in seeds.iter().take(VIOLATIONS_LISTED) {
            write!(f, "\n  reproduce with: {}", self.replay_command(*seed))?;
        }
        Ok(())
    }
}
