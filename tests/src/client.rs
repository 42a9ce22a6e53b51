//! Simulated clients: they sign requests, send them to the primary they believe in,
//! broadcast on a timeout, and accept a result once f + 1 replicas report it (PBFT §4.1).
//! Some reads go the read-only way (§5.1.3): to every replica, accepted on 2f + 1
//! matching answers, and ordered after all if those do not come.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use rampart_crypto::{ClusterId, Signed, Signer};
use rampart_replica::core::quorum::{Quorums, ResultVote, accepted_result};
use rampart_replica::message::{ClientId, Refusal, ReplicaId, Reply, Request};

use crate::checker::linearizability::Operation;
use crate::network::{Envelope, Node, Packet};
use crate::workload::Invocation;

#[derive(Clone, Debug)]
struct Pending {
    history_index: usize,
    request: Signed<Request>,
    last_sent_at: u64,
    /// Each replica's latest reply.
    replies: BTreeMap<ReplicaId, Reply>,
    /// The replicas that refused it for good, by kind of refusal.
    refusals: BTreeMap<ReplicaId, &'static str>,
    /// For a read-only attempt: the answers so far, and when to give up and order it.
    read_only: Option<ReadOnlyAttempt>,
}

#[derive(Clone, Debug)]
struct ReadOnlyAttempt {
    answers: BTreeMap<ReplicaId, Bytes>,
    give_up_at: u64,
}

