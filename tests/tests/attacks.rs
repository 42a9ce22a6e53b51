//! Attacks that do not break safety but try to block or stall the cluster (DESIGN §9):
//! Byzantine primaries that censor, order only empty batches, or order everything late;
//! replicas that lie in view changes or flood their peers with far-future messages; and
//! faulty clients. Each test names the rule it checks and prints its seed on failure;
//! replay one with `RAMPART_SEED=<seed> cargo nextest run -p rampart-testkit <name>`.

use rampart_replica::message::{ReplicaId, View};
use rampart_testkit::byzantine::{
    Censor, EmptyBatches, FarFutureFlood, ForgeNewView, ForgeViewChange, SlowPrimary, StaleReads,
};
use rampart_testkit::checker::resources::stored_bytes_bound;
use rampart_testkit::scenarios::{converge, finish, run};
use rampart_testkit::{ClientFault, SimConfig, Simulation, seed_or};

/// How long any correct client's request may take while a Byzantine primary is live: its
/// first retransmission, a request timeout, a view change, and the new primary's work.
fn wait_bound(sim: &Simulation) -> u64 {
    let config = &sim.config;
    config.client_timeout_ticks + 3 * config.view_change_timeout_ticks + 100
}

fn assert_every_request_completed_in_time(sim: &Simulation) {
    let bound = wait_bound(sim);
    let longest = sim.longest_wait();
    assert!(
        longest <= bound,
        "a correct client's request waited {longest} ticks, more than the bound of {bound}"
    );
}

/// PBFT §4.5.2: a backup times the oldest request it waits for, and only that request's
/// execution stops the timer. A primary that orders everything but one client's requests
/// loses its view, and that client's requests complete within a bound.
#[test]
fn a_censoring_primary_loses_its_view_within_a_timeout() {
    for replicas in [4, 7] {
        let mut config = SimConfig::new(seed_or(301), replicas);
        // The other clients keep the cluster busy all along.
        config.operations_per_client = 300;
        run(
            "a_censoring_primary_loses_its_view_within_a_timeout",
            config,
            |sim| {
                sim.make_byzantine(ReplicaId(0), Box::<Censor>::default());
                finish(sim);
                assert_every_request_completed_in_time(sim);
                assert!(sim.current_view() >= View(1), "the censor kept its view");
                converge(sim);
            },
        );
    }
}

/// A primary that keeps the cluster executing null batches and orders no request: the
/// executions must not keep resetting the backups' timers.
#[test]
fn a_primary_ordering_only_empty_batches_loses_its_view() {
    for replicas in [4, 7] {
        let config = SimConfig::new(seed_or(302), replicas);
        run(
            "a_primary_ordering_only_empty_batches_loses_its_view",
            config,
            |sim| {
                sim.make_byzantine(ReplicaId(0), Box::<EmptyBatches>::default());
                finish(sim);
                assert_every_request_completed_in_time(sim);
                assert!(sim.current_view() >= View(1));
                converge(sim);
            },
        );
    }
}

/// Operations completed in `ticks` ticks by clients with more work than that.
fn throughput(mut config: SimConfig, ticks: u64, slow: Option<u64>) -> u64 {
    config.operations_per_client = 100_000;
    let mut sim = Simulation::new(config);
    if let Some(delay_ticks) = slow {
        sim.make_byzantine(ReplicaId(0), Box::new(SlowPrimary::new(delay_ticks)));
    }
    sim.run_for(ticks);
    sim.assert_no_violations("a_slow_primary_keeps_at_least_half_the_throughput");
    sim.operations_completed()
}

/// A primary that holds every batch until just before the request timer would expire
/// must not cut the cluster's throughput to a trickle: over the same run, the cluster
/// under it completes at least half as many operations as without it. The ordering timer
/// (`rampart_replica::core`, after Aardvark) replaces such a primary at its first late
/// batch. A primary that knows the rule and stays just under the ordering timeout instead
/// keeps its view; what it costs is printed beside.
#[test]
fn a_slow_primary_keeps_at_least_half_the_throughput() {
    let config = SimConfig::new(seed_or(303), 4);
    let ticks = 4_000;
    let fault_free = throughput(config.clone(), ticks, None);
    let mut fractions = Vec::new();
    for delay in [
        config.view_change_timeout_ticks - 5,
        config.order_timeout_ticks - 1,
        // Just under what the ordering timer tolerates once the network's delays are
        // counted: this primary keeps its view.
        config.order_timeout_ticks - 2 * config.network.delay_max_ticks,
    ] {
        let slowed = throughput(config.clone(), ticks, Some(delay));
        println!(
            "seed {}: {fault_free} operations in {ticks} ticks fault-free, {slowed} under a \
             primary delaying every batch by {delay} ticks: {:.0}%",
            config.seed,
            100.0 * slowed as f64 / fault_free as f64
        );
        fractions.push((delay, slowed));
    }
    let (delay, slowed) = fractions[0];
    assert!(
        2 * slowed >= fault_free,
        "a primary delaying every batch by {delay} ticks cut throughput to {slowed} of \
         {fault_free} operations (seed {})",
        config.seed
    );
}

