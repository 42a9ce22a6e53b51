//! Bounded memory over an unbounded run: garbage collection at stable checkpoints keeps the
//! log and every message store within the watermark window (PBFT §4.3).

use rampart_replica::core::{EVIDENCE_PER_REPLICA_MAX, MemoryFootprint};
use rampart_replica::message::ReplicaId;
use rampart_testkit::{SimConfig, Simulation, scenarios, seed_or};

const CHECKPOINTS_MIN: u64 = 50;

fn long_run(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, 4);
    config.clients = 4;
    config.operations_per_client = 150;
    config.batch_size_max = 2;
    config
}

/// The most each store may hold: the window of slots, a few checkpoints per replica, one
/// VIEW-CHANGE per replica and the NEW-VIEW, and a client window per client.
fn check_bounds(sim: &Simulation, peak: &mut MemoryFootprint) {
    let protocol = sim.protocol();
    let n = protocol.replica_count();
    let clients = sim.config.clients;
    for replica in sim.correct_replicas() {
        let footprint = sim.replica(replica).memory_footprint();
        assert!(
            footprint.log_slots as u64 <= protocol.log_window,
            "{replica}: {footprint:?}"
        );
        assert!(
            footprint.checkpoint_messages <= 5 * n,
            "{replica}: {footprint:?}"
        );
        assert!(
            footprint.view_change_messages <= n + 1,
            "{replica}: {footprint:?}"
        );
        assert!(footprint.waiting_requests as u64 <= clients as u64 * protocol.client_window);
        assert!(footprint.cached_replies as u64 <= clients as u64 * protocol.client_window);
        let durable = sim.sim_replica(replica).persisted().expect("running");
        // Per slot: a pre-prepare, n prepares and n commits; plus checkpoints and views.
        let durable_max = protocol.log_window as usize * (1 + 2 * n) + 5 * n + n + 1;
        assert!(
            durable.messages.len() <= durable_max,
            "{replica}: {} records",
            durable.messages.len()
        );
        assert!(durable.prepared.len() as u64 <= protocol.log_window);
        assert!(durable.decided.len() as u64 <= protocol.log_window);
        assert!(durable.evidence.len() <= n * EVIDENCE_PER_REPLICA_MAX);
        let checkpoints = sim.sim_replica(replica).stored_checkpoints();
        assert!(checkpoints <= 4, "{replica}: {checkpoints} checkpoints");
        peak.log_slots = peak.log_slots.max(footprint.log_slots);
        peak.checkpoint_messages = peak.checkpoint_messages.max(footprint.checkpoint_messages);
        peak.view_change_messages = peak
            .view_change_messages
            .max(footprint.view_change_messages);
        peak.waiting_requests = peak.waiting_requests.max(footprint.waiting_requests);
        peak.waiting_reads = peak.waiting_reads.max(footprint.waiting_reads);
        peak.missing_batches = peak.missing_batches.max(footprint.missing_batches);
        peak.cached_replies = peak.cached_replies.max(footprint.cached_replies);
    }
}

fn run_checking_bounds(name: &str, config: SimConfig, faults: impl Fn(&mut Simulation)) {
    scenarios::run(name, config, |sim| {
        let mut peak = MemoryFootprint {
            log_slots: 0,
            checkpoint_messages: 0,
            view_change_messages: 0,
            waiting_requests: 0,
            waiting_reads: 0,
            missing_batches: 0,
            cached_replies: 0,
        };
        let mut ticks = 0;
        while !sim.clients_done() {
            faults(sim);
            sim.step();
            check_bounds(sim, &mut peak);
            ticks += 1;
            assert!(ticks < 200_000, "the run did not finish");
        }
        let interval = sim.protocol().checkpoint_interval;
        let stable = sim.replica(ReplicaId(1)).stable_checkpoint().seq.0;
        assert!(
            stable >= CHECKPOINTS_MIN * interval,
            "only {} checkpoints became stable",
            stable / interval
        );
        println!(
            "{name}: {} stable checkpoints, {} operations; peak in memory: {peak:?}",
            stable / interval,
            sim.operations_completed()
        );
    });
}

#[test]
fn memory_stays_bounded_over_fifty_checkpoints() {
    run_checking_bounds(
        "memory_stays_bounded_over_fifty_checkpoints",
        long_run(seed_or(31)),
        |_| {},
    );
}

/// The same with a crash, a restart and view changes along the way.
#[test]
fn memory_stays_bounded_across_view_changes_and_restarts() {
    run_checking_bounds(
        "memory_stays_bounded_across_view_changes_and_restarts",
        long_run(seed_or(32)),
        |sim| match sim.now() {
            500 => sim.crash(ReplicaId(0)),
            1_500 => sim.restart(ReplicaId(0)),
            2_500 => sim.crash(ReplicaId(1)),
            3_500 => sim.restart(ReplicaId(1)),
            _ => {}
        },
    );
}
