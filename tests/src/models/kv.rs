//! The key-value store that ships with Rampart ([`rampart_replica::apps::kv`]): a
//! workload of puts, gets, deletes and compare-and-swaps on a few keys, and its model, a
//! map partitioned by key (an operation reads and writes one key only).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use rampart_replica::app::{Operation, Typed};
use rampart_replica::apps::kv::{Command, KvStore, Output, Query, QueryOutput};
use rampart_replica::core::Rng;

use crate::campaign::{Answer, Campaign, TypedCodec};
use crate::checker::linearizability::{Model, SEARCH_STATES_MAX};
use crate::machine::AppFactory;
use crate::workload::{AppWorkload, model_judge};

/// An operation of the store, as clients send it.
pub type KvOp = Operation<Command, Query>;
/// What a client of the store is told.
pub type KvAnswer = Answer<Output, QueryOutput>;

/// How many keys the campaign's workload writes: few, so that operations collide.
pub const KEYS: u8 = 4;

/// The campaign against the key-value store.
pub fn campaign() -> Campaign<KvOp, KvAnswer> {
    Campaign::typed(KvStore::new)
        .workload(|rng, _client| operation(rng, KEYS))
        .model(KvModel::default())
}

/// The store, for a simulation's replicas.
pub fn app_factory() -> AppFactory {
    Arc::new(|| Box::new(Typed::new(KvStore::new())))
}

/// The workload a simulation's clients run by default ([`crate::Simulation::new`]):
/// [`operation`]s on `keys` keys, checked against [`KvModel`].
pub fn workload(keys: u8) -> AppWorkload<KvOp, KvAnswer> {
    AppWorkload::new(
        Arc::new(move |rng: &mut Rng, _client| operation(rng, keys)),
        Arc::new(TypedCodec::<KvStore>::new()),
        vec![model_judge(KvModel::default(), SEARCH_STATES_MAX)],
    )
}

/// Key `index`, as the workload names it.
pub fn key(index: u64) -> Bytes {
    Bytes::from(format!("k{index}"))
}

/// One operation on one of `keys` keys: 40% puts, 10% compare-and-swaps that insert a
/// missing key, 5% deletes, 10% ordered gets and 35% queries (of which the clients send
/// some the read-only way). Every written value is drawn afresh, so a read tells which
/// write it saw.
pub fn operation(rng: &mut Rng, keys: u8) -> KvOp {
    let key = key(rng.below(u64::from(keys.max(1))));
    let value = |rng: &mut Rng| Bytes::from(rng.next_u64().to_le_bytes().to_vec());
    match rng.below(20) {
        0..=7 => Operation::Command(Command::Put {
            key,
            value: value(rng),
        }),
        8 | 9 => Operation::Command(Command::CompareAndSwap {
            key,
            expected: None,
            new: Some(value(rng)),
        }),
        10 => Operation::Command(Command::Delete { key }),
        11 | 12 => Operation::Command(Command::Get { key }),
        _ => Operation::Query(Query::Get { key }),
    }
}

/// The store's sequential specification: a map from keys to values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvModel {
    entries: BTreeMap<Bytes, Bytes>,
}

impl Model for KvModel {
    type Op = KvOp;
    type Output = KvAnswer;

    fn step(&self, _client: usize, op: &KvOp) -> (KvModel, KvAnswer) {
        let mut next = self.clone();
        let entries = &mut next.entries;
        let output = match op {
            Operation::Query(Query::Get { key }) => {
                let value = self.entries.get(key).cloned();
                return (next, Answer::QueryOutput(QueryOutput::Get { value }));
            }
            Operation::Command(Command::Put { key, value }) => Output::Put {
                previous: entries.insert(key.clone(), value.clone()),
            },
            Operation::Command(Command::Get { key }) => Output::Get {
                value: entries.get(key).cloned(),
            },
            Operation::Command(Command::Delete { key }) => Output::Delete {
                previous: entries.remove(key),
            },
            Operation::Command(Command::CompareAndSwap { key, expected, new }) => {
                let current = entries.get(key).cloned();
                let swapped = current == *expected;
                if swapped {
                    match new {
                        Some(value) => entries.insert(key.clone(), value.clone()),
                        None => entries.remove(key),
                    };
                }
                Output::CompareAndSwap { swapped, current }
            }
            Operation::Command(Command::Noop) => Output::Noop,
        };
        (next, Answer::Output(output))
    }

    fn partition(op: &KvOp) -> Option<String> {
        let key = match op {
            Operation::Query(Query::Get { key })
            | Operation::Command(
                Command::Put { key, .. }
                | Command::Get { key }
                | Command::Delete { key }
                | Command::CompareAndSwap { key, .. },
            ) => key,
            // A noop touches no key, and always answers the same.
            Operation::Command(Command::Noop) => return Some("noop".to_string()),
        };
        Some(format!("key {}", String::from_utf8_lossy(key)))
    }
}