/// PBFT §4.4: a VIEW-CHANGE that omits prepared certificates or claims a stale checkpoint
/// is outvoted by the quorum's, and one with a made-up certificate is refused; a NEW-VIEW
/// whose O leaves out a prepared request is refused by every backup, which move on to the
/// next view.
#[test]
fn lies_in_view_changes_change_nothing() {
    let config = SimConfig::new(seed_or(304), 4);
    run(
        "lies_in_view_changes_change_nothing",
        config.clone(),
        |sim| {
            sim.make_byzantine(ReplicaId(1), Box::new(ForgeNewView));
            sim.run_until(2_000, |s| s.operations_completed() >= 10);
            // The primary is cut off for a while: replica 1 leads the next view, and lies.
            sim.isolate(ReplicaId(0));
            sim.run_for(400);
            sim.heal();
            finish(sim);
            assert!(
                sim.current_view() >= View(2),
                "the forged NEW-VIEW was entered"
            );
            converge(sim);
        },
    );
    run("lies_in_view_changes_change_nothing", config, |sim| {
        sim.make_byzantine(ReplicaId(3), Box::new(ForgeViewChange));
        sim.run_until(2_000, |s| s.operations_completed() >= 10);
        sim.isolate(ReplicaId(0));
        sim.run_for(400);
        sim.heal();
        finish(sim);
        converge(sim);
    });
}

/// What a correct replica keeps of a flooding peer's far-future CHECKPOINTs, VIEW-CHANGEs
/// and STATUS messages stays within a bound computed from the configuration.
#[test]
fn far_future_floods_leave_stored_bytes_bounded() {
    let mut config = SimConfig::new(seed_or(305), 4);
    // Small operations keep the bound tight enough for a slow leak to cross it.
    config.operation_bytes_max = 1 << 10;
    run(
        "far_future_floods_leave_stored_bytes_bounded",
        config,
        |sim| {
            sim.make_byzantine(ReplicaId(3), Box::<FarFutureFlood>::default());
            finish(sim);
            // Long enough for a flood that is kept without bound to show.
            sim.run_for(10_000);
            let bound = stored_bytes_bound(sim.protocol());
            for replica in sim.correct_replicas() {
                let stored = sim.stored_protocol_bytes(replica);
                println!("{replica} stores {stored} bytes of protocol state (bound {bound})");
                assert!(
                    stored <= bound,
                    "{replica} stores {stored} bytes of protocol state, more than {bound}"
                );
            }
        },
    );
}

/// DESIGN §9: no client behaviour can make a fault-free cluster change views. Each kind
/// of faulty client runs beside correct ones; the replicas must stay in view 0, the
/// correct clients must complete, and nothing may go wrong.
#[test]
fn faulty_clients_cannot_make_a_fault_free_cluster_change_views() {
    let only: Option<String> = std::env::var("RAMPART_CLIENT_FAULT").ok();
    for fault in ClientFault::ALL {
        if only
            .as_ref()
            .is_some_and(|name| *name != format!("{fault:?}"))
        {
            continue;
        }
        let mut config = SimConfig::new(seed_or(306), 4);
        config.faulty_clients = vec![fault];
        config.operations_per_client = 40;
        let name = "faulty_clients_cannot_make_a_fault_free_cluster_change_views";
        run(name, config, |sim| {
            finish(sim);
            sim.run_for(1_000);
            assert_eq!(
                sim.highest_view_started(),
                View(0),
                "a {fault:?} client made the cluster change views"
            );
        });
    }
}

/// PBFT §5.1.3 done fully: reads are linearizable with writes. A write completes on f + 1
/// committed replies; a read issued after it must see it, even when its answers come from
/// correct replicas that have not executed the write yet and from a Byzantine replica
/// answering from old state. Here replica 2 is cut off from the other replicas and the
/// Byzantine replica 3 keeps its COMMITs from replicas 1 and 2, so writes complete on the
/// replies of replicas 0 and 3 while replica 1 has only prepared them.
#[test]
fn reads_see_every_write_completed_before_them() {
    for tentative_execution in [false, true] {
        let mut config = SimConfig::new(seed_or(307), 4);
        config.tentative_execution = tentative_execution;
        config.keys = 1;
        config.clients = 2;
        config.operations_per_client = 30;
        config.read_only_per_mille = 1_000;
        run(
            "reads_see_every_write_completed_before_them",
            config,
            |sim| {
                let stale = StaleReads {
                    withhold_commits_from: [ReplicaId(1), ReplicaId(2)].into_iter().collect(),
                };
                sim.make_byzantine(ReplicaId(3), Box::new(stale));
                sim.partition(&[&[ReplicaId(2)], &[ReplicaId(0), ReplicaId(1), ReplicaId(3)]]);
                sim.run_for(600);
                sim.heal();
                finish(sim);
            },
        );
    }
}
