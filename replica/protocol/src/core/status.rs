//! Retransmission driven by STATUS messages (after PBFT's status messages, TOCS §5.2).
//!
//! PBFT assumes a message is retransmitted until it arrives. Rather than resending
//! everything blindly, each replica periodically tells its peers where it is; a peer that
//! sees it behind sends what it lacks: the NEW-VIEW of a later view, its own VIEW-CHANGE
//! (for its current view, and for the peer's view if it left that one unfinished),
//! the proof of a later stable checkpoint, its own unstable checkpoints, and the messages
//! of slots that have not progressed for a while. Every relayed message is signed by its
//! author, so relays are as good as originals.

use rampart_crypto::Signed;

use super::Replica;
use crate::message::{Message, Payload, ReplicaId, Seq, Status, View, batch_bytes};

impl Replica {
    /// Where the cluster is, as far as this replica can tell: the highest view and the
    /// highest last executed sequence number that f + 1 replicas (this one included) have
    /// reached by their latest STATUS. At least one of them is correct, so faulty peers
    /// cannot make a correct replica believe it is behind. `None` until f peers have sent
    /// a STATUS: until then, the replica cannot know.
    pub fn cluster_position(&self) -> Option<(View, Seq)> {
        let quorums = self.quorums();
        let weak_quorum = quorums.weak_quorum();
        let own = (self.view, self.last_executed);
        let positions: Vec<(ReplicaId, (View, Seq))> = std::iter::once((self.id, own))
            .chain(self.peer_positions.iter().map(|(&peer, &at)| (peer, at)))
            .collect();
        if quorums.distinct(positions.iter().map(|&(replica, _)| replica)) < weak_quorum {
            return None;
        }
        let views = positions
            .iter()
            .map(|&(replica, (view, _))| (replica, view));
        let executed = positions.iter().map(|&(replica, (_, seq))| (replica, seq));
        Some((
            quorums
                .highest_reached(views, weak_quorum)
                .map_or(own.0, |view| view.max(own.0)),
            quorums
                .highest_reached(executed, weak_quorum)
                .map_or(own.1, |seq| seq.max(own.1)),
        ))
    }

    pub(super) fn send_status(&mut self) {
        let status = Status {
            replica: self.id,
            view: self.view,
            normal: self.is_normal(),
            last_executed: self.last_executed,
            stable_seq: self.low_watermark(),
        };
        self.broadcast(Payload::Status(status));
    }

    pub(super) fn on_status(
        &mut self,
        _from: ReplicaId,
        status: Signed<Status>,
    ) -> Result<(), super::Reject> {
        let status = status.value;
        let peer = status.replica;
        if self.is_own(peer) {
            return Ok(());
        }
        let position = (status.view, status.last_executed);
        let known = self.peer_positions.entry(peer).or_insert(position);
        // Reordered STATUS messages must not move a peer back.
        *known = (*known).max(position);
        // Answering a STATUS may mean relaying a window of messages: a correct peer sends
        // one per status interval, so more than two per interval are not answered, and a
        // faulty peer cannot make this replica send without bound.
        let interval = (self.config.status_interval_ticks / 2).max(1);
        if let Some(&answered) = self.status_answered.get(&peer)
            && self.now < answered + interval
        {
            return Err(super::Reject::StatusTooSoon);
        }
        self.status_answered.insert(peer, self.now);
        self.help_with_view(peer, &status);
        self.help_with_checkpoints(peer, &status);
        self.help_with_slots(peer, &status);
        Ok(())
    }

