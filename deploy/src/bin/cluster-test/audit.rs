//! Asking every replica for itself: each key read with a read-only request (PBFT §5.1.3)
//! sent to each replica, whose answers are kept apart instead of waiting for 2f + 1 to
//! match. A read-only reply carries the last sequence number the replica executed, so
//! replicas that agree on it and on every key hold the same state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, timeout_at};

use rampart_crypto::{KeyPair, Signed};
use rampart_replica::app::{decode_query_output, encode_query};
use rampart_replica::apps::kv::{KvStore, Query, QueryOutput};
use rampart_replica::cluster::Cluster;
use rampart_replica::message::{ClientId, ReplicaId, Request, decode, encode};
use rampart_replica::net::{ClientTransport, ClientTransportConfig};
use rampart_replica::wire::{ClientFrame, ReplicaFrame};

use crate::workload::{KEYS, key_name, parse_value};

/// One replica's state as its answers show it: the last sequence number it executed, and
/// each key's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    pub last_executed: u64,
    pub values: BTreeMap<u8, Option<u64>>,
}

/// The auditor: a client of its own that reads from each replica apart.
#[derive(Debug)]
pub struct Auditor {
    cluster: Cluster,
    addresses: Vec<SocketAddr>,
    key: KeyPair,
    /// The next request number: every read has a new one, so that a late answer to an
    /// earlier read is never taken for one of a later read.
    next_number: u64,
}

/// Each replica's answers: the last sequence number it had executed and the value, by key.
type Answers = BTreeMap<ReplicaId, BTreeMap<u8, (u64, Option<u64>)>>;

impl Auditor {
    pub fn new(cluster: Cluster, addresses: Vec<SocketAddr>, key: KeyPair) -> Auditor {
        Auditor {
            cluster,
            addresses,
            key,
            next_number: 1,
        }
    }

    /// The last sequence number each replica that answered in time had executed.
    pub async fn last_executed(&mut self) -> Result<BTreeMap<ReplicaId, u64>, String> {
        let answers = self.ask(&[0], Duration::from_secs(2)).await?;
        Ok(answers
            .into_iter()
            .filter_map(|(replica, by_key)| by_key.get(&0).map(|(seq, _)| (replica, *seq)))
            .collect())
    }

    /// Every key read from every replica, once: the replicas that answered every key from
    /// one last executed sequence number, and their state.
    pub async fn states(&mut self) -> Result<BTreeMap<ReplicaId, ReplicaState>, String> {
        let keys: Vec<u8> = (0..KEYS).collect();
        let answers = self.ask(&keys, Duration::from_secs(5)).await?;
        Ok(answers
            .into_iter()
            .filter_map(|(replica, by_key)| state(&by_key).map(|state| (replica, state)))
            .collect())
    }

    /// Sends a read-only request for each of `keys` to every replica and collects the
    /// answers until all came or `patience` ran out.
    async fn ask(&mut self, keys: &[u8], patience: Duration) -> Result<Answers, String> {
        let config = ClientTransportConfig::new(self.addresses.clone());
        let (transport, mut inbound) = ClientTransport::start(&self.key, &self.cluster, config)
            .await
            .map_err(|error| format!("cannot start the auditor's transport: {error}"))?;
        let first_number = self.next_number;
        self.next_number += keys.len() as u64;
        for (offset, key_index) in keys.iter().enumerate() {
            let request = Request {
                client: ClientId(self.key.public_key()),
                number: first_number + offset as u64,
                operation: encode_query::<KvStore>(&Query::Get {
                    key: key_name(*key_index),
                }),
                read_only: true,
            };
            let request = Signed::sign(self.cluster.id, request, &self.key)
                .map_err(|error| format!("cannot sign a read: {error}"))?;
            let frame = Bytes::from(encode(&ClientFrame::Request {
                request,
                certify: false,
                all_answer: true,
            }));
            for replica in self.cluster.replica_ids() {
                // A queued frame waits for the connection; an error means none will come.
                transport
                    .send(replica, frame.clone())
                    .map_err(|error| format!("cannot read from {replica}: {error}"))?;
            }
        }

        let mut answers = Answers::new();
        let expected = self.cluster.size() * keys.len();
        let deadline = Instant::now() + patience;
        while answers.values().map(BTreeMap::len).sum::<usize>() < expected {
            let Ok(Some((replica, frame))) = timeout_at(deadline, inbound.recv()).await else {
                break;
            };
            let Ok(ReplicaFrame::Reply {
                reply,
                read_only: true,
                ..
            }) = decode::<ReplicaFrame>("replica frame", &frame)
            else {
                continue;
            };
            let Some(key_index) = reply
                .number
                .checked_sub(first_number)
                .and_then(|offset| keys.get(offset as usize))
            else {
                continue;
            };
            let Ok(QueryOutput::Get { value }) = decode_query_output::<KvStore>(&reply.result)
            else {
                continue;
            };
            answers
                .entry(replica)
                .or_default()
                .insert(*key_index, (reply.seq.0, value.as_deref().map(parse_value)));
        }
        transport.shutdown().await;
        Ok(answers)
    }
}

/// The state the answers show, if the replica answered every key from one sequence number.
fn state(by_key: &BTreeMap<u8, (u64, Option<u64>)>) -> Option<ReplicaState> {
    if by_key.len() != usize::from(KEYS) {
        return None;
    }
    let mut sequence_numbers = by_key.values().map(|(seq, _)| *seq);
    let first = sequence_numbers.next()?;
    if sequence_numbers.any(|seq| seq != first) {
        return None;
    }
    Some(ReplicaState {
        last_executed: first,
        values: by_key
            .iter()
            .map(|(key, (_, value))| (*key, *value))
            .collect(),
    })
}

/// Whether every replica answered, and all with the same state.
pub fn agree(states: &BTreeMap<ReplicaId, ReplicaState>, replicas: usize) -> bool {
    let mut all = states.values();
    let Some(first) = all.next() else {
        return false;
    };
    states.len() == replicas && all.all(|state| state == first)
}
