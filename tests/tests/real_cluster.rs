//! Real replicas over QUIC on 127.0.0.1 (ephemeral ports, RocksDB in temporary
//! directories), driven by the client SDK.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rampart_client::{Client, ClientConfig, ClientError};
use rampart_crypto::{KeyPair, Signed};
use rampart_replica::app::{StateMachine, Typed, encode_command};
use rampart_replica::apps::kv::{Command, KvStore, Output, Query, QueryOutput};
use rampart_replica::message::{ClientId, Refusal, ReplicaId, Request, View, decode, encode};
use rampart_replica::net::{ClientTransport, ClientTransportConfig};
use rampart_replica::wire::{ClientFrame, ReplicaFrame};
use rampart_testkit::real::{LocalCluster, LocalClusterConfig};

fn kv() -> Arc<dyn Fn() -> Box<dyn StateMachine> + Send + Sync> {
    Arc::new(|| Box::new(Typed::new(KvStore::new())))
}

async fn cluster(replicas: usize) -> LocalCluster {
    LocalCluster::start(LocalClusterConfig::new(replicas, kv()))
        .await
        .expect("cluster starts")
}

async fn client(cluster: &LocalCluster, index: u64) -> Client {
    let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
    config.request_timeout = Duration::from_secs(30);
    config.retransmit_interval_min = Duration::from_millis(200);
    Client::connect(config, cluster.client_key(index))
        .await
        .expect("client connects")
}

