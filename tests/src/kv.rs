//! The key-value workload of the simulator: operations, their encoding, and the model the
//! linearizability checker compares client results against.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use rampart_replica::message::{decode, encode};

use crate::checker::linearizability::Model;

/// A key-value operation. Values are unique per write in the workload, which makes
/// histories informative for the checker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvOp {
    Put { key: u8, value: u64 },
    Get { key: u8 },
}

impl KvOp {
    pub fn key(&self) -> u8 {
        match self {
            KvOp::Put { key, .. } | KvOp::Get { key } => *key,
        }
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(encode(self))
    }
}

/// A key-value result: a put returns the value it replaced, a get the value it read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvResult {
    Put {
        previous: Option<u64>,
    },
    Get {
        value: Option<u64>,
    },
    /// The operation bytes did not decode.
    Invalid,
}

impl KvResult {
    pub fn decode(bytes: &[u8]) -> Option<KvResult> {
        decode("kv result", bytes).ok()
    }
}

/// The replicated key-value store the simulated replicas run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStore {
    entries: BTreeMap<u8, u64>,
}

impl KvStore {
    pub fn apply(&mut self, operation: &[u8]) -> Bytes {
        let result = match decode::<KvOp>("kv operation", operation) {
            Ok(KvOp::Put { key, value }) => KvResult::Put {
                previous: self.entries.insert(key, value),
            },
            Ok(KvOp::Get { key }) => KvResult::Get {
                value: self.entries.get(&key).copied(),
            },
            Err(_) => KvResult::Invalid,
        };
        Bytes::from(encode(&result))
    }

    /// Answers a read-only operation from the current state (PBFT §5.1.3): a get; anything
    /// else is invalid as a query.
    pub fn query(&self, operation: &[u8]) -> Bytes {
        let result = match decode::<KvOp>("kv operation", operation) {
            Ok(KvOp::Get { key }) => KvResult::Get {
                value: self.entries.get(&key).copied(),
            },
            _ => KvResult::Invalid,
        };
        Bytes::from(encode(&result))
    }

    pub fn snapshot(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn restore(snapshot: &[u8]) -> Option<KvStore> {
        decode("kv snapshot", snapshot).ok()
    }
}

/// The key-value store as the replicas' application.
impl rampart_replica::app::StateMachine for KvStore {
    fn apply(&mut self, _: &rampart_replica::app::ApplyContext, operation: &[u8]) -> Vec<u8> {
        KvStore::apply(self, operation).to_vec()
    }

    fn query(&self, _: &rampart_replica::message::ClientId, operation: &[u8]) -> Vec<u8> {
        KvStore::query(self, operation).to_vec()
    }

    fn snapshot(&self) -> Vec<u8> {
        KvStore::snapshot(self)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), rampart_replica::app::AppError> {
        *self = KvStore::restore(snapshot).ok_or_else(|| {
            rampart_replica::app::AppError::UndecodableSnapshot {
                reason: "not a key-value snapshot".to_string(),
            }
        })?;
        Ok(())
    }
}

/// The sequential specification of one key, for the linearizability checker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegisterModel {
    value: Option<u64>,
}

impl Model for RegisterModel {
    type Op = KvOp;
    type Ret = KvResult;

    fn step(&self, op: &KvOp) -> (RegisterModel, KvResult) {
        match op {
            KvOp::Put { value, .. } => (
                RegisterModel {
                    value: Some(*value),
                },
                KvResult::Put {
                    previous: self.value,
                },
            ),
            KvOp::Get { .. } => (self.clone(), KvResult::Get { value: self.value }),
        }
    }
}
