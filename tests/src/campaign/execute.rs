//! Runs one seed's plan on a simulation: the permanent faults from the start, the
//! transient ones on their schedule, then the heal, and the checkers at the end.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rampart_replica::core::Rng;
use rampart_replica::message::ReplicaId;

use super::plan::{FAULT_PHASE_TICKS, Fault, HEALED_PHASE_TICKS_MAX, Plan};
use super::report::SeedReport;
use crate::byzantine::all_behaviours;
use crate::checker::Violation;
use crate::checker::resources::{footprint_excess, stored_bytes_bound};
use crate::network::Node;
use crate::simulation::{RunStats, SimConfig, Simulation};
use crate::workload::Judgement;

/// Runs `plan` on the simulation `build` makes (of the plan's configuration) and checks
/// it. A panic, in a replica or in the application, is reported as a violation of the
/// seed rather than ending the campaign.
pub(crate) fn run(plan: &Plan, build: impl FnOnce() -> Simulation) -> SeedReport {
    let outcome = catch_unwind(AssertUnwindSafe(|| execute(plan, build())));
    let (stats, judgement) = outcome.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".to_string());
        let judgement = Judgement {
            violations: vec![Violation::Invariant { detail }],
            undecided: Vec::new(),
        };
        (RunStats::default(), judgement)
    });
    SeedReport {
        seed: plan.config.seed,
        replicas: plan.config.replicas,
        faults: plan.faults.clone(),
        faulty_clients: plan.config.faulty_clients.clone(),
        stats,
        violations: judgement.violations,
        undecided: judgement.undecided,
    }
}

fn execute(plan: &Plan, mut sim: Simulation) -> (RunStats, Judgement) {
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
    let mut judgement = sim.judgement();
    let violations = &mut judgement.violations;
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
    (sim.stats(), judgement)
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
