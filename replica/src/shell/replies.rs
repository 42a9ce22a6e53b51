//! Replies to clients: who answers (the designated replier rule), with what (a commit
//! certificate when asked), and read-only requests answered from the current state
//! (PBFT §5.1.3).

use bytes::Bytes;

use rampart_crypto::{PublicKey, Signed};

use crate::message::{Reply, Request, RequestKey, Seq, View};
use crate::wire::{CommitProof, ReplicaFrame};

use super::send::Outgoing;
use super::{Network, Shell};

/// How many certified replies may be pending; beyond it the oldest requests lose their
/// certificate (the client then gets one from another replica, or retries).
const CERTIFY_PENDING_MAX: usize = 65_536;

/// How many requests received straight from their clients, and how many received again
/// (retransmitted), are remembered (see [`Shell::should_reply`]); beyond it the oldest are
/// forgotten, which at worst makes a client retransmit once more.
const DIRECT_PENDING_MAX: usize = 65_536;

impl<N: Network> Shell<N> {
    /// Notes an ordered request that came straight from its client: whether it asked for a
    /// certificate, and whether it came before (a retransmission, which every replica
    /// answers) or asks every replica to answer.
    pub(super) fn note_request(&mut self, key: RequestKey, certify: bool, all_answer: bool) {
        if certify {
            if self.certify.len() >= CERTIFY_PENDING_MAX {
                self.certify.pop_first();
            }
            self.certify.insert(key);
        }
        if !self.direct.insert(key) || all_answer {
            if self.retransmitted.len() >= DIRECT_PENDING_MAX {
                self.retransmitted.pop_first();
            }
            self.retransmitted.insert(key);
        }
        if self.direct.len() > DIRECT_PENDING_MAX {
            self.direct.pop_first();
        }
    }

    /// PBFT §5.1.3: a read-only request, answered from the current state when the core
    /// says the state may answer it.
    pub(super) fn answer_read_only(&mut self, request: &Signed<Request>, view: View, seq: Seq) {
        let result = self
            .app
            .query(&request.value.client, &request.value.operation);
        let reply = Reply {
            view,
            seq,
            client: request.value.client,
            number: request.value.number,
            replica: self.id,
            result: Bytes::from(result),
            tentative: false,
        };
        self.push_reply(reply, true);
    }

    /// Tells a client which view this replica is in (see [`ReplicaFrame::StatusAnswer`]).
    /// It costs the replica less than a request with a bad signature, and the answer goes
    /// out on the client's own bounded queue, so a client asking again and again wastes
    /// only its own share.
    pub(super) fn answer_status(&mut self, client: PublicKey) {
        self.outgoing.push(Outgoing::Client {
            client,
            frame: ReplicaFrame::StatusAnswer {
                replica: self.id,
                view: self.core.view(),
            },
        });
    }

    pub(super) fn push_reply(&mut self, mut reply: Reply, read_only: bool) {
        if let Some((behaviour, mut context)) = self.faulty() {
            match behaviour.reply(&mut context, reply) {
                Some(changed) => reply = changed,
                None => return,
            }
        }
        let key = reply.key();
        if !read_only && !self.should_reply(key, reply.tentative) {
            return;
        }
        let (certificate, signature) = if !read_only && self.certify.remove(&key) {
            let cluster = self.core.config().cluster.id;
            let signed = Signed::sign(cluster, reply.clone(), self.signer.as_ref())
                .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"));
            (self.commit_proof(reply.seq, key), Some(signed.signature))
        } else {
            (None, None)
        };
        self.outgoing.push(Outgoing::Client {
            client: reply.client.0,
            frame: ReplicaFrame::Reply {
                reply,
                read_only,
                certificate,
                signature,
            },
        });
    }

    /// Whether to send the reply to an ordered request.
    ///
    /// A client needs f + 1 matching committed replies (PBFT §4.1), or 2f + 1 replies that
    /// match in view, sequence number and result, tentative or committed (§5.1.2), not n.
    /// Clients send every request to every replica (so that backups can tell a primary
    /// that stalls, see `core/monitor.rs`), and the primary answers, with the backups
    /// designated for the request: f of them, or 2f with tentative execution (a rotation
    /// over the backups by request number, which spreads the work). Each answers once,
    /// whether its execution was tentative or committed (replicas need not agree on that),
    /// so the primary and the designated backups give the client one of the two quorums in
    /// the normal case, instead of all n replies. If one of them is faulty or slow, the
    /// client retransmits, and every replica answers a request it received twice, and a
    /// certified one.
    ///
    /// A client that asked for a commit certificate gets no tentative reply: it waits for
    /// the committed one, which carries the certificate.
    fn should_reply(&mut self, key: RequestKey, tentative: bool) -> bool {
        if tentative && self.certify.contains(&key) {
            return false;
        }
        self.direct.remove(&key);
        if self.retransmitted.remove(&key) || self.certify.contains(&key) {
            return true;
        }
        self.core.is_designated_replier(key.number)
    }

    /// The commit certificate of `seq` and the place of `key` in its batch, if the log
    /// still holds the decision.
    fn commit_proof(&self, seq: Seq, key: RequestKey) -> Option<CommitProof> {
        self.core.commit_proof(seq, key)
    }
}
