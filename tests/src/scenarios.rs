//! Named scenarios, written once for any cluster size and run by the `n4f1` and `n7f2`
//! test files. Each builds a simulation from a seed, injects its faults, and asserts both
//! what must happen (a view change, a state transfer, progress) and that the checkers
//! found nothing. A failure names the seed and how to replay it.

use rampart_replica::core::Reject;
use rampart_replica::message::{ReplicaId, Seq, View};

use rampart_replica::store::disk::DiskFault;

use crate::byzantine::{CorruptChunks, Equivocate, MakeBehaviour, Silent};
use crate::network::Node;
use crate::simulation::{SimConfig, Simulation};

/// Ticks a scenario gives the cluster to finish after its faults.
const FINISH_TICKS: u64 = 40_000;

/// Runs `body` on a fresh simulation; on any panic, names the seed and how to replay it.
pub fn run(name: &str, config: SimConfig, body: impl FnOnce(&mut Simulation)) -> Simulation {
    let seed = config.seed;
    let mut sim = Simulation::new(config);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        body(&mut sim);
        sim.assert_no_violations(name);
    }));
    if let Err(panic) = outcome {
        eprintln!(
            "scenario {name} failed with seed {seed}; reproduce with: RAMPART_SEED={seed} cargo nextest run -p rampart-testkit {name}"
        );
        std::panic::resume_unwind(panic);
    }
    sim
}

pub fn finish(sim: &mut Simulation) {
    let finished = sim.run_until_clients_done(FINISH_TICKS);
    assert!(
        finished,
        "clients did not finish: {} operations completed, stats {:?}",
        sim.operations_completed(),
        sim.stats()
    );
}

/// Every correct replica reaches the highest sequence number any correct one executed.
pub fn converge(sim: &mut Simulation) {
    let converged = sim.run_until(FINISH_TICKS, |sim| {
        let target = sim.highest_executed();
        sim.correct_replicas()
            .iter()
            .all(|r| sim.replica(*r).last_executed() >= target)
    });
    assert!(converged, "correct replicas did not converge");
    let states: Vec<_> = sim
        .correct_replicas()
        .iter()
        .map(|r| sim.sim_replica(*r).app_snapshot())
        .collect();
    assert!(
        states.windows(2).all(|pair| pair[0] == pair[1]),
        "correct replicas hold different application states"
    );
}

fn backups(sim: &Simulation, count: usize) -> Vec<ReplicaId> {
    let n = sim.replica_ids().len() as u32;
    (n - count as u32..n).map(ReplicaId).collect()
}

/// The primary of view 0 crashes mid-run: the backups' timers expire, they move to view 1,
/// and the new primary orders the remaining requests (PBFT §4.4).
pub fn primary_crash(config: SimConfig) {
    let _replicas = config.replicas;
    run("primary_crash", config, |sim| {
        sim.run_until(2_000, |s| s.operations_completed() >= 10);
        sim.crash(ReplicaId(0));
        sim.mark_faulty(ReplicaId(0));
        finish(sim);
        for replica in sim.correct_replicas() {
            assert!(
                sim.replica(replica).view() >= View(1),
                "{replica} stayed in view 0"
            );
        }
        converge(sim);
    });
}

