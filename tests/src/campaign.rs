//! Seeded random campaigns: each seed draws a cluster size, a network, up to f faulty
//! replicas (Byzantine behaviours, Twins, crashes forever, wiped disks) and a schedule of
//! transient faults for the others (crashes and restarts, isolation, partitions, one-way
//! links). After the faults heal, every request must complete; throughout, the checkers
//! must find nothing.
//!
//! The negative control ([`Plan::beyond_tolerance`]) runs with f + 1 Twins, more faults
//! than PBFT tolerates: the checkers must then report a safety violation, which shows they
//! can fail.

use std::collections::BTreeSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rampart_replica::core::Rng;
use rampart_replica::message::ReplicaId;

use crate::byzantine::all_behaviours;
use crate::checker::Violation;
use crate::checker::resources::{footprint_excess, stored_bytes_bound};
use crate::faulty_client::ClientFault;
use crate::network::{NetworkConfig, Node};
use crate::simulation::{RunStats, SimConfig, Simulation};

/// How long the fault phase lasts, and how long the healed cluster gets to finish.
const FAULT_PHASE_TICKS: u64 = 800;
const HEALED_PHASE_TICKS_MAX: u64 = 30_000;

/// A fault a seed injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Byzantine {
        replica: ReplicaId,
        behaviour: &'static str,
    },
    Twin {
        replica: ReplicaId,
    },
    CrashForever {
        replica: ReplicaId,
    },
    WipedDisk {
        replica: ReplicaId,
    },
    /// A disk that does not sync and is damaged at each of the replica's two crashes
    /// (unsynced writes lost, the last write torn, a record corrupted: see
    /// `rampart_replica::store::disk::DiskFault`).
    FaultyDisk {
        replica: ReplicaId,
    },
    CrashRestart {
        replica: ReplicaId,
        at: u64,
        ticks: u64,
    },
    Isolate {
        replica: ReplicaId,
        at: u64,
        ticks: u64,
    },
    Partition {
        minority: Vec<ReplicaId>,
        at: u64,
        ticks: u64,
    },
    OneWay {
        from: ReplicaId,
        to: ReplicaId,
        at: u64,
        ticks: u64,
    },
}

impl Fault {
    /// Whether the fault makes its replica faulty for good (it counts against f).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Fault::Byzantine { .. }
                | Fault::Twin { .. }
                | Fault::CrashForever { .. }
                | Fault::WipedDisk { .. }
                | Fault::FaultyDisk { .. }
        )
    }
}

/// Everything one seed does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub config: SimConfig,
    pub faults: Vec<Fault>,
    /// Negative control: Twins beyond the tolerance, on links that guarantee a split.
    pub beyond_tolerance: bool,
}

