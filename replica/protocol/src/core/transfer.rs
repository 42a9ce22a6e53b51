//! State transfer at the protocol level (PBFT §5.3.2): a replica whose execution is behind
//! the stable checkpoint fetches that checkpoint's state from the replicas that signed it,
//! checks it against the digest a quorum signed, installs it, and goes on executing from
//! the log. The shell moves the state in chunks, each checked on arrival
//! (the `transfer` module); the core decides what to fetch, keeps the deadline, and judges
//! the result.
//!
//! The deadline is for progress, not for the whole transfer: every part that checks out
//! ([`Input::StateProgress`](super::Input::StateProgress)) moves it, so a large state
//! arrives however long it takes, as long as it keeps arriving. When no part arrives in
//! time, the core asks again, and the shell gives every source another chance without
//! losing what it holds. When a newer checkpoint becomes stable mid-transfer, the core
//! asks for that one instead, and the shell fetches only the chunks that changed.

use rampart_crypto::Digest;

use super::{Action, ClientTable, Reject, Replica, checkpoint_digest};
use crate::message::{CheckpointCertificate, ReplicaId, Seq};

#[derive(Clone, Debug)]
pub(super) struct Transfer {
    pub(super) seq: Seq,
    pub(super) state_digest: Digest,
    /// The replicas that signed the checkpoint, this one excluded, in the order to try.
    sources: Vec<ReplicaId>,
    attempt: usize,
    deadline: u64,
}

impl Replica {
    pub(super) fn start_transfer(&mut self, certificate: &CheckpointCertificate) {
        let mut sources: Vec<ReplicaId> = certificate
            .proof
            .iter()
            .map(|c| c.value.replica)
            .filter(|&r| r != self.id)
            .collect();
        if sources.is_empty() {
            // Only possible for a certificate made of this replica's own checkpoint.
            sources = self
                .config
                .cluster
                .replica_ids()
                .filter(|&r| r != self.id)
                .collect();
        }
        // Spread the load of transfers over the sources.
        let offset = self.rng.below(sources.len() as u64) as usize;
        sources.rotate_left(offset);
        tracing::info!(
            replica = %self.id, seq = %certificate.seq, last_executed = %self.last_executed,
            "fetching the state of the stable checkpoint"
        );
        self.executing = None;
        // The installed state replaces whatever ran ahead of the committed batches.
        self.tentative = None;
        self.transfer = Some(Transfer {
            seq: certificate.seq,
            state_digest: certificate.state_digest,
            sources,
            attempt: 0,
            deadline: 0,
        });
        self.request_state();
    }

    fn request_state(&mut self) {
        let timeout = self.config.state_transfer_timeout_ticks;
        let now = self.now;
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        transfer.deadline = now + timeout;
        let mut from = transfer.sources.clone();
        let start = transfer.attempt % from.len();
        from.rotate_left(start);
        let action = Action::FetchState {
            seq: transfer.seq,
            state_digest: transfer.state_digest,
            from,
        };
        self.emit(action);
    }

    /// Asks again, starting with the next source, when nothing arrived in time.
    pub(super) fn check_transfer_timer(&mut self) {
        let now = self.now;
        let Some(transfer) = self.transfer.as_mut() else {
            return;
        };
        if now >= transfer.deadline {
            tracing::info!(
                replica = %self.id, seq = %transfer.seq,
                "no part of the state arrived in time: asking the sources again"
            );
            transfer.attempt += 1;
            self.request_state();
        }
    }

    /// Part of the state arrived and checked out: the transfer is alive, so its deadline
    /// moves. Progress on a state no longer wanted changes nothing.
    pub(super) fn on_state_progress(&mut self, seq: Seq) {
        let deadline = self.now + self.config.state_transfer_timeout_ticks;
        if let Some(transfer) = self.transfer.as_mut().filter(|t| t.seq == seq) {
            transfer.deadline = deadline;
        }
    }

    /// The shell fetched a state: install it if its digest is the one a quorum signed.
    pub(super) fn on_state_fetched(
        &mut self,
        seq: Seq,
        from: ReplicaId,
        app_digest: Digest,
        client_table: ClientTable,
    ) -> Result<(), Reject> {
        let Some(transfer) = self.transfer.as_mut() else {
            return Err(Reject::UnexpectedState);
        };
        if transfer.seq != seq {
            return Err(Reject::UnexpectedState);
        }
        let state_digest = checkpoint_digest(seq, app_digest, &client_table);
        if state_digest != transfer.state_digest {
            tracing::warn!(replica = %self.id, %from, %seq, "fetched state does not match the stable checkpoint");
            transfer.attempt += 1;
            self.request_state();
            return Err(Reject::StateDigestMismatch);
        }
        tracing::info!(replica = %self.id, %from, %seq, "state transfer complete");
        self.transfer = None;
        self.emit(Action::InstallState { seq, state_digest });
        self.last_executed = seq;
        self.clients = client_table;
        self.drop_all_superseded();
        self.arm_request_timer();
        if self.next_seq <= seq {
            self.next_seq = seq.next();
        }
        self.execute_next();
        self.propose();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests;
