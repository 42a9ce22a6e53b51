//! Four replica nodes over real QUIC on 127.0.0.1, driven by a raw client transport.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rampart_crypto::{ClusterId, KeyPair, Signed};
use rampart_replica::app::{Typed, decode_output, encode_command};
use rampart_replica::apps::kv::{Command, KvStore, Output};
use rampart_replica::cluster::{ClientAdmission, Cluster};
use rampart_replica::core::Config;
use rampart_replica::message::{ClientId, ReplicaId, Request, decode, encode};
use rampart_replica::net::{ClientTransport, ClientTransportConfig};
use rampart_replica::node::{Node, NodeConfig};
use rampart_replica::wire::{ClientFrame, ReplicaFrame};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_commit_a_clients_commands() {
    let keys: Vec<KeyPair> = (0..4).map(|i| KeyPair::from_seed(500 + i)).collect();
    let cluster =
        Cluster::new(ClusterId(5), keys.iter().map(|k| k.public_key()).collect()).expect("cluster");
    // Each replica binds port 0 and is started from the highest id down: a replica dials
    // only those with higher ids, whose real addresses are then known. (Reserving ports
    // beforehand and binding them again races with other tests for the same ports.)
    let mut addresses: Vec<SocketAddr> = vec![SocketAddr::from(([127, 0, 0, 1], 0)); 4];
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().expect("dir")).collect();
    let client_key = KeyPair::from_seed(9_000);
    let mut nodes = Vec::new();
    for (i, key) in keys.iter().enumerate().rev() {
        let protocol = Config {
            clients: ClientAdmission::listed([client_key.public_key()]),
            ..Config::new(cluster.clone())
        };
        let mut config = NodeConfig::new(
            ReplicaId(i as u32),
            protocol,
            addresses.clone(),
            dirs[i].path().to_path_buf(),
        );
        config.store.sync = false;
        let node = Node::builder(config)
            .key(key.clone())
            .application(Typed::new(KvStore::new()))
            .start()
            .await
            .expect("node starts");
        addresses[i] = node.local_addr();
        nodes.push(node);
    }
    nodes.reverse();
    let (transport, mut replies) = ClientTransport::start(
        &client_key,
        &cluster,
        ClientTransportConfig::new(addresses.clone()),
    )
    .await
    .expect("client transport");
    for number in 1..=20u64 {
        let command = Command::Put {
            key: Bytes::from(format!("k{}", number % 3)),
            value: Bytes::from(format!("v{number}")),
        };
        let request = Request {
            client: ClientId(client_key.public_key()),
            number,
            operation: encode_command::<KvStore>(&command),
            read_only: false,
        };
        let request = Signed::sign(cluster.id, request, &client_key).expect("signs");
        let frame = Bytes::from(encode(&ClientFrame::Request {
            request,
            certify: false,
            all_answer: true,
        }));
        for replica in 0..4 {
            let _ = transport.send(ReplicaId(replica), frame.clone());
        }
        let mut matching = std::collections::BTreeMap::new();
        loop {
            let (from, frame) = tokio::time::timeout(Duration::from_secs(20), replies.recv())
                .await
                .expect("a reply in time")
                .expect("transport open");
            let ReplicaFrame::Reply { reply, .. } = decode("reply", &frame).expect("decodes")
            else {
                panic!("refused");
            };
            if reply.number != number {
                continue;
            }
            matching.insert(from, reply.result.clone());
            let agree = matching.values().filter(|r| **r == reply.result).count();
            if agree >= 2 {
                let output = decode_output::<KvStore>(&reply.result).expect("output");
                assert!(matches!(output, Output::Put { .. }));
                break;
            }
        }
    }
    transport.shutdown().await;
    for node in nodes {
        let status = node.status();
        assert!(status.last_executed.0 >= 1, "{status:?}");
        node.shutdown().await.expect("clean shutdown");
    }
}
