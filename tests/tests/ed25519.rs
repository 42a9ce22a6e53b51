//! Scenarios with real ed25519 signatures end to end (the other tests use the simulator's
//! keyed tags for speed): every message the replicas and clients exchange is signed and
//! batch-verified exactly as in production.

use rampart_testkit::byzantine::ForgeSignatures;
use rampart_testkit::{SignatureMode, SimConfig, scenarios, seed_or};

fn config(seed: u64, replicas: usize) -> SimConfig {
    let mut config = SimConfig::new(seed, replicas);
    config.signatures = SignatureMode::Ed25519;
    config.operations_per_client = 20;
    config
}

#[test]
fn primary_crash_with_ed25519() {
    scenarios::primary_crash(config(seed_or(41), 4));
}

#[test]
fn equivocating_primary_with_ed25519() {
    scenarios::equivocating_primary(config(seed_or(42), 4));
}

#[test]
fn forged_signatures_are_refused_with_ed25519() {
    scenarios::byzantine_behaviour(config(seed_or(43), 4), |_, _| Box::new(ForgeSignatures));
}

#[test]
fn partitioned_replica_catches_up_with_ed25519() {
    scenarios::partitioned_replica_catches_up(config(seed_or(44), 4));
}

#[test]
fn two_faulty_primaries_in_a_row_with_ed25519() {
    scenarios::two_faulty_primaries_in_a_row(config(seed_or(45), 7));
}
