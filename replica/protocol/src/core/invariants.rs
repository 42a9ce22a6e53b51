//! The core's own invariants. A failure here is a bug in Rampart, never a peer's fault, so
//! these are assertions; they run after every input in debug builds and tests.

use super::checkpoint::CHECKPOINTS_PER_REPLICA_MAX;
use super::view_change::VIEW_CHANGES_PER_REPLICA_MAX;
use super::{Replica, RequestStatus, Status};

impl Replica {
    /// Asserts the invariants of the protocol state.
    pub fn check_invariants(&self) {
        let low = self.low_watermark();
        let high = self.high_watermark();
        // A transfer runs beside the view-change protocol; `status()` reports it.
        assert_ne!(
            self.status,
            Status::Transferring,
            "{}: a stored Transferring status",
            self.id
        );
        // Execution never passes the stable checkpoint's state unseen: either this replica
        // executed up to it, or it is fetching it.
        assert!(
            self.last_executed >= low || self.transfer.is_some(),
            "{}: executed {} below the low watermark {} without a state transfer",
            self.id,
            self.last_executed,
            low
        );
        if let Some(transfer) = &self.transfer {
            assert_eq!(
                transfer.seq, low,
                "{}: a transfer targets the stable checkpoint",
                self.id
            );
            assert!(
                self.executing.is_none(),
                "{}: execution during a transfer",
                self.id
            );
        }
        let quorums = self.quorums();
        let primary = self.primary();
        for slot in self.log.slots() {
            assert!(
                slot.seq > low && slot.seq <= high,
                "{}: slot {} outside the watermarks ({low}, {high}]",
                self.id,
                slot.seq
            );
            // While changing views, the log stays in the view being left (or, after a
            // restart during a view change, in the view being entered).
            if self.is_normal() {
                assert_eq!(
                    slot.view, self.view,
                    "{}: slot {} in an old view",
                    self.id, slot.seq
                );
            } else {
                assert!(
                    slot.view <= self.view,
                    "{}: slot {} ahead of the view",
                    self.id,
                    slot.seq
                );
            }
            if let (Some(pre_prepare), Some(batch)) = (&slot.round.pre_prepare, &slot.round.batch) {
                assert_eq!(pre_prepare.value.digest, batch.digest());
                assert_eq!(pre_prepare.value.seq, slot.seq);
                assert_eq!(pre_prepare.value.view, slot.view);
            } else {
                assert!(slot.round.pre_prepare.is_none() && slot.round.batch.is_none());
            }
            // committed-local implies prepared (PBFT §4.2).
            if slot.round.is_committed(primary, quorums) {
                assert!(slot.round.is_prepared(primary, quorums));
                assert!(
                    slot.decided.is_some(),
                    "{}: committed slot {} undecided",
                    self.id,
                    slot.seq
                );
            }
            if let Some((certificate, batch)) = &slot.prepared {
                assert_eq!(certificate.seq(), slot.seq);
                assert_eq!(certificate.digest(), batch.digest());
                assert!(certificate.view() <= self.view);
                assert_eq!(certificate.prepares.len(), quorums.prepares_needed());
            }
            if let Some(certificate) = &slot.decided {
                let subject = certificate.subject();
                assert!(
                    subject.is_some(),
                    "{}: an empty commit certificate",
                    self.id
                );
                if let Some((_, seq, digest)) = subject {
                    assert_eq!(seq, slot.seq);
                    assert_eq!(digest, certificate.batch.digest());
                }
                assert!(certificate.commits.len() >= quorums.quorum());
            }
            assert!(slot.round.prepares.len() <= self.config.replica_count());
            assert!(slot.round.commits.len() <= self.config.replica_count());
        }
        if self.is_normal() && self.is_primary() {
            assert!(
                self.next_seq > low,
                "{}: next sequence number below the window",
                self.id
            );
            assert!(
                self.next_seq.0 <= high.0 + 1,
                "{}: next sequence number above the window",
                self.id
            );
        }
        let next = self.last_executed.next();
        if let Some(tentative) = &self.tentative {
            assert_eq!(
                tentative.seq, next,
                "{}: tentative execution out of place",
                self.id
            );
            assert!(
                self.transfer.is_none(),
                "{}: tentative during transfer",
                self.id
            );
            assert!(
                !next.0.is_multiple_of(self.config.checkpoint_interval),
                "{}: tentative execution at a checkpoint",
                self.id
            );
        }
        if let Some(tentative) = &self.tentative {
            // Execution stays busy until the shell reports the results, so a tentative
            // batch that is not executing has them (`commit_tentative` relies on it).
            assert!(
                self.executing.is_some() || tentative.has_results(),
                "{}: a tentative execution without results that is not running",
                self.id
            );
        }
        if self.executing.is_some() {
            let running_ahead = self.tentative.as_ref().is_some_and(|t| !t.has_results());
            assert!(
                running_ahead
                    || self
                        .log
                        .get(next)
                        .is_some_and(|slot| slot.decided.is_some()),
                "{}: executing {next}, which is neither decided nor tentative",
                self.id
            );
        }
        for seq in self.missing_batches.seqs() {
            assert!(
                self.log
                    .get(seq)
                    .is_none_or(|slot| slot.round.pre_prepare.is_none()),
                "{}: a slot waits for a batch it holds",
                self.id
            );
        }
        for (seq, by_replica) in &self.checkpoints.votes {
            assert!(*seq > low);
            assert!(!by_replica.is_empty());
        }
        for replica in self.config.cluster.replica_ids() {
            let held = self
                .checkpoints
                .votes
                .values()
                .filter(|by_replica| by_replica.contains_key(&replica))
                .count();
            assert!(held <= CHECKPOINTS_PER_REPLICA_MAX);
        }
        for (_, record) in self.clients.records() {
            assert!(record.replies.len() as u64 <= self.config.client_window);
            assert!(record.replies.keys().all(|&number| number >= record.floor));
        }
        for count in self.requests.quota_counts() {
            assert!(count >= 1 && count <= self.config.client_window);
        }
        assert_eq!(
            self.requests.quota_counts().sum::<u64>() as usize,
            self.requests.waiting_count()
        );
        assert_eq!(self.monitor.arrival_count(), self.requests.waiting_count());
        assert!(self.requests.assigned_count() <= self.requests.waiting_count());
        if let Some((timed, _)) = self.request_timer() {
            assert!(
                !self.is_changing_view() && !self.is_primary(),
                "{}: request timer outside a backup in its view",
                self.id
            );
            assert!(
                self.requests.get(&timed).is_some(),
                "{}: the request timer times a request that does not wait",
                self.id
            );
        }
        for key in self.requests.keys() {
            assert_eq!(
                self.clients.status(*key),
                RequestStatus::New,
                "{}: a request that cannot execute waits",
                self.id
            );
        }
        for view_change in self.view_changes.all() {
            let target = view_change.signed.value.new_view;
            assert!(target > self.view || (target == self.view && !self.is_normal()));
        }
        assert!(self.view_changes.per_replica_max() <= VIEW_CHANGES_PER_REPLICA_MAX);
        assert!(self.view_changes.earlier_own.len() <= VIEW_CHANGES_PER_REPLICA_MAX);
        for (view, own) in &self.view_changes.earlier_own {
            assert!(
                !self.is_normal(),
                "{}: earlier VIEW-CHANGEs kept in a started view",
                self.id
            );
            assert!(*view < self.view && own.signed.value.new_view == *view);
            assert_eq!(own.signed.value.replica, self.id);
        }
    }
}