/// The primary sends different PRE-PREPAREs to different backups. No two correct replicas
/// may execute different batches; the backups record the equivocation as evidence and
/// replace the primary.
pub fn equivocating_primary(config: SimConfig) {
    let _replicas = config.replicas;
    run("equivocating_primary", config, |sim| {
        sim.make_byzantine(ReplicaId(0), Box::new(Equivocate));
        finish(sim);
        assert!(
            sim.current_view() >= View(1),
            "the equivocating primary was not replaced"
        );
        let evidence: usize = sim
            .correct_replicas()
            .iter()
            .map(|r| sim.replica(*r).evidence().against(ReplicaId(0)).len())
            .sum();
        let refused: u64 = sim
            .correct_replicas()
            .iter()
            .map(|r| {
                sim.replica(*r)
                    .rejects()
                    .get(&Reject::ConflictingPrePrepare)
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        assert!(refused > 0, "no conflicting pre-prepare was seen");
        assert!(
            evidence > 0,
            "no evidence against the equivocating primary was kept"
        );
        converge(sim);
    });
}

/// f backups never say anything; the other 2f + 1 replicas are a quorum and go on.
pub fn silent_replicas(config: SimConfig) {
    run("silent_replicas", config, |sim| {
        for replica in backups(sim, sim.faults_tolerated()) {
            sim.make_byzantine(replica, Box::new(Silent));
        }
        finish(sim);
        assert_eq!(sim.current_view(), View(0), "no view change was needed");
        converge(sim);
    });
}

/// A backup is cut off while the others take several checkpoints and discard the log
/// below them; once the partition heals, it learns of the stable checkpoint, fetches its
/// state, checks it against the digest a quorum signed, and catches up (PBFT §4.3).
pub fn partitioned_replica_catches_up(mut config: SimConfig) {
    let replicas = config.replicas;
    config.operations_per_client = 60;
    run("partitioned_replica_catches_up", config, |sim| {
        let lagging = ReplicaId(replicas as u32 - 1);
        sim.run_until(1_000, |s| s.operations_completed() >= 3);
        sim.isolate(lagging);
        let interval = sim.protocol().checkpoint_interval;
        let moved_on = sim.run_until(FINISH_TICKS, |s| {
            let stable = s.replica(ReplicaId(0)).stable_checkpoint().seq;
            stable.0 >= s.replica(lagging).last_executed().0 + 3 * interval
        });
        assert!(moved_on, "the others did not take three checkpoints");
        sim.heal();
        finish(sim);
        converge(sim);
        let installs = sim.sim_replica(lagging).state_installs();
        assert!(
            installs >= 1,
            "the lagging replica caught up without a state transfer"
        );
    });
}

/// The primary crashes right after the replicas took a checkpoint and before it became
/// stable: the view change carries the older stable checkpoint, and the new checkpoint
/// still becomes stable in the new view.
pub fn view_change_during_checkpoint(config: SimConfig) {
    let _replicas = config.replicas;
    run("view_change_during_checkpoint", config, |sim| {
        let interval = sim.protocol().checkpoint_interval;
        let in_checkpoint = sim.run_until(FINISH_TICKS, |s| {
            let replica = s.replica(ReplicaId(1));
            let executed = replica.last_executed().0;
            executed > 0
                && executed % interval == 0
                && replica.stable_checkpoint().seq < Seq(executed)
        });
        assert!(in_checkpoint, "no checkpoint in progress was observed");
        let pending = sim.replica(ReplicaId(1)).last_executed();
        sim.crash(ReplicaId(0));
        sim.mark_faulty(ReplicaId(0));
        finish(sim);
        converge(sim);
        for replica in sim.correct_replicas() {
            let core = sim.replica(replica);
            assert!(core.view() >= View(1));
            assert!(
                core.stable_checkpoint().seq >= pending,
                "{replica} never stabilized {pending}"
            );
        }
    });
}

/// Two primaries in a row are faulty (the first crashes, the second is silent): the view
/// change to view 1 times out and the replicas go on to view 2 with twice the timeout
/// (PBFT §4.5.2).
pub fn two_faulty_primaries_in_a_row(config: SimConfig) {
    run("two_faulty_primaries_in_a_row", config, |sim| {
        sim.run_until(2_000, |s| s.operations_completed() >= 5);
        sim.crash(ReplicaId(0));
        sim.mark_faulty(ReplicaId(0));
        sim.make_byzantine(ReplicaId(1), Box::new(Silent));
        finish(sim);
        assert!(
            sim.current_view() >= View(2),
            "view {} after two faulty primaries",
            sim.current_view()
        );
        converge(sim);
    });
}

/// A backup crashes and restarts from its durable state: it resumes without contradicting
/// anything it sent before (no evidence against it anywhere) and catches up.
pub fn crash_and_recover(config: SimConfig) {
    run("crash_and_recover", config, |sim| {
        let victim = ReplicaId(1);
        sim.run_until(2_000, |s| s.operations_completed() >= 15);
        sim.crash(victim);
        sim.run_for(150);
        sim.restart(victim);
        sim.run_until(2_000, |s| s.operations_completed() >= 40);
        sim.crash(victim);
        sim.restart(victim);
        finish(sim);
        converge(sim);
        for replica in sim.correct_replicas() {
            assert!(sim.replica(replica).evidence().against(victim).is_empty());
        }
    });
}

/// A replica loses its disk: it restarts empty, learns the stable checkpoint from its
/// peers, fetches it, and catches up. (A replica without its log may contradict what it
/// sent before, so it counts as faulty for the checks.)
pub fn wiped_replica_rejoins(mut config: SimConfig) {
    let replicas = config.replicas;
    config.operations_per_client = 50;
    run("wiped_replica_rejoins", config, |sim| {
        let victim = ReplicaId(replicas as u32 - 1);
        sim.mark_faulty(victim);
        sim.run_until(4_000, |s| s.operations_completed() >= 60);
        sim.crash(victim);
        sim.wipe(victim);
        sim.restart(victim);
        finish(sim);
        let target = sim.highest_executed();
        let caught_up = sim.run_until(FINISH_TICKS, |s| {
            s.replica(victim).last_executed() >= target
        });
        assert!(caught_up, "the wiped replica did not catch up");
        assert!(sim.sim_replica(victim).state_installs() >= 1);
        assert_eq!(
            sim.sim_replica(victim).app_snapshot(),
            sim.sim_replica(ReplicaId(0)).app_snapshot()
        );
    });
}

/// A replica loses its disk while another serves corrupt state chunks (under a true
/// manifest, so only the check of each chunk can tell): the wiped replica refuses the bad
/// ones on arrival, counts them against their sender, fetches them from other replicas,
/// and catches up all the same (PBFT §5.3.2). The corrupt server otherwise follows the
/// protocol, so the cluster stays live while the wiped replica is away.
pub fn wiped_replica_rejoins_past_corrupt_chunks(mut config: SimConfig) {
    let replicas = config.replicas;
    config.operations_per_client = 50;
    // More chunks than sources, so that every source, the liar included, is asked.
    config.snapshot_chunk_bytes = 2;
    run("wiped_replica_rejoins_past_corrupt_chunks", config, |sim| {
        let victim = ReplicaId(replicas as u32 - 1);
        let liar = ReplicaId(1);
        sim.make_byzantine(liar, Box::new(CorruptChunks { one_in: 1 }));
        sim.mark_faulty(victim);
        sim.run_until(4_000, |s| s.operations_completed() >= 60);
        sim.crash(victim);
        sim.wipe(victim);
        // The victim fetches from the 2f + 1 replicas whose CHECKPOINTs made its stable
        // certificate: with the others cut off from it, the liar is one of them.
        let quorum = 2 * sim.faults_tolerated() + 1;
        let silenced: Vec<ReplicaId> = (2..victim.0)
            .map(ReplicaId)
            .take((replicas - 1).saturating_sub(quorum))
            .collect();
        for &replica in &silenced {
            sim.cut_one_way(replica, victim);
        }
        sim.restart(victim);
        finish(sim);
        let target = sim.highest_executed();
        let caught_up = sim.run_until(FINISH_TICKS, |s| {
            s.replica(victim).last_executed() >= target
        });
        assert!(caught_up, "the wiped replica did not catch up");
        assert_eq!(
            sim.sim_replica(victim).app_snapshot(),
            sim.sim_replica(ReplicaId(0)).app_snapshot()
        );
        let stats = sim.sim_replica(victim).transfer_stats();
        assert!(sim.sim_replica(victim).state_installs() >= 1, "{stats:?}");
        assert!(
            stats.chunks_refused >= 1,
            "no corrupt chunk reached the wiped replica: {stats:?}"
        );
        assert!(stats.chunks_refetched >= stats.chunks_refused);
        assert_eq!(
            stats.faults_by_source.keys().collect::<Vec<_>>(),
            [&liar],
            "only the corrupt server is blamed"
        );
    });
}

/// Runs one Byzantine behaviour on the primary of view 0 and, separately, on a backup.
pub fn byzantine_behaviour(config: SimConfig, make: MakeBehaviour) {
    let replicas = config.replicas;
    for replica in [ReplicaId(0), ReplicaId(replicas as u32 - 1)] {
        let name = make(replica, replicas).name();
        run(name, config.clone(), |sim| {
            sim.make_byzantine(replica, make(replica, replicas));
            finish(sim);
            converge(sim);
        });
    }
}

/// A disk that acknowledged a write it had not made durable: the replica crashes and its
/// last write is torn (dropped whole on recovery, as a write-ahead log drops a torn tail).
/// It restarts on what is left, counts among the f faulty replicas (it may have forgotten
/// a message it sent), and the cluster stays safe and live; the replica catches up.
pub fn torn_last_write_is_survived(mut config: SimConfig) {
    config.operations_per_client = 40;
    run("torn_last_write_is_survived", config, |sim| {
        let victim = ReplicaId(1);
        sim.run_until(4_000, |s| s.operations_completed() >= 30);
        sim.crash_with_disk_fault(victim, DiskFault::TornLastWrite);
        sim.run_for(100);
        sim.restart(victim);
        finish(sim);
        assert!(!sim.storage_damage(victim).is_empty(), "no write was torn");
        let target = sim.highest_executed();
        let caught_up = sim.run_until(FINISH_TICKS, |s| {
            s.replica(victim).last_executed() >= target
        });
        assert!(
            caught_up,
            "the replica with the torn write did not catch up"
        );
    });
}

/// A bit of a stored record flips while the replica is down. Its checksums catch the damage
/// when the store is opened or the state restored: the replica refuses to run on it, is
/// re-provisioned on an empty disk, and catches up from its peers by state transfer,
/// ending in the state of the others.
pub fn corrupted_store_is_refused_and_rebuilt_from_peers(mut config: SimConfig) {
    config.operations_per_client = 40;
    run(
        "corrupted_store_is_refused_and_rebuilt_from_peers",
        config,
        |sim| {
            let victim = ReplicaId(2);
            sim.run_until(4_000, |s| s.operations_completed() >= 40);
            for pick in 0..8u64 {
                sim.crash_with_disk_fault(victim, DiskFault::Corrupt { pick: pick * 7919 });
                sim.restart(victim);
                sim.run_for(50);
            }
            finish(sim);
            let damage = sim.storage_damage(victim);
            assert!(
                damage.iter().any(|line| line.starts_with("refused to run")),
                "no corruption was caught: {damage:?}"
            );
            let target = sim.highest_executed();
            let caught_up = sim.run_until(FINISH_TICKS, |s| {
                s.replica(victim).last_executed() >= target
            });
            assert!(caught_up, "the re-provisioned replica did not catch up");
            assert_eq!(
                sim.sim_replica(victim).app_snapshot(),
                sim.sim_replica(ReplicaId(0)).app_snapshot()
            );
        },
    );
}

/// Twins: a second instance of the primary with its key, heard by half of the cluster.
/// One faulty identity is within the tolerance, so nothing may go wrong.
pub fn twins_within_tolerance(config: SimConfig) {
    let replicas = config.replicas;
    run("twins_within_tolerance", config, |sim| {
        let audience: Vec<Node> = (1..replicas as u32)
            .filter(|r| r % 2 == 1)
            .map(|r| Node::Replica(ReplicaId(r)))
            .chain([Node::Client(1)])
            .collect();
        sim.add_twin(ReplicaId(0), &audience);
        finish(sim);
        converge(sim);
    });
}

/// The primary can send to one backup but not hear from it, and another backup cannot
/// hear the primary at all: one-way links.
pub fn one_way_links(config: SimConfig) {
    run("one_way_links", config, |sim| {
        sim.cut_one_way(ReplicaId(1), ReplicaId(0));
        sim.cut_one_way(ReplicaId(0), ReplicaId(2));
        sim.run_for(1_500);
        sim.heal();
        finish(sim);
        converge(sim);
    });
}

/// Declares, in a test file, one `#[test]` per scenario that every cluster size runs, on
/// `$replicas` replicas. Each test takes a fixed seed unless `RAMPART_SEED` names another.
#[macro_export]
macro_rules! scenario_suite {
    ($replicas:expr) => {
        $crate::scenario_suite!(@tests $replicas;
            primary_crash = 11,
            equivocating_primary = 12,
            silent_replicas = 13,
            partitioned_replica_catches_up = 14,
            view_change_during_checkpoint = 15,
            crash_and_recover = 17,
            wiped_replica_rejoins = 18,
            wiped_replica_rejoins_past_corrupt_chunks = 22,
            torn_last_write_is_survived = 23,
            corrupted_store_is_refused_and_rebuilt_from_peers = 24,
            twins_within_tolerance = 19,
            one_way_links = 20,
        );

        #[test]
        fn every_byzantine_behaviour() {
            for make in $crate::byzantine::all_behaviours() {
                $crate::scenarios::byzantine_behaviour(
                    $crate::SimConfig::new($crate::seed_or(21), $replicas),
                    make,
                );
            }
        }
    };
    (@tests $replicas:expr; $($name:ident = $seed:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::scenarios::$name($crate::SimConfig::new($crate::seed_or($seed), $replicas));
            }
        )*
    };
}
