//! A client's socket follows the replicas' address family: with the default `bind`, a
//! client reaches replicas on IPv6, and replicas of both families at once.

use std::net::Ipv6Addr;

use super::*;

fn loopback_v6() -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, 0))
}

#[test]
fn the_bind_address_is_the_unspecified_address_of_the_replicas_family() {
    let v4 = |port| SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), port));
    let v6 = |port| SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), port));
    let bind = |addresses: Vec<SocketAddr>| ClientTransportConfig::new(addresses).bind_address();
    assert_eq!(bind(vec![v4(7100), v4(7101)]).to_string(), "0.0.0.0:0");
    assert_eq!(bind(vec![v6(7100), v6(7101)]).to_string(), "[::]:0");
    // Mixed: the dual-stack IPv6 socket reaches both; an IPv4 one would not reach IPv6.
    assert_eq!(bind(vec![v4(7100), v6(7101)]).to_string(), "[::]:0");
    assert_eq!(bind(vec![v6(7100), v4(7101)]).to_string(), "[::]:0");
    assert_eq!(bind(Vec::new()).to_string(), "0.0.0.0:0");
    // A configured address wins.
    let mut config = ClientTransportConfig::new(vec![v6(7100)]);
    config.bind = Some(any_port());
    assert_eq!(config.bind_address(), any_port());
}

/// Starts replicas on `addresses` (port 0), sends a frame from a client with the default
/// bind to each, and waits for each replica's answer.
async fn client_reaches_replicas_on(addresses: Vec<SocketAddr>) {
    let mut harness = Harness::new(addresses.len() as u64);
    harness.addresses = addresses;
    let mut nodes = harness.start_all().await;
    let client_key = KeyPair::from_seed(4242);
    let config = ClientTransportConfig::new(harness.addresses.clone());
    assert_eq!(config.bind, None, "the default chooses the address");
    let (client, mut replies) = ClientTransport::start(&client_key, &harness.cluster, config)
        .await
        .expect("the client starts");
    for node in &nodes {
        client
            .send(node.id, Bytes::from_static(b"request"))
            .expect("queued");
    }
    for node in &mut nodes {
        within("a request from the client", node.next()).await;
        node.transport
            .send_to_client(client_key.public_key(), Bytes::from_static(b"reply"))
            .expect("the client is connected");
    }
    for _ in 0..nodes.len() {
        within("a reply", replies.recv()).await.expect("open");
    }
    client.shutdown().await;
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_client_reaches_replicas_on_ipv6() {
    client_reaches_replicas_on(vec![loopback_v6(); 4]).await;
}

/// Replicas 0 and 1 on IPv4, 2 and 3 on IPv6: the client reaches all four. (The replicas
/// do not all reach each other, which this test does not need.)
#[tokio::test]
async fn a_client_reaches_replicas_of_both_families() {
    client_reaches_replicas_on(vec![any_port(), any_port(), loopback_v6(), loopback_v6()]).await;
}
