//! Named scenarios on a cluster of 7 replicas tolerating 2 fault(s). Each prints its seed on
//! failure; replay one with `RAMPART_SEED=<seed> cargo nextest run -p rampart-testkit <name>`.

use rampart_testkit::byzantine::all_behaviours;
use rampart_testkit::scenarios;
use rampart_testkit::{SimConfig, seed_or};

const REPLICAS: usize = 7;

#[test]
fn primary_crash() {
    scenarios::primary_crash(SimConfig::new(seed_or(11), REPLICAS));
}

#[test]
fn equivocating_primary() {
    scenarios::equivocating_primary(SimConfig::new(seed_or(12), REPLICAS));
}

#[test]
fn silent_replicas() {
    scenarios::silent_replicas(SimConfig::new(seed_or(13), REPLICAS));
}

#[test]
fn partitioned_replica_catches_up() {
    scenarios::partitioned_replica_catches_up(SimConfig::new(seed_or(14), REPLICAS));
}

#[test]
fn view_change_during_checkpoint() {
    scenarios::view_change_during_checkpoint(SimConfig::new(seed_or(15), REPLICAS));
}

#[test]
fn two_faulty_primaries_in_a_row() {
    scenarios::two_faulty_primaries_in_a_row(SimConfig::new(seed_or(16), REPLICAS));
}

#[test]
fn crash_and_recover() {
    scenarios::crash_and_recover(SimConfig::new(seed_or(17), REPLICAS));
}

#[test]
fn wiped_replica_rejoins() {
    scenarios::wiped_replica_rejoins(SimConfig::new(seed_or(18), REPLICAS));
}

#[test]
fn twins_within_tolerance() {
    scenarios::twins_within_tolerance(SimConfig::new(seed_or(19), REPLICAS));
}

#[test]
fn one_way_links() {
    scenarios::one_way_links(SimConfig::new(seed_or(20), REPLICAS));
}

#[test]
fn every_byzantine_behaviour() {
    for make in all_behaviours() {
        scenarios::byzantine_behaviour(SimConfig::new(seed_or(21), REPLICAS), make);
    }
}
