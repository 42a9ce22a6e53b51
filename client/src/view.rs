//! Which view the client believes the cluster is in, and so which replicas answer its
//! requests (PBFT §4.1: the primary of view v is replica v mod n; the client learns the view
//! from replies).
//!
//! A client sends every request to every replica, so the view never decides where a
//! request goes. It decides who answers: the primary and the backups designated for the
//! request (`rampart_protocol::core::replier`), while the others stay silent unless asked
//! to answer too. A fresh client that does not know the view cannot tell whether a replica
//! that is down is among them, and if it is, the request waits a whole retransmission
//! interval for the answer that never comes. Knowing the view, and which replicas have
//! answered at all, the client asks every replica to answer whenever a designated one has
//! not been heard from.

use rampart_protocol::core::{Quorums, answers_as_backup};
use rampart_protocol::message::{ReplicaId, View};

/// The highest view reported by each replica, and the view the client believes.
///
/// What a replica reports, in a reply or a status answer, is only its own word, and a
/// faulty replica may claim any view. The client believes view v once f + 1 replicas have
/// reported v or a higher one: at least one of them is correct, so the cluster has really
/// reached v, and f faulty replicas can neither push the believed view forward nor, since
/// views only grow, pull it back.
///
/// Even so the believed view is only a hint: it chooses whom the client asks to answer,
/// never which result it accepts (always f + 1 matching replies) nor which replicas get the
/// request (always all of them). A view that is wrong, because faulty replicas lied or the
/// cluster moved on since, costs at worst one retransmission, as it would without a view,
/// or replies from every replica where fewer would have done.
#[derive(Debug)]
pub(crate) struct ViewTracker {
    /// None until the replica says anything.
    reported: Vec<Option<View>>,
    quorums: Quorums,
}

impl ViewTracker {
    pub(crate) fn new(quorums: Quorums) -> ViewTracker {
        ViewTracker {
            reported: vec![None; quorums.replica_count()],
            quorums,
        }
    }

    /// Replica `from` said it is in `view`. Views only grow, so an older report (a late or
    /// cached reply) changes nothing but the fact that `from` answers.
    pub(crate) fn observe(&mut self, from: ReplicaId, view: View) {
        if let Some(highest) = self.reported.get_mut(from.0 as usize) {
            *highest = Some(highest.map_or(view, |highest| highest.max(view)));
        }
    }

    /// How many replicas have reported a view.
    pub(crate) fn heard_count(&self) -> usize {
        self.reported.iter().flatten().count()
    }

    /// The highest view at least f + 1 replicas have reached.
    pub(crate) fn believed(&self) -> View {
        let reported = (0..)
            .map(ReplicaId)
            .zip(self.reported.iter().copied())
            .filter_map(|(replica, view)| Some((replica, view?)));
        self.quorums
            .highest_reached(reported, self.quorums.weak_quorum())
            .unwrap_or_default()
    }

    /// The primary of the believed view.
    pub(crate) fn primary(&self) -> ReplicaId {
        self.believed().primary(self.quorums.replica_count())
    }

    /// Whether a replica designated to answer request `number` in the believed view has
    /// never been heard from: then the request asks every replica to answer, since the
    /// designated one may be down.
    ///
    /// The designated backups are reckoned as with tentative execution, 2f of them: that
    /// rotation holds the f a replica designates without it, so the guess errs only
    /// towards asking more replicas.
    pub(crate) fn designated_unheard(&self, number: u64) -> bool {
        let replica_count = self.quorums.replica_count();
        let backups = 2 * self.quorums.faults_tolerated();
        let primary = self.primary();
        (0..replica_count as u32).map(ReplicaId).any(|replica| {
            let designated = replica == primary
                || answers_as_backup(replica, primary, replica_count, backups, number);
            designated && self.reported[replica.0 as usize].is_none()
        })
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
        assert_eq!(views.primary(), ReplicaId(2));
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
        assert_eq!(views.heard_count(), 2);
    }

    /// In view 1 (primary 1) with 2f = 2 designated backups, request number k leaves out
    /// the backup in place (k + 2) mod 3 + 1 after the primary: replica 0 for k = 3,
    /// replica 2 for k = 4 and replica 3 for k = 5.
    #[test]
    fn a_designated_replier_never_heard_from_makes_the_request_ask_everyone() {
        let mut views = ViewTracker::new(Quorums::new(4));
        for replica in [1, 2, 3] {
            views.observe(ReplicaId(replica), View(1));
        }
        assert_eq!(views.primary(), ReplicaId(1));
        // Replica 0 is silent: only the request that leaves it out need not ask everyone.
        assert!(!views.designated_unheard(3));
        assert!(views.designated_unheard(4));
        assert!(views.designated_unheard(5));
        views.observe(ReplicaId(0), View(0));
        assert!((3..6).all(|number| !views.designated_unheard(number)));
    }

    #[test]
    fn before_any_answer_every_request_asks_everyone() {
        let views = ViewTracker::new(Quorums::new(4));
        assert!((0..3).all(|number| views.designated_unheard(number)));
    }
}
