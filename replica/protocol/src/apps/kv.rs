//! A replicated key-value store.
//!
//! Keys and values are arbitrary bytes ([`Bytes`]): the store does not interpret them,
//! and clients choose their own encoding. Keys are ordered bytewise, and the state is a
//! `BTreeMap`, so equal contents give equal snapshots whatever order the keys were
//! written in. Sizes are bounded only by the replicas' limit on operation size.
//!
//! Every output says what the command saw, so that a checker can test a client history
//! for linearizability against a sequential map: `Put` and `Delete` return the previous
//! value, `Get` returns the value, `CompareAndSwap` returns the value it compared.
//! An ordered `Get` is linearizable; a [`Query::Get`] is answered at once from the
//! current state (PBFT §5.1.3) and is linearizable only when the client collects
//! matching answers from a quorum.
//!
//! [`Command::Noop`] does nothing and returns [`Output::Noop`]: it measures the cost of
//! ordering alone in benchmarks.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::app::{Application, ApplyContext};
use crate::message::ClientId;

/// A command, ordered and applied on every replica.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Sets `key` to `value`.
    Put { key: Bytes, value: Bytes },
    /// Reads `key` through the ordered path.
    Get { key: Bytes },
    /// Removes `key`.
    Delete { key: Bytes },
    /// Sets `key` to `new` (or removes it, for `None`) if its value is `expected`
    /// (`None`: absent).
    CompareAndSwap {
        key: Bytes,
        expected: Option<Bytes>,
        new: Option<Bytes>,
    },
    /// Does nothing; for benchmarks.
    Noop,
}

/// What a command returns.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Output {
    Put {
        previous: Option<Bytes>,
    },
    Get {
        value: Option<Bytes>,
    },
    Delete {
        previous: Option<Bytes>,
    },
    /// `current` is the value before the command; the swap happened iff it equalled
    /// `expected`.
    CompareAndSwap {
        swapped: bool,
        current: Option<Bytes>,
    },
    Noop,
}

/// A read-only query.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Query {
    Get { key: Bytes },
}

/// What a query returns.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum QueryOutput {
    Get { value: Option<Bytes> },
}

/// The store's state.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KvStore {
    entries: BTreeMap<Bytes, Bytes>,
}

