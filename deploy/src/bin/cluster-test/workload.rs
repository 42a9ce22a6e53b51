//! The client workload: a few clients on the host, each sending one ordered operation at a
//! time (a put of a value never written before, or a get) on a few shared keys, and
//! recording when it invoked each one and what it accepted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use crate::model::{KvOp, KvResult};
use rampart_client::Client;
use rampart_replica::apps::kv::{Command, KvStore, Output};
use rampart_testkit::checker::linearizability::Operation;

use crate::verdict::Record;

/// The keys the clients share: few, so that clients often meet on one.
pub const KEYS: u8 = 8;

/// The key's name in the store.
pub fn key_name(key: u8) -> Bytes {
    Bytes::from(format!("key-{key}"))
}

/// What the clients and the fault schedule share.
#[derive(Debug)]
pub struct Shared {
    started: Instant,
    /// Operations answered so far, the schedule's measure of progress.
    pub acknowledged: AtomicUsize,
    /// The newest view a client saw, to find the primary.
    pub view: AtomicU64,
    pub stop: AtomicBool,
    next_value: AtomicU64,
    history: Mutex<Vec<Record>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            started: Instant::now(),
            acknowledged: AtomicUsize::new(0),
            view: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            next_value: AtomicU64::new(1),
            history: Mutex::new(Vec::new()),
        }
    }

    /// Microseconds since the run began, from 1: 0 stands for "before anything".
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_micros() as u64 + 1
    }

    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::Relaxed)
    }

    pub fn history(&self) -> Vec<Record> {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, record: Record) {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}

/// A small deterministic generator (SplitMix64): the seed reproduces the choices.
#[derive(Debug)]
pub struct Choices(u64);

impl Choices {
    pub fn new(seed: u64) -> Choices {
        Choices(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Sends operations until told to stop. Every operation ends up in the history, answered
/// or not; a client that gets no answer moves on to its next operation.
pub async fn run_client(index: usize, client: Client, shared: Arc<Shared>, seed: u64) -> Client {
    let mut choices = Choices::new(seed ^ (index as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    while !shared.stop.load(Ordering::Relaxed) {
        let key = choices.below(u64::from(KEYS)) as u8;
        let op = if choices.below(2) == 0 {
            KvOp::Put {
                key,
                value: shared.next_value.fetch_add(1, Ordering::Relaxed),
            }
        } else {
            KvOp::Get { key }
        };
        perform(index, &client, &shared, op).await;
    }
    client
}

/// Performs `op` with `client` and records it.
pub async fn perform(index: usize, client: &Client, shared: &Shared, op: KvOp) -> Option<KvResult> {
    let command = match &op {
        KvOp::Put { key, value } => Command::Put {
            key: key_name(*key),
            value: Bytes::from(value.to_string()),
        },
        KvOp::Get { key } => Command::Get {
            key: key_name(*key),
        },
    };
    let invoked_at = shared.now();
    let answer = client.execute::<KvStore>(&command).await;
    let completed_at = shared.now();
    shared.view.fetch_max(client.view().0, Ordering::Relaxed);
    let result = match answer {
        Ok(Output::Put { previous }) => Some(KvResult::Put {
            previous: previous.as_deref().map(parse_value),
        }),
        Ok(Output::Get { value }) => Some(KvResult::Get {
            value: value.as_deref().map(parse_value),
        }),
        // An output of another command: a result no model step gives, so the checker
        // reports the key.
        Ok(_) => Some(KvResult::Invalid),
        Err(error) => {
            tracing::info!(client = index, %error, "no answer");
            None
        }
    };
    if result.is_some() {
        shared.acknowledged.fetch_add(1, Ordering::Relaxed);
    }
    shared.record(Operation {
        client: index,
        invoked_at,
        completed: result.clone().map(|result| (completed_at, result)),
        op,
    });
    result
}

/// A stored value as the workload wrote it; anything else becomes a value no one wrote.
pub fn parse_value(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Reads every key through the ordered path, after every other operation ended: the values
/// the history ends with.
pub async fn final_reads(
    client: &Client,
    shared: &Shared,
    index: usize,
) -> BTreeMap<u8, Option<u64>> {
    let mut finals = BTreeMap::new();
    for key in 0..KEYS {
        // A read that gets no answer is tried again: the values are what is checked.
        for _ in 0..3 {
            if let Some(KvResult::Get { value }) =
                perform(index, client, shared, KvOp::Get { key }).await
            {
                finals.insert(key, value);
                break;
            }
        }
    }
    finals
}
