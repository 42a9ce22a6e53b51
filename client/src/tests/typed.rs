//! Typed calls against a fake cluster that runs a real typed application.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use rampart_protocol::app::{Application, ApplyContext, StateMachine, Typed};
use rampart_protocol::message::{ClientId, Seq, View};

use super::fake_cluster::{FakeCluster, all_answer, lock, reply};
use crate::test_support::client_key;
use crate::{Client, ClientError};

/// A counter: commands add to it, queries read it.
#[derive(Default, Serialize, Deserialize)]
struct Counter {
    value: u64,
}

impl Application for Counter {
    type Command = u64;
    type Output = u64;
    type Query = ();
    type QueryOutput = u64;

    fn apply(&mut self, _context: &ApplyContext, add: u64) -> u64 {
        self.value = self.value.saturating_add(add);
        self.value
    }

    fn query(&self, _client: &ClientId, _query: ()) -> u64 {
        self.value
    }
}

/// One replicated counter: each request number is applied once, and every replica
/// reports its result.
#[derive(Default)]
struct Replicated {
    machine: Typed<Counter>,
    results: HashMap<u64, Vec<u8>>,
}

#[tokio::test]
async fn typed_calls_encode_commands_and_decode_outputs() {
    let state = Arc::new(Mutex::new(Replicated::default()));
    let fake = FakeCluster::start(all_answer(move |replica, arrival| {
        let mut state = lock(&state);
        let operation = arrival.operation();
        let result = if arrival.read_only() {
            state.machine.query(&ClientId(arrival.client), operation)
        } else {
            let number = arrival.number();
            if let Some(result) = state.results.get(&number) {
                result.clone()
            } else {
                let context = ApplyContext {
                    client: ClientId(arrival.client),
                    request_number: number,
                    seq: Seq(number),
                };
                let result = state.machine.apply(&context, operation);
                state.results.insert(number, result.clone());
                result
            }
        };
        vec![reply(arrival, replica, View(0), &result)]
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    assert_eq!(client.execute::<Counter>(&5).await.expect("executes"), 5);
    assert_eq!(client.execute::<Counter>(&3).await.expect("executes"), 8);
    assert_eq!(client.query_typed::<Counter>(&()).await.expect("reads"), 8);
    client.close().await;
}

#[tokio::test]
async fn undecodable_results_are_reported_not_returned() {
    let fake = FakeCluster::start(all_answer(|replica, arrival| {
        vec![reply(arrival, replica, View(0), b"\xff\xff")]
    }))
    .await;
    let client = Client::connect(fake.client_config(), client_key())
        .await
        .expect("connects");
    assert!(matches!(
        client.execute::<Counter>(&1).await,
        Err(ClientError::Output { .. })
    ));
    client.close().await;
}

#[tokio::test]
async fn a_typed_query_falls_back_to_the_ordered_path_and_only_reads() {
    // Read-only answers never agree, so the client orders the query. The ordered
    // operation reaches the application's `apply`, which must read, not write.
    let state = Arc::new(Mutex::new(Replicated::default()));
    state.lock().expect("lock").machine = Typed::new(Counter { value: 41 });
    let fake = FakeCluster::start(all_answer(move |replica, arrival| {
        if arrival.read_only() {
            if arrival.replica != replica {
                return vec![];
            }
            return vec![reply(arrival, replica, View(0), &[replica.0 as u8])];
        }
        let mut state = lock(&state);
        let context = ApplyContext {
            client: ClientId(arrival.client),
            request_number: arrival.number(),
            seq: Seq(1),
        };
        let result = state.machine.apply(&context, arrival.operation());
        vec![reply(arrival, replica, View(0), &result)]
    }))
    .await;
    let mut config = fake.client_config();
    config.request_timeout = Duration::from_secs(5);
    let client = Client::connect(config, client_key())
        .await
        .expect("connects");
    let value = client.query_typed::<Counter>(&()).await.expect("answered");
    assert_eq!(
        value, 41,
        "the ordered query read the counter without adding to it"
    );
    assert!(fake.arrivals().iter().any(|arrival| !arrival.read_only()));
    client.close().await;
}
