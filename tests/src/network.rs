//! The simulated network: seeded delay, loss, duplication and reordering, and partitions
//! that may be one-way. Every choice comes from the simulation's seed.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use rampart_crypto::Signed;
use rampart_replica::core::Rng;
use rampart_replica::message::{Message, ReplicaId, Request, decode, encode};
use rampart_replica::net::frame::{framed, unframed};
use rampart_replica::wire::{ClientFrame, PeerFrame, ReplicaFrame};

/// A process of the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Replica(ReplicaId),
    /// The second instance of a replica under Twins: same identity, same key.
    Twin(ReplicaId),
    Client(usize),
}

impl Node {
    /// The replica identity behind a node, if it is a replica.
    pub fn replica(self) -> Option<ReplicaId> {
        match self {
            Node::Replica(id) | Node::Twin(id) => Some(id),
            Node::Client(_) => None,
        }
    }
}

/// What travels between nodes: one frame, encoded and length-prefixed as the transport
/// carries it, so the receiving replica runs the real unframing, decoding and verification.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A `PeerFrame`, between replicas.
    Peer(Bytes),
    /// A `ClientFrame`, from a client to a replica.
    Client(Bytes),
    /// A `ReplicaFrame`, from a replica to a client.
    Replica(Bytes),
}

impl Packet {
    /// A client's request, as its transport sends it.
    pub fn request(request: &Signed<Request>) -> Packet {
        let frame = ClientFrame::Request {
            request: request.clone(),
            certify: false,
            all_answer: false,
        };
        Packet::Client(framed(&encode(&frame)))
    }

    /// A protocol message between replicas.
    pub fn protocol(message: Message) -> Packet {
        Packet::Peer(framed(&encode(&PeerFrame::Protocol(message))))
    }

    /// What a client receives, decoded; None if it is not a well-formed replica frame.
    pub fn replica_frame(&self) -> Option<ReplicaFrame> {
        let Packet::Replica(bytes) = self else {
            return None;
        };
        let frame = unframed(bytes, usize::MAX).ok()??;
        decode("replica frame", &frame).ok()
    }

    /// The bytes on the wire.
    pub fn len(&self) -> usize {
        match self {
            Packet::Peer(bytes) | Packet::Client(bytes) | Packet::Replica(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: Node,
    pub to: Node,
    pub packet: Packet,
}

/// Fault rates and delays, in ticks and per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    pub delay_min_ticks: u64,
    pub delay_max_ticks: u64,
    pub loss_per_mille: u64,
    pub duplicate_per_mille: u64,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            delay_min_ticks: 1,
            delay_max_ticks: 3,
            loss_per_mille: 0,
            duplicate_per_mille: 0,
        }
    }
}

impl NetworkConfig {
    /// A hostile network: long, varied delays (so heavy reordering), loss and duplication.
    pub fn lossy() -> NetworkConfig {
        NetworkConfig {
            delay_min_ticks: 1,
            delay_max_ticks: 8,
            loss_per_mille: 50,
            duplicate_per_mille: 30,
        }
    }
}

/// Counters of what the network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub partitioned: u64,
    pub duplicated: u64,
}

#[derive(Debug)]
pub struct Network {
    pub config: NetworkConfig,
    rng: Rng,
    in_flight: BTreeMap<(u64, u64), Envelope>,
    counter: u64,
    /// Directed links that drop everything: (from, to).
    blocked: BTreeSet<(Node, Node)>,
    pub stats: NetworkStats,
}

impl Network {
    pub fn new(config: NetworkConfig, seed: u64) -> Network {
        Network {
            config,
            rng: Rng::new(seed),
            in_flight: BTreeMap::new(),
            counter: 0,
            blocked: BTreeSet::new(),
            stats: NetworkStats::default(),
        }
    }

    pub fn send(&mut self, now: u64, envelope: Envelope) {
        self.stats.sent += 1;
        if self.is_blocked(envelope.from, envelope.to) {
            self.stats.partitioned += 1;
            return;
        }
        if self.rng.chance(self.config.loss_per_mille, 1000) {
            self.stats.lost += 1;
            return;
        }
        if self.rng.chance(self.config.duplicate_per_mille, 1000) {
            self.stats.duplicated += 1;
            let copy = envelope.clone();
            self.schedule(now, copy);
        }
        self.schedule(now, envelope);
    }

    fn schedule(&mut self, now: u64, envelope: Envelope) {
        let spread = self.config.delay_max_ticks - self.config.delay_min_ticks + 1;
        let delay = self.config.delay_min_ticks + self.rng.below(spread);
        self.counter += 1;
        self.in_flight.insert((now + delay, self.counter), envelope);
    }

    /// The envelopes due at `now`, in a fixed order; those on links cut meanwhile are lost.
    pub fn deliver_due(&mut self, now: u64) -> Vec<Envelope> {
        let mut due = Vec::new();
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let envelope = entry.remove();
            if self.is_blocked(envelope.from, envelope.to) {
                self.stats.partitioned += 1;
                continue;
            }
            self.stats.delivered += 1;
            due.push(envelope);
        }
        due
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn is_blocked(&self, from: Node, to: Node) -> bool {
        self.blocked.contains(&(from, to))
    }

    /// Cuts the link from `from` to `to` (one way).
    pub fn block(&mut self, from: Node, to: Node) {
        self.blocked.insert((from, to));
    }

    pub fn unblock(&mut self, from: Node, to: Node) {
        self.blocked.remove(&(from, to));
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    pub fn blocked_links(&self) -> usize {
        self.blocked.len()
    }
}
