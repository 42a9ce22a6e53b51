use rampart_replica::message::ReplicaId;
use rampart_testkit::{SimConfig, Simulation};

#[test]
fn a_fault_free_cluster_completes_every_operation() {
    let mut sim = Simulation::new(SimConfig::new(rampart_testkit::seed_or(1), 4));
    assert!(sim.run_until_clients_done(5_000), "stats {:?}", sim.stats());
    sim.assert_no_violations("a_fault_free_cluster_completes_every_operation");
    println!("{:?}", sim.stats());
    for r in sim.replica_ids() {
        println!(
            "{r}: executed {} stable {} rejects {:?}",
            sim.replica(r).last_executed(),
            sim.replica(r).stable_checkpoint().seq,
            sim.replica(r).rejects()
        );
    }
    let _ = ReplicaId(0);
}