impl Plan {
    /// The plan of a seed in the regular campaign.
    pub fn generate(seed: u64) -> Plan {
        let mut rng = Rng::new(seed ^ 0x5eed_ca3b_a1c0_0001);
        let replicas = if rng.chance(1, 4) { 7 } else { 4 };
        let mut config = SimConfig::new(seed, replicas);
        config.clients = 2 + rng.below(3) as usize;
        config.operations_per_client = 15 + rng.below(20) as usize;
        config.batch_delay_ticks = rng.below(3);
        config.network = NetworkConfig {
            delay_min_ticks: 1,
            delay_max_ticks: 2 + rng.below(7),
            loss_per_mille: [0, 0, 10, 30, 60][rng.below(5) as usize],
            duplicate_per_mille: [0, 10, 40][rng.below(3) as usize],
        };
        let f = (replicas - 1) / 3;
        let mut ids: Vec<ReplicaId> = (0..replicas as u32).map(ReplicaId).collect();
        shuffle(&mut ids, &mut rng);
        let faulty_count = rng.below(f as u64 + 1) as usize;
        let (faulty, correct) = ids.split_at(faulty_count);
        let behaviours = all_behaviours();
        let mut faults = Vec::new();
        for &replica in faulty {
            let fault = match rng.below(11) {
                0..=5 => {
                    let make = behaviours[rng.below(behaviours.len() as u64) as usize];
                    Fault::Byzantine {
                        replica,
                        behaviour: make(replica, replicas).name(),
                    }
                }
                6 | 7 => Fault::Twin { replica },
                8 => Fault::CrashForever { replica },
                9 => Fault::WipedDisk { replica },
                _ => Fault::FaultyDisk { replica },
            };
            faults.push(fault);
        }
        if rng.chance(1, 3) {
            let count = 1 + rng.below(2);
            config.faulty_clients = (0..count)
                .map(|_| ClientFault::ALL[rng.below(ClientFault::ALL.len() as u64) as usize])
                .collect();
        }
        let transient = rng.below(4);
        for _ in 0..transient {
            let replica = correct[rng.below(correct.len() as u64) as usize];
            let at = 20 + rng.below(FAULT_PHASE_TICKS / 2);
            let ticks = 50 + rng.below(FAULT_PHASE_TICKS / 2);
            let fault = match rng.below(4) {
                0 => Fault::CrashRestart { replica, at, ticks },
                1 => Fault::Isolate { replica, at, ticks },
                2 => {
                    let size = 1 + rng.below(f as u64) as usize;
                    let mut minority: Vec<ReplicaId> = ids.clone();
                    shuffle(&mut minority, &mut rng);
                    minority.truncate(size);
                    Fault::Partition {
                        minority,
                        at,
                        ticks,
                    }
                }
                _ => {
                    let to = ids[rng.below(ids.len() as u64) as usize];
                    if to == replica {
                        continue;
                    }
                    Fault::OneWay {
                        from: replica,
                        to,
                        at,
                        ticks,
                    }
                }
            };
            faults.push(fault);
        }
        Plan {
            config,
            faults,
            beyond_tolerance: false,
        }
    }

    /// The negative control: n = 4 with f + 1 = 2 Twins (replicas 0 and 1, the first two
    /// primaries). Replica 2 hears only the originals and replica 3 only the twins, so the
    /// two halves can each assemble quorums: more faults than PBFT tolerates.
    pub fn beyond_tolerance(seed: u64) -> Plan {
        let mut config = SimConfig::new(seed, 4);
        config.clients = 4;
        config.operations_per_client = 15;
        Plan {
            config,
            faults: vec![
                Fault::Twin {
                    replica: ReplicaId(0),
                },
                Fault::Twin {
                    replica: ReplicaId(1),
                },
            ],
            beyond_tolerance: true,
        }
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    pub replicas: usize,
    pub faults: Vec<Fault>,
    pub faulty_clients: Vec<ClientFault>,
    pub stats: RunStats,
    pub violations: Vec<Violation>,
}

/// Runs one seed's plan and checks it.
pub fn run_plan(plan: &Plan) -> SeedReport {
    let seed = plan.config.seed;
    let outcome = catch_unwind(AssertUnwindSafe(|| execute(plan)));
    match outcome {
        Ok((stats, violations)) => SeedReport {
            seed,
            replicas: plan.config.replicas,
            faults: plan.faults.clone(),
            faulty_clients: plan.config.faulty_clients.clone(),
            stats,
            violations,
        },
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string());
            SeedReport {
                seed,
                replicas: plan.config.replicas,
                faults: plan.faults.clone(),
                faulty_clients: plan.config.faulty_clients.clone(),
                stats: RunStats::default(),
                violations: vec![Violation::Invariant { detail }],
            }
        }
    }
}