impl KvStore {
    pub fn new() -> KvStore {
        KvStore::default()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Application for KvStore {
    type Command = Command;
    type Output = Output;
    type Query = Query;
    type QueryOutput = QueryOutput;

    fn apply(&mut self, _context: &ApplyContext, command: Command) -> Output {
        match command {
            Command::Put { key, value } => Output::Put {
                previous: self.entries.insert(key, value),
            },
            Command::Get { key } => Output::Get {
                value: self.entries.get(&key).cloned(),
            },
            Command::Delete { key } => Output::Delete {
                previous: self.entries.remove(&key),
            },
            Command::CompareAndSwap { key, expected, new } => {
                let current = self.entries.get(&key).cloned();
                let swapped = current == expected;
                if swapped {
                    match new {
                        Some(value) => self.entries.insert(key, value),
                        None => self.entries.remove(&key),
                    };
                }
                Output::CompareAndSwap { swapped, current }
            }
            Command::Noop => Output::Noop,
        }
    }

    fn query(&self, _client: &ClientId, query: Query) -> QueryOutput {
        match query {
            Query::Get { key } => QueryOutput::Get {
                value: self.entries.get(&key).cloned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{StateMachine, Typed, decode_output, encode_command};
    use crate::message::Seq;
    use rampart_crypto::KeyPair;

    fn context() -> ApplyContext {
        ApplyContext {
            client: ClientId(KeyPair::from_seed(1).public_key()),
            request_number: 1,
            seq: Seq(1),
        }
    }

    fn bytes(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    fn put(key: &'static str, value: &'static str) -> Command {
        Command::Put {
            key: bytes(key),
            value: bytes(value),
        }
    }

    fn cas(
        key: &'static str,
        expected: Option<&'static str>,
        new: Option<&'static str>,
    ) -> Command {
        Command::CompareAndSwap {
            key: bytes(key),
            expected: expected.map(bytes),
            new: new.map(bytes),
        }
    }

    #[test]
    fn commands_follow_sequential_map_semantics() {
        let some = |text| Some(bytes(text));
        let steps: Vec<(Command, Output)> = vec![
            (
                Command::Get { key: bytes("x") },
                Output::Get { value: None },
            ),
            (put("x", "1"), Output::Put { previous: None }),
            (
                put("x", "2"),
                Output::Put {
                    previous: some("1"),
                },
            ),
            (
                Command::Get { key: bytes("x") },
                Output::Get { value: some("2") },
            ),
            (
                cas("x", Some("1"), Some("3")),
                Output::CompareAndSwap {
                    swapped: false,
                    current: some("2"),
                },
            ),
            (
                cas("x", Some("2"), Some("3")),
                Output::CompareAndSwap {
                    swapped: true,
                    current: some("2"),
                },
            ),
            (Command::Noop, Output::Noop),
            (
                Command::Delete { key: bytes("x") },
                Output::Delete {
                    previous: some("3"),
                },
            ),
            (
                Command::Delete { key: bytes("x") },
                Output::Delete { previous: None },
            ),
            (
                cas("y", None, Some("new")),
                Output::CompareAndSwap {
                    swapped: true,
                    current: None,
                },
            ),
            (
                cas("y", Some("new"), None),
                Output::CompareAndSwap {
                    swapped: true,
                    current: some("new"),
                },
            ),
            (
                Command::Get { key: bytes("y") },
                Output::Get { value: None },
            ),
        ];
        let mut store = KvStore::new();
        for (index, (command, expected)) in steps.into_iter().enumerate() {
            let described = format!("step {index}: {command:?}");
            assert_eq!(store.apply(&context(), command), expected, "{described}");
        }
        assert!(store.is_empty());
    }

    #[test]
    fn crafted_lengths_are_refused_without_allocating_what_they_claim() {
        let mut machine = Typed::new(KvStore::new());
        let mut put_with_key_length = |length: u64| {
            // Variant 0 (Put), then the key's length as a varint u64.
            let mut operation = vec![0, 253];
            operation.extend_from_slice(&length.to_le_bytes());
            operation.extend_from_slice(b"short");
            let result = machine.apply(&context(), &operation);
            decode_output::<KvStore>(&result)
        };
        for length in [u64::MAX, 1 << 40, 1 << 26, 6] {
            assert!(
                matches!(
                    put_with_key_length(length),
                    Err(crate::app::ReplyError::Refused { .. })
                ),
                "key length {length}"
            );
        }
        assert!(machine.app().is_empty());
    }

    #[test]
    fn queries_read_without_changing_the_state() {
        let mut store = KvStore::new();
        store.apply(&context(), put("k", "v"));
        let before = store.clone();
        let client = context().client;
        assert_eq!(
            store.query(&client, Query::Get { key: bytes("k") }),
            QueryOutput::Get {
                value: Some(bytes("v"))
            }
        );
        assert_eq!(
            store.query(&client, Query::Get { key: bytes("z") }),
            QueryOutput::Get { value: None }
        );
        assert_eq!(store, before);
    }

    #[test]
    fn equal_contents_give_equal_snapshots_whatever_the_insertion_order() {
        let keys = ["m", "a", "z", "b", "q"];
        let mut forward = Typed::new(KvStore::new());
        let mut backward = Typed::new(KvStore::new());
        for key in keys {
            forward.apply(&context(), &encode_command::<KvStore>(&put(key, "v")));
        }
        for key in keys.iter().rev() {
            backward.apply(&context(), &encode_command::<KvStore>(&put(key, "v")));
        }
        // A key written and deleted leaves no trace in the snapshot.
        backward.apply(&context(), &encode_command::<KvStore>(&put("gone", "v")));
        backward.apply(
            &context(),
            &encode_command::<KvStore>(&Command::Delete { key: bytes("gone") }),
        );
        assert_eq!(forward.snapshot(), backward.snapshot());

        let mut restored = Typed::new(KvStore::new());
        restored.restore(&forward.snapshot()).expect("restores");
        assert_eq!(restored.app(), forward.app());
        let result = restored.apply(&context(), &encode_command::<KvStore>(&put("a", "w")));
        assert_eq!(
            decode_output::<KvStore>(&result),
            Ok(Output::Put {
                previous: Some(bytes("v"))
            })
        );
    }
}
