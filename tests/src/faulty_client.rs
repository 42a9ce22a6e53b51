//! Faulty clients: registered clients that break the client protocol in every way a
//! replica can see (DESIGN §9: any number of clients may be faulty). Each signs with its
//! own key and writes only keys of its own, so the correct clients' histories stay
//! checkable; what matters is what the faulty ones do to the replicas. No client behaviour
//! may make a fault-free cluster change views, cost a replica more than its quota, or keep
//! a correct client from completing.

use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{ClusterId, Signed, Signer};
use rampart_replica::core::Rng;
use rampart_replica::message::{ClientId, ReplicaId, Request};

use crate::network::{Envelope, Node, Packet};
use rampart_replica::app::encode_command;
use rampart_replica::apps::kv::{Command, KvStore};

/// How a faulty client misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFault {
    /// Issues request numbers in reverse order, a window's worth at a time.
    OutOfOrder,
    /// Skips request numbers by up to a thousand at a time.
    Gapped,
    /// Sends two different operations under one request number, to different replicas.
    Duplicate,
    /// Sends a request numbered `u64::MAX`, then one at 2^63, then goes on as before.
    HugeNumbers,
    /// Sends a request far ahead of its numbers, then the numbers it skipped, which the
    /// replicas then no longer remember.
    FarAheadThenBack,
    /// Sends each request to one backup only, and never again.
    GivesUp,
    /// Sends ten windows' worth of requests at once, to every replica.
    Flood,
    /// Two processes with one key, numbering their requests from different clocks.
    SharedKey,
    /// Operations of the largest size the replicas accept.
    LargestOperations,
}

impl ClientFault {
    pub const ALL: [ClientFault; 9] = [
        ClientFault::OutOfOrder,
        ClientFault::Gapped,
        ClientFault::Duplicate,
        ClientFault::HugeNumbers,
        ClientFault::FarAheadThenBack,
        ClientFault::GivesUp,
        ClientFault::Flood,
        ClientFault::SharedKey,
        ClientFault::LargestOperations,
    ];
}

/// How often a faulty client acts, and for how long.
const ACT_EVERY_TICKS: u64 = 7;
const ACTS_MAX: u64 = 40;

/// A faulty client: a node of its own in the simulation.
pub struct FaultyClient {
    pub index: usize,
    pub fault: ClientFault,
    pub id: ClientId,
    signer: Arc<dyn Signer>,
    cluster: ClusterId,
    replica_count: usize,
    window: u64,
    operation_bytes_max: usize,
    rng: Rng,
    next_number: u64,
    /// The second process of a shared key numbers from here.
    other_next_number: u64,
    acts: u64,
    pub sent: u64,
    pub replies: u64,
    pub refusals: u64,
}

impl std::fmt::Debug for FaultyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyClient")
            .field("index", &self.index)
            .field("fault", &self.fault)
            .finish()
    }
}

