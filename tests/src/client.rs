//! Simulated clients: they sign requests, send them to the primary they believe in,
//! broadcast on a timeout, and accept a result once f + 1 replicas report it (PBFT §4.1).

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_crypto::{ClusterId, Signed, Signer};
use rampart_replica::core::Rng;
use rampart_replica::message::{
    ClientId, ReplicaId, Reply, Request, ResultVote, View, accepted_result,
};

use crate::checker::linearizability::Operation;
use crate::kv::{KvOp, KvResult};
use crate::network::{Envelope, Node, Packet};

#[derive(Clone, Debug)]
struct Pending {
    history_index: usize,
    request: Signed<Request>,
    last_sent_at: u64,
    /// Each replica's latest reply.
    replies: BTreeMap<ReplicaId, Reply>,
}

/// What a simulated client does.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    pub operations: usize,
    pub in_flight_max: usize,
    pub keys: u8,
    pub timeout_ticks: u64,
    /// The replicas' `client_window`: a client never issues a request number that far
    /// above its oldest unanswered one, or the replicas' reply cache could forget the old
    /// request before executing it.
    pub window: u64,
}

pub struct SimClient {
    pub index: usize,
    pub id: ClientId,
    config: ClientConfig,
    signer: Arc<dyn Signer>,
    cluster: ClusterId,
    replica_count: usize,
    weak_quorum: usize,
    rng: Rng,
    issued: usize,
    next_number: u64,
    /// The view each replica last reported; the client believes the highest view that
    /// f + 1 replicas report, so a faulty replica cannot misdirect it alone.
    reported_views: BTreeMap<ReplicaId, View>,
    pending: BTreeMap<u64, Pending>,
    pub history: Vec<Operation<KvOp, KvResult>>,
    pub retransmissions: u64,
}

impl std::fmt::Debug for SimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClient")
            .field("index", &self.index)
            .field("issued", &self.issued)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl SimClient {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        signer: Arc<dyn Signer>,
        cluster: ClusterId,
        replica_count: usize,
        config: ClientConfig,
        seed: u64,
    ) -> SimClient {
        SimClient {
            index,
            id: ClientId(signer.public_key()),
            config,
            signer,
            cluster,
            replica_count,
            weak_quorum: (replica_count - 1) / 3 + 1,
            rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x9e37_79b9)),
            issued: 0,
            next_number: 1,
            reported_views: BTreeMap::new(),
            pending: BTreeMap::new(),
            history: Vec::new(),
            retransmissions: 0,
        }
    }

    /// Whether every operation was issued and completed.
    pub fn is_done(&self) -> bool {
        self.issued == self.config.operations && self.pending.is_empty()
    }

    pub fn completed(&self) -> usize {
        self.history
            .iter()
            .filter(|op| op.completed.is_some())
            .count()
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Issues new operations and retransmits old ones.
    pub fn tick(&mut self, now: u64, outgoing: &mut Vec<Envelope>) {
        while self.pending.len() < self.config.in_flight_max
            && self.issued < self.config.operations
            && self.within_window()
        {
            self.issue(now, outgoing);
        }
        for pending in self.pending.values_mut() {
            if now >= pending.last_sent_at + self.config.timeout_ticks {
                // PBFT §4.1: on a timeout, the client broadcasts the request to all replicas.
                pending.last_sent_at = now;
                self.retransmissions += 1;
                for replica in 0..self.replica_count as u32 {
                    outgoing.push(Envelope {
                        from: Node::Client(self.index),
                        to: Node::Replica(ReplicaId(replica)),
                        packet: Packet::Request(pending.request.clone()),
                    });
                }
            }
        }
    }

    fn within_window(&self) -> bool {
        self.pending
            .keys()
            .next()
            .is_none_or(|&oldest| self.next_number < oldest + self.config.window)
    }

    fn issue(&mut self, now: u64, outgoing: &mut Vec<Envelope>) {
        let key = self.rng.below(u64::from(self.config.keys)) as u8;
        let number = self.next_number;
        self.next_number += 1;
        let op = if self.rng.chance(1, 2) {
            KvOp::Put {
                key,
                value: (self.index as u64) << 32 | number,
            }
        } else {
            KvOp::Get { key }
        };
        let request = Request {
            client: self.id,
            number,
            operation: op.encode(),
            read_only: false,
        };
        let request = Signed::sign(self.cluster, request, self.signer.as_ref())
            .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"));
        self.history.push(Operation {
            client: self.index,
            invoked_at: now,
            completed: None,
            op,
        });
        self.issued += 1;
        let primary = self.believed_view().primary(self.replica_count);
        outgoing.push(Envelope {
            from: Node::Client(self.index),
            to: Node::Replica(primary),
            packet: Packet::Request(request.clone()),
        });
        self.pending.insert(
            number,
            Pending {
                history_index: self.history.len() - 1,
                request,
                last_sent_at: now,
                replies: BTreeMap::new(),
            },
        );
    }

    fn believed_view(&self) -> View {
        let mut views: Vec<View> = self.reported_views.values().copied().collect();
        views.sort_unstable_by(|a, b| b.cmp(a));
        views.get(self.weak_quorum - 1).copied().unwrap_or_default()
    }

    /// A reply from replica `from` (as the network authenticated it, whatever the reply
    /// claims): the result is accepted once f + 1 replicas sent the same committed one, or
    /// 2f + 1 the same one for one view and sequence number, tentative or not (PBFT
    /// §5.1.2), as the client SDK does.
    pub fn on_reply(&mut self, now: u64, from: ReplicaId, reply: Reply) {
        if reply.client != self.id {
            return;
        }
        let reported = self.reported_views.entry(from).or_default();
        *reported = (*reported).max(reply.view);
        let number = reply.number;
        let Some(pending) = self.pending.get_mut(&number) else {
            return;
        };
        pending.replies.insert(from, reply);
        let votes: Vec<ResultVote<'_>> = pending.replies.values().map(Reply::vote).collect();
        let quorum = self.replica_count - (self.weak_quorum - 1);
        let Some(result) = accepted_result(&votes, self.weak_quorum, quorum, true) else {
            return;
        };
        let result = KvResult::decode(result).unwrap_or(KvResult::Invalid);
        let pending = self.pending.remove(&number).expect("present above");
        self.history[pending.history_index].completed = Some((now, result));
    }
}