    /// A VIEW-CHANGE or NEW-VIEW can be megabytes (it carries batches), and a peer in the
    /// middle of a view change reports itself behind in every STATUS: relaying them at
    /// every status interval would flood the links with copies and hold up the very
    /// messages the view change waits for. They are relayed again to a peer only once a
    /// view-change timeout has passed with both still where they were.
    fn help_with_view(&mut self, peer: ReplicaId, status: &Status) {
        let peer_behind = status.view < self.view || (status.view == self.view && !status.normal);
        if !peer_behind {
            return;
        }
        let position = (status.view, self.view, self.is_normal());
        if let Some(&(helped, at)) = self.view_help.get(&peer)
            && helped == position
            && self.now < at + self.view_change_timeout()
        {
            return;
        }
        self.view_help.insert(peer, (position, self.now));
        if self.is_normal() {
            if let Some(new_view) = self.view_changes.new_view.clone() {
                self.relay(peer, new_view);
            }
            return;
        }
        // A peer still waiting in a view this replica left may need this replica's
        // VIEW-CHANGE for it to reach a quorum there; it certainly needs the one for this
        // replica's view to follow it.
        let earlier = (status.view < self.view && !status.normal)
            .then(|| self.view_changes.earlier_own.get(&status.view))
            .flatten();
        let current = self.view_changes.get(self.id, self.view);
        let messages: Vec<Message> = earlier
            .into_iter()
            .chain(current)
            .map(|own| Message::ViewChange {
                view_change: own.signed.clone(),
                batches: own.batches.clone(),
            })
            .collect();
        for message in messages {
            self.relay(peer, message);
        }
    }

    fn help_with_checkpoints(&mut self, peer: ReplicaId, status: &Status) {
        if status.stable_seq < self.low_watermark() {
            let proof = self.checkpoints.stable.proof.clone();
            for checkpoint in proof {
                self.relay(peer, Message::Checkpoint(checkpoint));
            }
        }
        let own: Vec<Signed<crate::message::Checkpoint>> = self
            .checkpoints
            .votes
            .range(status.stable_seq.next()..)
            .filter_map(|(_, by_replica)| by_replica.get(&self.id).cloned())
            .collect();
        for checkpoint in own {
            self.relay(peer, Message::Checkpoint(checkpoint));
        }
    }

    /// Sends what the peer lacks of the slots above its last executed one: the decision
    /// (a commit certificate) where this replica has one, whatever view either is in, and
    /// otherwise, within a shared view, the agreement messages of slots idle for a while.
    /// At most `batch_bytes_max` of batches go out per answer, lowest slots first (the
    /// peer executes in order): the next STATUS asks for the rest, and a lagging peer's
    /// catching up cannot crowd out the protocol's own messages.
    fn help_with_slots(&mut self, peer: ReplicaId, status: &Status) {
        let same_view = self.is_normal() && status.normal && status.view == self.view;
        let idle_since = self.now.saturating_sub(self.config.status_interval_ticks);
        let from = status.last_executed.max(self.low_watermark());
        let budget = self.config.batch_bytes_max;
        let mut spent = 0;
        let mut relays = Vec::new();
        for slot in self.log.slots_above(from) {
            if slot.touched_at > idle_since {
                continue;
            }
            if spent >= budget {
                break;
            }
            if let Some(certificate) = &slot.decided {
                // The peer may be unable to finish the slot in this view (its peers moved
                // on after deciding it earlier); the decision itself is what it needs.
                spent += batch_bytes(&certificate.batch);
                relays.push(Message::CommitCertificate(certificate.clone()));
                continue;
            }
            if !same_view {
                continue;
            }
            let round = &slot.round;
            if let (Some(pre_prepare), Some(batch)) = (&round.pre_prepare, &round.batch) {
                spent += batch_bytes(batch);
                relays.push(Message::PrePrepare {
                    pre_prepare: pre_prepare.clone(),
                    batch: batch.clone(),
                });
            }
            if let Some(prepare) = round.prepares.get(&self.id) {
                relays.push(Message::Prepare(prepare.clone()));
            }
            if let Some(commit) = round.commits.get(&self.id) {
                relays.push(Message::Commit(commit.clone()));
            }
        }
        for message in relays {
            self.relay(peer, message);
        }
    }
}
