//! Rampart's test kit: a deterministic simulator that runs the production replica (its
//! protocol core and its shell, store and inbound checks, see [`machine`]) with a seeded
//! network, crashes and restarts, faulty disks, Byzantine replicas and Twins, and checkers
//! for safety, linearizability and liveness; and seeded fault campaigns
//! ([`campaign::Campaign`]) that run them against any application, given a workload and a
//! sequential model of it.
//!
//! ```no_run
//! use rampart_testkit::{SimConfig, Simulation};
//! use rampart_replica::message::ReplicaId;
//!
//! let mut sim = Simulation::new(SimConfig::new(42, 4));
//! sim.run_for(100);
//! sim.crash(ReplicaId(0)); // the primary of view 0
//! assert!(sim.run_until_clients_done(5_000));
//! sim.assert_no_violations("primary_crash");
//! ```
//!
//! Every run is drawn from a seed, and every failure prints the seed that replays it:
//! `RAMPART_SEED=<seed>` replays one, `RAMPART_SEEDS=<count>` runs a campaign on more seeds
//! than its default.

pub mod byzantine;
pub mod campaign;
pub mod checker;
pub mod client;
pub mod faulty_client;
pub mod machine;
pub mod models;
pub mod network;
pub mod real;
pub mod scenarios;
pub mod signatures;
pub mod simulation;
pub mod stranger;
pub mod workload;

pub use checker::Violation;
pub use faulty_client::ClientFault;
pub use network::{NetworkConfig, Node};
pub use signatures::SignatureMode;
pub use simulation::{RunStats, SimConfig, Simulation};

/// The seed to use: `RAMPART_SEED` if set (to replay a failure), else `default`.
pub fn seed_or(default: u64) -> u64 {
    std::env::var("RAMPART_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}
