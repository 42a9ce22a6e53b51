//! Step tests for what a replica knows of where the cluster is (`status.rs`), from its
//! peers' STATUS messages: what its readiness is judged by.

use super::*;

/// Where the cluster is, for readiness: what f + 1 replicas reached by their latest
/// STATUS, so one faulty peer alone cannot make a replica believe it is behind.
#[test]
fn the_cluster_position_is_what_f_plus_one_replicas_reached() {
    let h = Harness::new(4);
    let mut replica = h.replica(3);
    let status = |from: u32, view: u64, last_executed: u64| {
        let status = crate::message::Status {
            replica: ReplicaId(from),
            view: View(view),
            normal: true,
            last_executed: Seq(last_executed),
            stable_seq: Seq(0),
        };
        Message::Status(h.sign(from, status))
    };
    assert_eq!(replica.cluster_position(), None, "no peer heard from yet");
    deliver(&mut replica, 0, status(0, 7, 900));
    assert_eq!(replica.cluster_position(), Some((View(0), Seq(0))));
    deliver(&mut replica, 1, status(1, 2, 300));
    assert_eq!(replica.cluster_position(), Some((View(2), Seq(300))));
    // A STATUS overtaken by a later one does not move its replica back.
    deliver(&mut replica, 1, status(1, 1, 100));
    assert_eq!(replica.cluster_position(), Some((View(2), Seq(300))));
}
