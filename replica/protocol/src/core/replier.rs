//! Who answers a client, and with what proof (PBFT §4.1, §5.1.1).
//!
//! A client needs f + 1 matching committed replies (§4.1), or 2f + 1 replies that match in
//! view, sequence number and result, tentative or committed (§5.1.2); not n. PBFT's digest
//! replies (§5.1.1) have one designated replica send the result and the others only its
//! digest. Rampart's replies travel over the client's own authenticated connection and are
//! small next to the request, so it designates replicas to answer and lets the others stay
//! silent: clients send every request to every replica (so that backups can tell a primary
//! that stalls, see `monitor.rs`), and the primary answers, with the backups designated for
//! the request: f of them, or 2f with tentative execution, in a rotation over the backups
//! by request number, which spreads the work. The primary and the designated backups give
//! the client one of its two quorums in the normal case. If one of them is faulty or slow,
//! the client retransmits, and every replica answers a request it received twice; the
//! shell keeps track of that, and of requests whose client asked for a certificate, which
//! every replica answers too.

use super::Replica;
use crate::message::{CommitProof, ReplicaId, RequestKey, Seq};

/// Whether `replica` is one of the `backups` backups designated to answer request
/// `number` when `primary` leads a cluster of `n`: a rotation over the n − 1 backups by
/// request number, which spreads the replies. The primary is never designated (it answers
/// because the client sent it the request), nor is a replica outside the cluster.
pub fn answers_as_backup(
    replica: ReplicaId,
    primary: ReplicaId,
    n: usize,
    backups: usize,
    number: u64,
) -> bool {
    let n = n as u64;
    if n < 2 || u64::from(replica.0) >= n || u64::from(primary.0) >= n {
        return false;
    }
    // This replica's place among the backups: 0 to n - 2.
    let place = (u64::from(replica.0) + n - u64::from(primary.0)) % n;
    if place == 0 {
        return false;
    }
    let first = number % (n - 1);
    ((place - 1) + (n - 1) - first) % (n - 1) < backups as u64
}

impl Replica {
    /// Whether this replica is designated to answer the ordered request numbered `number`
    /// in its current view: it is the primary, or one of the f backups (2f with tentative
    /// execution) [`answers_as_backup`] designates.
    pub fn is_designated_replier(&self, number: u64) -> bool {
        let quorums = self.quorums();
        let f = quorums.faults_tolerated();
        let backups = if self.config.tentative_execution {
            2 * f
        } else {
            f
        };
        self.is_primary()
            || answers_as_backup(
                self.id,
                self.primary(),
                quorums.replica_count(),
                backups,
                number,
            )
    }

    /// The proof that request `key` committed at `seq`, for a client that asked for a
    /// certificate: the slot's commit certificate and the place of `key` in its batch, if
    /// the log still holds the decision.
    pub fn commit_proof(&self, seq: Seq, key: RequestKey) -> Option<CommitProof> {
        self.log.get(seq)?.decided.as_ref()?.proof_for(key)
    }
}