fn put(key: &str, value: &str) -> Command {
    Command::Put {
        key: Bytes::from(key.to_string()),
        value: Bytes::from(value.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_commit_and_return_f_plus_1_matching_results() {
    let cluster = cluster(4).await;
    let client = client(&cluster, 0).await;
    let output = client
        .execute::<KvStore>(&put("colour", "red"))
        .await
        .expect("put");
    assert_eq!(output, Output::Put { previous: None });
    let output = client
        .execute::<KvStore>(&put("colour", "blue"))
        .await
        .expect("put");
    assert_eq!(
        output,
        Output::Put {
            previous: Some(Bytes::from_static(b"red"))
        }
    );
    let read = client
        .query_typed::<KvStore>(&Query::Get {
            key: Bytes::from_static(b"colour"),
        })
        .await
        .expect("read-only query");
    assert_eq!(
        read,
        QueryOutput::Get {
            value: Some(Bytes::from_static(b"blue"))
        }
    );
    let (output, certificate) = client
        .execute_certified::<KvStore>(&put("colour", "green"))
        .await
        .expect("certified put");
    let verified = certificate
        .verify(cluster.cluster())
        .expect("the certificate verifies offline");
    assert_eq!(verified.request, certificate.request.value.key());
    assert_eq!(
        rampart_replica::app::decode_output::<KvStore>(&verified.result).expect("output"),
        output
    );
    client.close().await;
    assert!(cluster.safety_violations().is_empty());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_changes_view_when_the_primary_stops_and_keeps_serving() {
    let mut cluster = cluster(4).await;
    let client = client(&cluster, 0).await;
    for i in 0..5 {
        client
            .execute::<KvStore>(&put("k", &i.to_string()))
            .await
            .expect("put before the primary stops");
    }
    cluster.stop(ReplicaId(0)).await.expect("primary stops");
    for i in 5..10 {
        client
            .execute::<KvStore>(&put("k", &i.to_string()))
            .await
            .expect("put after the primary stopped");
    }
    for replica in [ReplicaId(1), ReplicaId(2), ReplicaId(3)] {
        let status = cluster.status(replica).expect("running");
        assert!(
            status.view >= View(1),
            "{replica} is still in view {}",
            status.view
        );
    }
    assert!(client.view() >= View(1));
    client.close().await;

    // A client started now learns the view from the replicas before its first request,
    // and that request, whose designated repliers may include the stopped replica, needs
    // no retransmission.
    let view = cluster.status(ReplicaId(1)).expect("running").view;
    let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
    config.retransmit_interval_min = Duration::from_secs(20);
    config.retransmit_interval_max = Duration::from_secs(20);
    let fresh = Client::connect(config, cluster.client_key(1))
        .await
        .expect("client connects");
    assert_eq!(fresh.view(), view);
    for i in 10..13 {
        tokio::time::timeout(
            Duration::from_secs(10),
            fresh.execute::<KvStore>(&put("k", &i.to_string())),
        )
        .await
        .expect("no retransmission")
        .expect("put from a fresh client");
    }
    fresh.close().await;
    assert!(cluster.safety_violations().is_empty());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_a_key_not_in_the_configuration_cannot_join() {
    let mut cluster = cluster(4).await;
    let stranger = KeyPair::from_seed(424_242);
    let impostor = cluster
        .start_impostor(ReplicaId(3), stranger)
        .await
        .expect("the impostor process starts");
    // The three genuine replicas are a quorum and keep serving without it.
    let client = client(&cluster, 0).await;
    for i in 0..5 {
        client
            .execute::<KvStore>(&put("k", &i.to_string()))
            .await
            .expect("put without replica 3");
    }
    let refused: u64 = [ReplicaId(0), ReplicaId(1), ReplicaId(2)]
        .iter()
        .filter_map(|r| cluster.node(*r))
        .map(|node| node.transport_stats().handshakes_refused)
        .sum();
    assert!(refused > 0, "no replica refused the impostor's handshake");
    let status = impostor.status();
    assert_eq!(
        status.last_executed.0, 0,
        "the impostor took part: {status:?}"
    );
    impostor.shutdown().await.expect("impostor stops");
    client.close().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_frames_are_dropped_without_harm() {
    let cluster = cluster(4).await;
    // A faulty client: listed, so its frames reach the replicas.
    let attacker = cluster.client_key(7);
    let mut config = ClientTransportConfig::new(cluster.client_addresses());
    config.limits.max_frame_bytes = 64 << 20;
    let (transport, _replies) = ClientTransport::start(&attacker, cluster.cluster(), config)
        .await
        .expect("attacker connects");
    // Wait until the connections are up, then send garbage and a frame over the
    // replicas' 16 MiB limit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for replica in cluster.replica_ids() {
        let _ = transport.send(replica, Bytes::from_static(b"\xff\xff\xff not a frame"));
        let _ = transport.send(replica, Bytes::from(vec![0u8; 17 << 20]));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let undecodable: u64 = cluster
        .replica_ids()
        .iter()
        .filter_map(|r| cluster.node(*r))
        .map(|n| {
            n.inbound_counters()
                .frames_undecodable
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    let oversized: u64 = cluster
        .replica_ids()
        .iter()
        .filter_map(|r| cluster.node(*r))
        .map(|n| n.transport_stats().frames_oversized_refused)
        .sum();
    assert!(undecodable > 0, "no replica counted the malformed frame");
    assert!(oversized > 0, "no replica refused the oversized frame");
    transport.shutdown().await;
    // The replicas are unharmed.
    let client = client(&cluster, 1).await;
    client
        .execute::<KvStore>(&put("still", "serving"))
        .await
        .expect("served after the garbage");
    client.close().await;
    cluster.shutdown().await;
}

/// A replica that dies without closing its connections (`kill -9`) and comes back is
/// heard again at once. Replica 3 dials nobody (the lower id dials), so it depends on its
/// peers noticing that their connections to it are stale: the first packet each sends
/// reaches its new endpoint, which answers with a QUIC stateless reset that the peer
/// accepts, because the reset key derives from the replica's identity key and so survives
/// the restart. Otherwise a peer would wait out the idle timeout (30 s) before redialing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_crashed_without_a_word_is_redialed_at_once_after_restarting() {
    let mut cluster = cluster(4).await;
    let client = client(&cluster, 0).await;
    client
        .execute::<KvStore>(&put("before", "crash"))
        .await
        .expect("put before the crash");
    let crashed = ReplicaId(3);
    cluster.crash(crashed).await.expect("replica 3 stops");
    client
        .execute::<KvStore>(&put("while", "down"))
        .await
        .expect("put while replica 3 is down");
    cluster.restart(crashed).await.expect("replica 3 restarts");
    let redialed = |cluster: &LocalCluster| {
        cluster
            .node(crashed)
            .map_or(0, |node| node.transport_stats().connections_established)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut round = 0;
    while redialed(&cluster) < 3 && std::time::Instant::now() < deadline {
        client
            .execute::<KvStore>(&put("after", &round.to_string()))
            .await
            .expect("put after the restart");
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        redialed(&cluster) >= 3,
        "only {} of replica 3's three peers redialed it within 5 s of its restart",
        redialed(&cluster)
    );
    let caught_up = cluster
        .wait_until(Duration::from_secs(10), |statuses| {
            let executed = |r: u32| statuses.get(&ReplicaId(r)).map(|s| s.last_executed);
            executed(3).is_some() && executed(3) == executed(0)
        })
        .await;
    assert!(caught_up, "replica 3 did not catch up after its restart");
    client.close().await;
    cluster.shutdown().await;
}

/// Connects with `key` and submits one put; the error of whichever step fails. The
/// timeouts are far longer than the test may run, so a refusal that is not found at once
/// shows as a hung test rather than as a timeout error.
async fn put_once(cluster: &LocalCluster, key: KeyPair) -> Result<Output, ClientError> {
    let mut config = ClientConfig::new(cluster.cluster().clone(), cluster.client_addresses());
    config.request_timeout = Duration::from_secs(600);
    config.connect_timeout = Duration::from_secs(600);
    let client = Client::connect(config, key).await?;
    let output = client.execute::<KvStore>(&put("who", "me")).await;
    client.close().await;
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_key_is_not_admitted_while_listed_clients_are_served() {
    let cluster = cluster(4).await;
    let stranger = KeyPair::from_seed(555_555);
    match put_once(&cluster, stranger.clone()).await {
        Err(ClientError::NotAdmitted { key, refused_by }) => {
            assert_eq!(key, stranger.public_key());
            assert!(refused_by >= cluster.cluster().weak_quorum());
        }
        other => panic!("expected NotAdmitted, got {other:?}"),
    }
    put_once(&cluster, cluster.client_key(0))
        .await
        .expect("a listed client is served");
    let refused: u64 = cluster
        .replica_ids()
        .iter()
        .filter_map(|r| cluster.node(*r))
        .map(|node| node.transport_stats().handshakes_refused)
        .sum();
    assert!(refused > 0, "no replica counted the refusal");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_admission_serves_any_key() {
    let mut config = LocalClusterConfig::new(4, kv());
    config.listed_clients = 0;
    config.open_admission = true;
    let cluster = LocalCluster::start(config).await.expect("cluster starts");
    put_once(&cluster, KeyPair::from_seed(555_556))
        .await
        .expect("any key is served");
    cluster.shutdown().await;
}

/// A client that sends more bytes than its quota to one replica gets refusals from it,
/// while another client's requests complete. Replica 1 is cut off from its peers, so the
/// requests it holds never execute and the quota stays full whatever the timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_client_over_its_bytes_quota_is_refused_while_another_is_served() {
    const OPERATION_BYTES: usize = 16 << 10;
    let mut config = LocalClusterConfig::new(4, kv());
    config.protocol = |protocol| protocol.client_bytes_in_flight_max = 64 << 10;
    let cluster = LocalCluster::start(config).await.expect("cluster starts");
    let full = ReplicaId(1);
    cluster.isolate(full);
    let greedy = cluster.client_key(2);
    let mut transport_config = ClientTransportConfig::new(cluster.client_addresses());
    transport_config.timing.reconnect_min = Duration::from_millis(20);
    let (transport, mut frames) =
        ClientTransport::start(&greedy, cluster.cluster(), transport_config)
            .await
            .expect("the greedy client starts");
    let mut refused = 0;
    let mut number = 1;
    // Sends requests in rounds until replica 1 refuses one for bytes: the first round may
    // go out before the connection is up, and lost frames are not retransmitted here.
    for _round in 0..40 {
        if refused > 0 {
            break;
        }
        for _ in 0..8 {
            let command = Command::Put {
                key: Bytes::from(format!("greedy {number}")),
                value: Bytes::from(vec![b'g'; OPERATION_BYTES]),
            };
            let request = Request {
                client: ClientId(greedy.public_key()),
                number,
                operation: encode_command::<KvStore>(&command),
                read_only: false,
            };
            let request = Signed::sign(cluster.cluster().id, request, &greedy).expect("signs");
            let frame = encode(&ClientFrame::Request {
                request,
                certify: false,
                all_answer: false,
            });
            let _ = transport.send(full, Bytes::from(frame));
            number += 1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some((from, frame))) = tokio::time::timeout_at(deadline, frames.recv()).await {
            if let Ok(ReplicaFrame::Refused { refusal, .. }) = decode("replica frame", &frame) {
                assert_eq!(from, full);
                assert!(
                    matches!(refusal, Refusal::OverBytesQuota { limit_bytes } if limit_bytes == 64 << 10),
                    "{refusal:?}"
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "replica 1 never refused the greedy client");
    let client = client(&cluster, 0).await;
    for index in 0..3 {
        client
            .execute::<KvStore>(&put("modest", &index.to_string()))
            .await
            .expect("another client is served");
    }
    client.close().await;
    transport.shutdown().await;
    cluster.shutdown().await;
}