fn execute(plan: &Plan) -> (RunStats, Vec<Violation>) {
    let mut sim = Simulation::new(plan.config.clone());
    let mut permanent: BTreeSet<ReplicaId> = BTreeSet::new();
    for fault in &plan.faults {
        match fault {
            Fault::Byzantine { replica, behaviour } => {
                let make = all_behaviours()
                    .into_iter()
                    .find(|make| make(*replica, plan.config.replicas).name() == *behaviour)
                    .expect("a known behaviour");
                sim.make_byzantine(*replica, make(*replica, plan.config.replicas));
                permanent.insert(*replica);
            }
            Fault::Twin { replica } => {
                let audience = twin_audience(plan, *replica, &sim);
                sim.add_twin(*replica, &audience);
                permanent.insert(*replica);
            }
            Fault::CrashForever { replica } | Fault::WipedDisk { replica } => {
                sim.mark_faulty(*replica);
                permanent.insert(*replica);
            }
            Fault::FaultyDisk { replica } => {
                sim.give_faulty_disk(*replica);
                permanent.insert(*replica);
            }
            _ => {}
        }
    }
    if plan.beyond_tolerance {
        for original in [ReplicaId(0), ReplicaId(1)] {
            sim.network
                .block(Node::Replica(original), Node::Replica(ReplicaId(3)));
            sim.network
                .block(Node::Twin(original), Node::Replica(ReplicaId(2)));
        }
    }
    // RAMPART_TRACE=1 prints a timeline of the replicas' states, for replaying a seed.
    let trace = std::env::var_os("RAMPART_TRACE").is_some();
    let mut crashed_at: Vec<(ReplicaId, u64)> = Vec::new();
    for tick in 0..FAULT_PHASE_TICKS {
        for fault in &plan.faults {
            apply_scheduled(&mut sim, fault, tick, &mut crashed_at);
        }
        sim.step();
        if trace && tick % 25 == 0 {
            println!("{}", sim.summary());
        }
    }
    // Heal: links back, transient crashes restarted, permanent crashes stay down.
    if !plan.beyond_tolerance {
        sim.heal();
    }
    let healed_at = sim.now();
    for replica in sim.replica_ids() {
        if sim.is_crashed(replica) && !is_crashed_forever(plan, replica) {
            sim.restart(replica);
        }
    }
    let finished = if trace {
        let mut finished = false;
        for tick in 0..HEALED_PHASE_TICKS_MAX {
            if sim.clients_done() {
                finished = true;
                break;
            }
            sim.step();
            if tick % 100 == 0 {
                println!("{}", sim.summary());
            }
        }
        finished
    } else {
        sim.run_until_clients_done(HEALED_PHASE_TICKS_MAX)
    };
    let mut violations = sim.violations();
    if !plan.beyond_tolerance {
        violations.extend(resource_violations(plan, &sim, healed_at));
    }
    if !finished && !plan.beyond_tolerance {
        violations.push(Violation::NoProgress {
            detail: format!(
                "{} of {} operations completed {HEALED_PHASE_TICKS_MAX} ticks after healing",
                sim.stats().operations_completed,
                plan.config.clients * plan.config.operations_per_client
            ),
        });
    }
    (sim.stats(), violations)
}

/// How long a correct client's request may wait once the network has healed, whatever the
/// faulty replicas do: the longest doubled view-change timeout, a few more view changes,
/// and two client retransmissions.
fn wait_bound(config: &SimConfig) -> u64 {
    16 * config.view_change_timeout_ticks
        + 4 * config.view_change_timeout_ticks
        + 2 * config.client_timeout_ticks
        + 500
}

/// The checkers beyond safety: liveness within a bound after healing (also while a
/// Byzantine primary is live), stored bytes within the configuration's bound, and no view
/// change at all in a run with no faulty replica and a reliable network, whatever the
/// clients do.
fn resource_violations(plan: &Plan, sim: &Simulation, healed_at: u64) -> Vec<Violation> {
    let mut violations = Vec::new();
    let bound = wait_bound(&plan.config);
    let waited = sim.longest_wait_since(healed_at);
    if waited > bound {
        violations.push(Violation::TooSlow { waited, bound });
    }
    let bytes_bound = stored_bytes_bound(sim.protocol());
    let clients = plan.config.clients + plan.config.faulty_clients.len();
    for replica in sim.correct_replicas() {
        let footprint = sim.replica(replica).memory_footprint();
        if let Some(excess) = footprint_excess(sim.protocol(), &footprint, clients) {
            violations.push(Violation::HeldTooMuch {
                replica: replica.0,
                detail: excess,
            });
        }
        let bytes = sim.stored_protocol_bytes(replica);
        if bytes > bytes_bound {
            violations.push(Violation::StoredTooMuch {
                replica: replica.0,
                bytes,
                bound: bytes_bound,
            });
        }
    }
    let fault_free = plan.faults.is_empty() && plan.config.network.loss_per_mille == 0;
    let view = sim.highest_view_started();
    if fault_free && view > rampart_replica::message::View(0) {
        violations.push(Violation::ViewChangeWithoutFault { view: view.0 });
    }
    violations
}