impl FaultyClient {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        fault: ClientFault,
        signer: Arc<dyn Signer>,
        cluster: ClusterId,
        replica_count: usize,
        window: u64,
        operation_bytes_max: usize,
        seed: u64,
    ) -> FaultyClient {
        FaultyClient {
            index,
            fault,
            id: ClientId(signer.public_key()),
            signer,
            cluster,
            replica_count,
            window,
            operation_bytes_max,
            rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x51_7cc1_b727_220a)),
            next_number: 1,
            other_next_number: 1_000_000,
            acts: 0,
            sent: 0,
            replies: 0,
            refusals: 0,
        }
    }

    /// Whether it has stopped acting.
    pub fn is_done(&self) -> bool {
        self.acts >= ACTS_MAX
    }

    /// A put of the shipped key-value store on this client's own key, padded to `bytes`
    /// of operation if asked. Other applications refuse it as undecodable.
    fn operation(&mut self, padded_to: Option<usize>) -> Bytes {
        let key = Bytes::from(format!("faulty-client-{}", self.index));
        let value = Bytes::from(self.rng.next_u64().to_le_bytes().to_vec());
        let op = encode_command::<KvStore>(&Command::Put { key, value });
        match padded_to {
            // Not a valid key-value operation once padded: the store answers it as
            // invalid, which is all a faulty client deserves.
            Some(bytes) => {
                let mut padded = op.to_vec();
                padded.resize(bytes.max(op.len()), 0xab);
                Bytes::from(padded)
            }
            None => op,
        }
    }

    fn request(&self, number: u64, operation: Bytes) -> Signed<Request> {
        let request = Request {
            client: self.id,
            number,
            operation,
            read_only: false,
        };
        Signed::sign(self.cluster, request, self.signer.as_ref())
            .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"))
    }

    fn send(&mut self, to: ReplicaId, request: Signed<Request>, outgoing: &mut Vec<Envelope>) {
        self.sent += 1;
        outgoing.push(Envelope {
            from: Node::Client(self.index),
            to: Node::Replica(to),
            packet: Packet::request(&request),
        });
    }

    fn send_all(&mut self, request: Signed<Request>, outgoing: &mut Vec<Envelope>) {
        for replica in 0..self.replica_count as u32 {
            self.send(ReplicaId(replica), request.clone(), outgoing);
        }
    }

    pub fn tick(&mut self, now: u64, outgoing: &mut Vec<Envelope>) {
        if self.is_done() || !now.is_multiple_of(ACT_EVERY_TICKS) {
            return;
        }
        self.acts += 1;
        match self.fault {
            ClientFault::OutOfOrder => {
                let first = self.next_number;
                self.next_number += self.window;
                for number in (first..first + self.window).rev() {
                    let op = self.operation(None);
                    let request = self.request(number, op);
                    self.send_all(request, outgoing);
                }
            }
            ClientFault::Gapped => {
                self.next_number += 1 + self.rng.below(1_000);
                let op = self.operation(None);
                let request = self.request(self.next_number, op);
                self.send_all(request, outgoing);
            }
            ClientFault::Duplicate => {
                let number = self.next_number;
                self.next_number += 1;
                for replica in 0..self.replica_count as u32 {
                    let op = self.operation(None);
                    let request = self.request(number, op);
                    self.send(ReplicaId(replica), request, outgoing);
                }
            }
            ClientFault::HugeNumbers => {
                let number = match self.acts {
                    1 => u64::MAX,
                    2 => 1 << 63,
                    _ => {
                        self.next_number += 1;
                        self.next_number
                    }
                };
                let op = self.operation(None);
                let request = self.request(number, op);
                self.send_all(request, outgoing);
            }
            ClientFault::FarAheadThenBack => {
                let ahead = self.next_number + 10_000;
                let op = self.operation(None);
                let request = self.request(ahead, op);
                self.send_all(request, outgoing);
                for number in self.next_number..self.next_number + 3 {
                    let op = self.operation(None);
                    let request = self.request(number, op);
                    self.send_all(request, outgoing);
                }
                self.next_number = ahead + 1;
            }
            ClientFault::GivesUp => {
                let number = self.next_number;
                self.next_number += 1;
                let backup = 1 + self.rng.below(self.replica_count as u64 - 1) as u32;
                let op = self.operation(None);
                let request = self.request(number, op);
                self.send(ReplicaId(backup), request, outgoing);
            }
            ClientFault::Flood => {
                for _ in 0..10 * self.window {
                    let number = self.next_number;
                    self.next_number += 1;
                    let op = self.operation(None);
                    let request = self.request(number, op);
                    self.send_all(request, outgoing);
                }
            }
            ClientFault::SharedKey => {
                for first_process in [true, false] {
                    let number = if first_process {
                        self.next_number += 1;
                        self.next_number
                    } else {
                        self.other_next_number += 1;
                        self.other_next_number
                    };
                    let op = self.operation(None);
                    let request = self.request(number, op);
                    self.send_all(request, outgoing);
                }
            }
            ClientFault::LargestOperations => {
                let number = self.next_number;
                self.next_number += 1;
                let op = self.operation(Some(self.operation_bytes_max));
                let request = self.request(number, op);
                self.send_all(request, outgoing);
            }
        }
    }
}
