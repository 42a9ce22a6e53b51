//! Named scenarios on a cluster of 4 replicas tolerating 1 fault. Each prints its seed on
//! failure; replay one with `RAMPART_SEED=<seed> cargo nextest run -p rampart-testkit <name>`.

rampart_testkit::scenario_suite!(4);