/// How a simulated client behaves; what it sends is its script.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    pub in_flight_max: usize,
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
    quorums: Quorums,
    /// The operations to issue, in order, as the workload drew them.
    script: Vec<Invocation>,
    issued: usize,
    next_number: u64,
    pending: BTreeMap<u64, Pending>,
    /// Entry i is the script's operation i: its bytes, and the result the client
    /// accepted, if it did.
    pub history: Vec<Operation<Bytes, Bytes>>,
    pub retransmissions: u64,
    /// Read-only attempts that were ordered after all.
    pub read_only_fallbacks: u64,
    /// Refusals heard, and operations given up because f + 1 replicas refused them for
    /// good (they never take effect; the history leaves them incomplete).
    pub refusals: u64,
    pub refused_operations: u64,
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
    pub fn new(
        index: usize,
        signer: Arc<dyn Signer>,
        cluster: ClusterId,
        replica_count: usize,
        config: ClientConfig,
        script: Vec<Invocation>,
    ) -> SimClient {
        SimClient {
            index,
            id: ClientId(signer.public_key()),
            config,
            signer,
            cluster,
            replica_count,
            quorums: Quorums::new(replica_count),
            script,
            issued: 0,
            next_number: 1,
            pending: BTreeMap::new(),
            history: Vec::new(),
            retransmissions: 0,
            read_only_fallbacks: 0,
            refusals: 0,
            refused_operations: 0,
        }
    }

    /// Whether every operation was issued and completed.
    pub fn is_done(&self) -> bool {
        self.issued == self.script.len() && self.pending.is_empty()
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
            && self.issued < self.script.len()
            && self.within_window()
        {
            self.issue(now, outgoing);
        }
        let given_up: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.read_only.as_ref().is_some_and(|r| now >= r.give_up_at))
            .map(|(number, _)| *number)
            .collect();
        for number in given_up {
            self.order_instead(number, now, outgoing);
        }
        for pending in self.pending.values_mut() {
            if pending.read_only.is_some() {
                continue;
            }
            if now >= pending.last_sent_at + self.config.timeout_ticks {
                // PBFT §4.1: on a timeout, the client broadcasts the request to all replicas.
                pending.last_sent_at = now;
                self.retransmissions += 1;
                for replica in 0..self.replica_count as u32 {
                    outgoing.push(Envelope {
                        from: Node::Client(self.index),
                        to: Node::Replica(ReplicaId(replica)),
                        packet: Packet::request(&pending.request),
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
        let Invocation {
            operation,
            read_only,
        } = self.script[self.issued].clone();
        let number = self.next_number;
        self.next_number += 1;
        let request = self.sign(number, operation.clone(), read_only);
        self.history.push(Operation {
            client: self.index,
            invoked_at: now,
            completed: None,
            op: operation,
        });
        self.issued += 1;
        let history_index = self.history.len() - 1;
        self.send_to_all(&request, outgoing);
        self.pending.insert(
            number,
            Pending {
                history_index,
                request,
                last_sent_at: now,
                replies: BTreeMap::new(),
                refusals: BTreeMap::new(),
                read_only: read_only.then(|| ReadOnlyAttempt {
                    answers: BTreeMap::new(),
                    give_up_at: now + self.config.timeout_ticks / 2,
                }),
            },
        );
    }

    /// Every request goes to every replica, as in Aardvark (NSDI 2009): the backups then
    /// know what the primary has to order, and their ordering timers catch a primary
    /// that stalls (`rampart_replica::core`'s monitor).
    fn send_to_all(&self, request: &Signed<Request>, outgoing: &mut Vec<Envelope>) {
        for replica in 0..self.replica_count as u32 {
            outgoing.push(Envelope {
                from: Node::Client(self.index),
                to: Node::Replica(ReplicaId(replica)),
                packet: Packet::request(request),
            });
        }
    }

    fn sign(&self, number: u64, operation: Bytes, read_only: bool) -> Signed<Request> {
        let request = Request {
            client: self.id,
            number,
            operation,
            read_only,
        };
        Signed::sign(self.cluster, request, self.signer.as_ref())
            .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"))
    }

    /// A read-only attempt that cannot reach 2f + 1 matching answers is ordered instead,
    /// as a new request with the same operation (PBFT §5.1.3).
    ///
    /// The new number must stay within the window of the oldest other unanswered request,
    /// as every new number does; until it can, the read waits.
    fn order_instead(&mut self, number: u64, now: u64, outgoing: &mut Vec<Envelope>) {
        let oldest_other = self.pending.keys().find(|&&other| other != number);
        if oldest_other.is_some_and(|&oldest| self.next_number >= oldest + self.config.window) {
            if let Some(read) = self
                .pending
                .get_mut(&number)
                .and_then(|p| p.read_only.as_mut())
            {
                read.give_up_at = now + 1;
            }
            return;
        }
        let Some(read) = self.pending.remove(&number) else {
            return;
        };
        let ordered = self.next_number;
        self.next_number += 1;
        let request = self.sign(ordered, read.request.value.operation.clone(), false);
        self.send_to_all(&request, outgoing);
        self.read_only_fallbacks += 1;
        self.pending.insert(
            ordered,
            Pending {
                history_index: read.history_index,
                request,
                last_sent_at: now,
                replies: BTreeMap::new(),
                read_only: None,
                refusals: BTreeMap::new(),
            },
        );
    }

    /// A read-only answer from replica `from`: 2f + 1 matching ones are the result; once
    /// they can no longer match, the read is ordered instead.
    pub fn on_read_only_reply(
        &mut self,
        now: u64,
        from: ReplicaId,
        reply: Reply,
        outgoing: &mut Vec<Envelope>,
    ) {
        if reply.client != self.id {
            return;
        }
        let number = reply.number;
        let quorums = self.quorums;
        let Some(pending) = self.pending.get_mut(&number) else {
            return;
        };
        let Some(read) = pending.read_only.as_mut() else {
            return;
        };
        read.answers.insert(from, reply.result);
        let answers = quorums.tally(read.answers.iter().map(|(from, answer)| (*from, answer)));
        if let Some(leader) = answers.decided(quorums.quorum()) {
            let leader: Bytes = (*leader).clone();
            let history_index = pending.history_index;
            self.pending.remove(&number);
            self.history[history_index].completed = Some((now, leader));
            return;
        }
        if answers.out_of_reach(quorums.quorum()) {
            self.order_instead(number, now, outgoing);
        }
    }

    /// Replica `from` will not execute request `number`. A transient refusal (a full
    /// quota) only means "not yet": the retransmission tries again. f + 1 final refusals
    /// of one kind end the operation, as in the client SDK.
    pub fn on_refused(&mut self, _now: u64, from: ReplicaId, number: u64, refusal: Refusal) {
        self.refusals += 1;
        let Some(pending) = self.pending.get_mut(&number) else {
            return;
        };
        if refusal.is_transient() {
            return;
        }
        let kind = refusal.kind();
        pending.refusals.insert(from, kind);
        let refusals = pending.refusals.iter().map(|(from, kind)| (*from, *kind));
        if self.quorums.count(refusals, &kind) >= self.quorums.weak_quorum() {
            self.pending.remove(&number);
            self.refused_operations += 1;
        }
    }

    /// A reply from replica `from` (as the network authenticated it, whatever the reply
    /// claims): the result is accepted once f + 1 replicas sent the same committed one, or
    /// 2f + 1 the same one for one view and sequence number, tentative or not (PBFT
    /// §5.1.2), as the client SDK does.
    pub fn on_reply(&mut self, now: u64, from: ReplicaId, reply: Reply) {
        if reply.client != self.id {
            return;
        }
        let number = reply.number;
        let Some(pending) = self.pending.get_mut(&number) else {
            return;
        };
        if pending.read_only.is_some() {
            return;
        }
        pending.replies.insert(from, reply);
        let votes: Vec<(ReplicaId, ResultVote<'_>)> = pending
            .replies
            .iter()
            .map(|(from, reply)| (*from, ResultVote::of(reply)))
            .collect();
        let Some(result) = accepted_result(&votes, self.quorums, true) else {
            return;
        };
        let result = result.clone();
        let pending = self.pending.remove(&number).expect("present above");
        self.history[pending.history_index].completed = Some((now, result));
    }
}
