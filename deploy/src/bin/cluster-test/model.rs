//! The workload's operations and their sequential model: one register per key, written
//! with values unique to each write, so that a read tells which write it saw.

use rampart_testkit::checker::linearizability::Model;

/// An operation the workload sends, on key `key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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
}

/// What the cluster answered: a put returns the value it replaced, a get the value read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvResult {
    Put {
        previous: Option<u64>,
    },
    Get {
        value: Option<u64>,
    },
    /// An answer that is neither.
    Invalid,
}

/// The sequential specification of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegisterModel {
    value: Option<u64>,
}

impl Model for RegisterModel {
    type Op = KvOp;
    type Output = KvResult;

    fn step(&self, _client: usize, op: &KvOp) -> (RegisterModel, KvResult) {
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

    fn partition(op: &KvOp) -> Option<String> {
        Some(format!("key {}", op.key()))
    }
}
