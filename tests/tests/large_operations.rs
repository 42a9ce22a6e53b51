//! The largest operations the configuration allows, as many as the pipeline holds, through
//! view changes, on real replicas over QUIC: every one completes. Batches are cut by bytes,
//! VIEW-CHANGE and NEW-VIEW carry only the batches that fit in half a frame and the new
//! view fetches the others, and relayed requests travel on the bulk lane, so no message
//! outgrows a frame and no large request holds up the protocol.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rampart_client::{Client, ClientConfig};
use rampart_replica::app::{StateMachine, Typed};
use rampart_replica::apps::kv::{Command, KvStore, Output, Query, QueryOutput};
use rampart_replica::core::Config;
use rampart_replica::message::{ReplicaId, View};
use rampart_testkit::real::{LocalCluster, LocalClusterConfig};
use tokio::task::JoinSet;

/// A quarter of the default `operation_bytes_max`, with a quarter of the default
/// `batch_bytes_max`: the same shape as the defaults (three operations to a batch), at a
/// size that passes in tens of seconds on a loaded two-core machine. With the defaults
/// themselves (1 MiB and 4 MiB) the test passes too, in 36 s on a quiet host, but takes
/// over two minutes while the 256 MiB transfer test shares the cores.
const OPERATION_BYTES_MAX: usize = 256 << 10;
const BATCH_BYTES_MAX: usize = 1 << 20;
/// Batches in flight at once. A batch holds three of the largest operations (four would
/// exceed its bytes by their signatures and headers), so twelve fill the pipeline.
const IN_FLIGHT_MAX: u64 = 4;
const CLIENTS: u64 = 4;
/// Each wave submits what the pipeline holds.
const PER_CLIENT_PER_WAVE: usize = 3;

fn protocol(config: &mut Config) {
    config.operation_bytes_max = OPERATION_BYTES_MAX;
    config.batch_bytes_max = BATCH_BYTES_MAX;
    config.in_flight_max = IN_FLIGHT_MAX;
}

fn kv() -> Arc<dyn Fn() -> Box<dyn StateMachine> + Send + Sync> {
    Arc::new(|| Box::new(Typed::new(KvStore::new())))
}

/// A put whose encoded command is exactly as large as the configuration allows.
fn largest_put(key: String) -> Command {
    let put = |value_bytes: usize| Command::Put {
        key: Bytes::from(key.clone()),
        value: Bytes::from(vec![b'x'; value_bytes]),
    };
    // Start from an upper bound and shrink by the excess: the length prefixes are
    // varints, so the size of the rest can only shrink with the value.
    let mut value_bytes = OPERATION_BYTES_MAX;
    loop {
        let bytes = rampart_replica::app::encode_command::<KvStore>(&put(value_bytes)).len();
        if bytes <= OPERATION_BYTES_MAX {
            assert!(
                bytes + 8 > OPERATION_BYTES_MAX,
                "{bytes} bytes is not the largest"
            );
            return put(value_bytes);
        }
        value_bytes -= bytes - OPERATION_BYTES_MAX;
    }
}

async fn wave(clients: &[Arc<Client>], wave: usize) {
    let mut puts = JoinSet::new();
    for (c, client) in clients.iter().enumerate() {
        for i in 0..PER_CLIENT_PER_WAVE {
            let client = Arc::clone(client);
            let command = largest_put(format!("w{wave}-c{c}-{i}"));
            puts.spawn(async move { client.execute::<KvStore>(&command).await });
        }
    }
    while let Some(done) = puts.join_next().await {
        let output = done
            .expect("the task ran")
            .expect("a largest put completes");
        assert_eq!(output, Output::Put { previous: None });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_operations_fill_the_pipeline_and_all_complete_through_view_changes() {
    let mut config = LocalClusterConfig::new(4, kv());
    config.protocol = protocol;
    // The deployment's tick (the local cluster's default is half of it, for speed): a
    // batch of four megabytes takes its time through QUIC and RocksDB, as it would in
    // production.
    config.tick = Duration::from_millis(10);
    let mut cluster = LocalCluster::start(config).await.expect("cluster starts");
    let mut clients = Vec::new();
    for index in 0..CLIENTS {
        let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
        config.request_timeout = Duration::from_secs(120);
        config.operation_bytes_max = OPERATION_BYTES_MAX;
        // Every retransmission sends the whole megabyte to every replica again: a client
        // of large operations retransmits less eagerly.
        config.retransmit_interval_min = Duration::from_secs(2);
        let client = Client::connect(config, cluster.client_key(index))
            .await
            .expect("client connects");
        clients.push(Arc::new(client));
    }

    // The primary of view 0 stops while the first wave is in flight.
    let first = {
        let clients = clients.clone();
        tokio::spawn(async move { wave(&clients, 0).await })
    };
    cluster
        .wait_until(Duration::from_secs(60), |statuses| {
            statuses.values().any(|s| s.last_executed.0 > 0)
        })
        .await;
    cluster.stop(ReplicaId(0)).await.expect("primary 0 stops");
    first.await.expect("the first wave completes");
    // The whole first wave may have committed before the primary stopped; one more request,
    // which the stopped primary cannot order, makes the backups change view in any case.
    let after_stop = clients[0]
        .execute::<KvStore>(&largest_put("after-stop".to_string()))
        .await
        .expect("a put after the primary stopped completes");
    assert_eq!(after_stop, Output::Put { previous: None });

    // Replica 0 comes back; the primary of the new view stops during the second wave.
    cluster
        .restart(ReplicaId(0))
        .await
        .expect("replica 0 restarts");
    let view = cluster.status(ReplicaId(1)).expect("running").view;
    assert!(view >= View(1), "the cluster left view 0");
    let second = {
        let clients = clients.clone();
        tokio::spawn(async move { wave(&clients, 1).await })
    };
    let primary = ReplicaId((view.0 % 4) as u32);
    cluster.stop(primary).await.expect("the new primary stops");
    second.await.expect("the second wave completes");

    let reader = &clients[0];
    let read = reader
        .query_typed::<KvStore>(&Query::Get {
            key: Bytes::from(format!("w1-c{}-{}", CLIENTS - 1, PER_CLIENT_PER_WAVE - 1)),
        })
        .await
        .expect("read");
    let QueryOutput::Get { value: Some(value) } = read else {
        panic!("the last put of the second wave is missing: {read:?}");
    };
    assert!(value.len() > OPERATION_BYTES_MAX - 64);
    for replica in cluster.replica_ids() {
        if let Some(status) = cluster.status(replica) {
            assert_eq!(status.messages_too_large, 0, "no message outgrew its frame");
        }
    }
    for client in clients {
        if let Ok(client) = Arc::try_unwrap(client) {
            client.close().await;
        }
    }
    assert!(cluster.safety_violations().is_empty());
    cluster.shutdown().await;
}