fn is_crashed_forever(plan: &Plan, replica: ReplicaId) -> bool {
    plan.faults
        .iter()
        .any(|f| matches!(f, Fault::CrashForever { replica: r } if *r == replica))
}

fn twin_audience(plan: &Plan, replica: ReplicaId, sim: &Simulation) -> Vec<Node> {
    if plan.beyond_tolerance {
        let mut audience = vec![
            Node::Replica(ReplicaId(3)),
            Node::Twin(ReplicaId(0)),
            Node::Twin(ReplicaId(1)),
        ];
        audience.extend(
            (0..plan.config.clients)
                .filter(|c| c % 2 == 1)
                .map(Node::Client),
        );
        return audience;
    }
    // Half of the other replicas and clients, chosen by the seed, talk to the twin.
    let mut rng = Rng::new(plan.config.seed ^ u64::from(replica.0));
    let mut audience: Vec<Node> = sim
        .replica_ids()
        .into_iter()
        .filter(|&r| r != replica && rng.chance(1, 2))
        .map(Node::Replica)
        .collect();
    audience.extend(
        (0..plan.config.clients)
            .filter(|_| rng.chance(1, 2))
            .map(Node::Client),
    );
    audience
}

fn apply_scheduled(
    sim: &mut Simulation,
    fault: &Fault,
    tick: u64,
    crashed_at: &mut Vec<(ReplicaId, u64)>,
) {
    match *fault {
        Fault::CrashForever { replica } if tick == 30 => sim.crash(replica),
        Fault::WipedDisk { replica } => {
            if tick == 100 {
                sim.crash(replica);
            } else if tick == 250 {
                sim.wipe(replica);
                sim.restart(replica);
            }
        }
        Fault::FaultyDisk { replica } => {
            if tick == 150 || tick == 450 {
                sim.crash(replica);
            } else if tick == 200 || tick == 500 {
                sim.restart(replica);
            }
        }
        Fault::CrashRestart { replica, at, ticks } => {
            if tick == at && !sim.is_crashed(replica) {
                sim.crash(replica);
                crashed_at.push((replica, at));
            } else if tick == at + ticks && crashed_at.contains(&(replica, at)) {
                sim.restart(replica);
            }
        }
        Fault::Isolate { replica, at, ticks } => {
            if tick == at {
                sim.isolate(replica);
            } else if tick == at + ticks {
                sim.heal();
            }
        }
        Fault::Partition {
            ref minority,
            at,
            ticks,
        } => {
            if tick == at {
                let majority: Vec<ReplicaId> = sim
                    .replica_ids()
                    .into_iter()
                    .filter(|r| !minority.contains(r))
                    .collect();
                sim.partition(&[minority, &majority]);
            } else if tick == at + ticks {
                sim.heal();
            }
        }
        Fault::OneWay {
            from,
            to,
            at,
            ticks,
        } => {
            if tick == at {
                sim.cut_one_way(from, to);
            } else if tick == at + ticks {
                sim.heal();
            }
        }
        _ => {}
    }
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
    pub violations: Vec<(u64, Violation)>,
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

impl fmt::Display for CampaignReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
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
        )
    }
}

/// Runs the campaign over `seeds` and returns its totals.
pub fn run_campaign(seeds: impl Iterator<Item = u64>, plan: fn(u64) -> Plan) -> CampaignReport {
    let mut report = CampaignReport::default();
    for seed in seeds {
        let seed_report = run_plan(&plan(seed));
        if let Some(first) = seed_report.violations.first() {
            eprintln!(
                "seed {seed} ({} replicas, faults {:?}, faulty clients {:?}): {} violation(s), first: {first}\n  reproduce with: RAMPART_SEED={seed} cargo nextest run -p rampart-testkit replay_seed",
                seed_report.replicas,
                seed_report.faults,
                seed_report.faulty_clients,
                seed_report.violations.len()
            );
        }
        report.add(&seed_report);
    }
    report
}
