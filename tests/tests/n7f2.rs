//! Named scenarios on a cluster of 7 replicas tolerating 2 faults, including one that
//! needs f = 2. Each prints its seed on failure; replay one with
//! `RAMPART_SEED=<seed> cargo nextest run -p rampart-testkit <name>`.

use rampart_testkit::{SimConfig, scenarios, seed_or};

const REPLICAS: usize = 7;

rampart_testkit::scenario_suite!(REPLICAS);

#[test]
fn two_faulty_primaries_in_a_row() {
    scenarios::two_faulty_primaries_in_a_row(SimConfig::new(seed_or(16), REPLICAS));
}
