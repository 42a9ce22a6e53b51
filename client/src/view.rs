//! Which view the client believes the cluster is in, and so which replica it sends new
//! requests to first (PBFT §4.1: the primary of view v is replica v mod n).

use rampart_replica::message::{ReplicaId, View};

/// The highest view reported by each replica, and the view the client believes.
///
/// A reply's view is only the word of the replica that sent it, and a faulty replica may
/// claim any view. The client believes view v once f + 1 replicas have reported v or a
/// higher one: at least one of them is correct, so the cluster has really reached v.
#[derive(Debug)]
pub(crate) struct ViewTracker {
    reported: Vec<View>,
    weak_quorum: usize,
}

impl ViewTracker {
    pub(crate) fn new(replica_count: usize, weak_quorum: usize) -> ViewTracker {
        assert!(weak_quorum >= 1 && weak_quorum <= replica_count);
        ViewTracker {
            reported: vec![View(0); replica_count],
            weak_quorum,
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
        let mut views = self.reported.clone();
        views.sort_unstable_by(|a, b| b.cmp(a));
        views[self.weak_quorum - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_replica_cannot_move_the_believed_view() {
        let mut views = ViewTracker::new(4, 2);
        views.observe(ReplicaId(3), View(1_000));
        assert_eq!(views.believed(), View(0));
        views.observe(ReplicaId(1), View(2));
        assert_eq!(views.believed(), View(2));
    }

    #[test]
    fn the_believed_view_follows_f_plus_1_replicas_and_never_goes_back() {
        let mut views = ViewTracker::new(4, 2);
        views.observe(ReplicaId(0), View(3));
        views.observe(ReplicaId(2), View(5));
        assert_eq!(views.believed(), View(3));
        views.observe(ReplicaId(0), View(1));
        assert_eq!(views.believed(), View(3));
        views.observe(ReplicaId(9), View(7));
        assert_eq!(views.believed(), View(3));
    }
}
