//! Which view the client believes the cluster is in, and so which replica it sends new
//! requests to first (PBFT §4.1: the primary of view v is replica v mod n).

use rampart_protocol::core::Quorums;
use rampart_protocol::message::{ReplicaId, View};

/// The highest view reported by each replica, and the view the client believes.
///
/// A reply's view is only the word of the replica that sent it, and a faulty replica may
/// claim any view. The client believes view v once f + 1 replicas have reported v or a
/// higher one: at least one of them is correct, so the cluster has really reached v.
#[derive(Debug)]
pub(crate) struct ViewTracker {
    reported: Vec<View>,
    quorums: Quorums,
}

impl ViewTracker {
    pub(crate) fn new(quorums: Quorums) -> ViewTracker {
        ViewTracker {
            reported: vec![View(0); quorums.replica_count()],
            quorums,
        }
    }

    /// Replica `from` said it is in `view`. Views only grow, so an older report (a late or
    /// cached reply) changes nothing.
    pub(crate) fn observe(&mut self, from: ReplicaId, view: View) {
        if let Some(highest) = self.reported.get_mut(from.0 as usize) {
            *highest = (*highest).max(view);
        }
    }

    /// The highest view at least f + 1 replicas have reached.
    pub(crate) fn believed(&self) -> View {
        let reported = (0..).map(ReplicaId).zip(self.reported.iter().copied());
        self.quorums
            .highest_reached(reported, self.quorums.weak_quorum())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_replica_cannot_move_the_believed_view() {
        let mut views = ViewTracker::new(Quorums::new(4));
        views.observe(ReplicaId(3), View(1_000));
        assert_eq!(views.believed(), View(0));
        views.observe(ReplicaId(1), View(2));
        assert_eq!(views.believed(), View(2));
    }

    #[test]
    fn the_believed_view_follows_f_plus_1_replicas_and_never_goes_back() {
        let mut views = ViewTracker::new(Quorums::new(4));
        views.observe(ReplicaId(0), View(3));
        views.observe(ReplicaId(2), View(5));
        assert_eq!(views.believed(), View(3));
        views.observe(ReplicaId(0), View(1));
        assert_eq!(views.believed(), View(3));
        views.observe(ReplicaId(9), View(7));
        assert_eq!(views.believed(), View(3));
    }
}
