//! Transport tests on real sockets (127.0.0.1, ephemeral ports). They wait for events, never
//! for fixed durations, and fail with a message rather than hang if an event never comes.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use rampart_crypto::{ClusterId, KeyPair};

use super::config::Timing;
use super::endpoint::Endpoint;
use super::hello::{Hello, Purpose, receive_hello, send_hello};
use super::identity::TlsIdentity;
use super::link::close_code;
use super::tls::{self, ALPN_REPLICA, SERVER_NAME};
use super::*;
use crate::cluster::{ClientAdmission, Cluster};
use crate::message::ReplicaId;
use crate::settings::ClusterSettings;

/// How long a test waits for something that should happen within milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn test_timing() -> Timing {
    Timing {
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        handshake_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(10),
    }
}

/// Waits for `future`, failing the test with `what` if it takes unreasonably long.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Polls `condition` until it holds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A replica under test.
struct Node {
    id: ReplicaId,
    transport: ReplicaTransport,
    inbound: InboundReceiver,
}

impl Node {
    async fn next(&mut self) -> Inbound {
        within("a frame", self.inbound.recv())
            .await
            .expect("the inbound channel stays open")
    }

    /// The next frame from replica `from`, skipping frames from anyone else.
    async fn next_from(&mut self, from: ReplicaId) -> Bytes {
        loop {
            if let Inbound::Replica {
                from: sender,
                frame,
            } = self.next().await
                && sender == from
            {
                return frame;
            }
        }
    }

    fn received_nothing(&mut self) -> bool {
        self.inbound.try_recv().is_none()
    }
}

/// A cluster's keys and addresses. Replicas are started from the highest id down, so
/// every replica a new one dials (the higher ids) already has its real address.
struct Harness {
    keys: Vec<KeyPair>,
    cluster: Cluster,
    addresses: Vec<SocketAddr>,
    /// The settings every replica runs with unless a test changes its own.
    settings: ClusterSettings,
}

impl Harness {
    fn new(size: u64) -> Harness {
        let keys: Vec<KeyPair> = (0..size).map(|i| KeyPair::from_seed(100 + i)).collect();
        let cluster = Cluster::new(ClusterId(7), keys.iter().map(KeyPair::public_key).collect())
            .expect("valid cluster");
        Harness {
            keys,
            settings: rampart_protocol::core::Config::new(cluster.clone()).settings("test"),
            cluster,
            addresses: vec![any_port(); size as usize],
        }
    }

    fn config(&self, id: u32) -> TransportConfig {
        let mut config = TransportConfig::new(
            self.addresses[id as usize],
            self.addresses.clone(),
            self.settings.clone(),
        );
        config.timing = test_timing();
        config.clients = ClientAdmission::listed([KeyPair::from_seed(4242).public_key()]);
        config
    }

    async fn start(&mut self, id: u32) -> Node {
        let config = self.config(id);
        self.start_with(id, config).await
    }

    async fn start_with(&mut self, id: u32, config: TransportConfig) -> Node {
        let (transport, inbound) = ReplicaTransport::start(
            ReplicaId(id),
            &self.keys[id as usize],
            &self.cluster,
            config,
        )
        .await
        .expect("the transport starts");
        self.addresses[id as usize] = transport.local_addr();
        Node {
            id: ReplicaId(id),
            transport,
            inbound,
        }
    }

    /// Starts every replica, highest id first; returns them in id order.
    async fn start_all(&mut self) -> Vec<Node> {
        let mut nodes = Vec::new();
        for id in (0..self.keys.len() as u32).rev() {
            nodes.push(self.start(id).await);
        }
        nodes.reverse();
        nodes
    }
}

/// Shuts replicas down from the lowest id up: dialers before the replicas they dial, so
/// no dial to a stopped replica is pending at shutdown (closing one waits for the QUIC
/// draining period, seconds with no round-trip time measured).
async fn shutdown_all(mut nodes: Vec<Node>) {
    nodes.sort_by_key(|node| node.id);
    for node in nodes {
        node.transport.shutdown().await;
    }
}

/// Sends `frame` from `from` to `to` until `to` receives a frame from `from`: for links
/// that are (re)connecting, where frames sent before the connection is up may be lost.
async fn deliver_eventually(from: &Node, to: &mut Node, frame: &'static [u8]) {
    within("a frame over a reconnected link", async {
        loop {
            let _ = from.transport.send(to.id, Bytes::from_static(frame));
            let attempt = tokio::time::timeout(Duration::from_millis(100), to.next_from(from.id));
            if let Ok(received) = attempt.await
                && received == frame
            {
                return;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn four_replicas_exchange_frames_both_ways_in_order() {
    const FRAMES_PER_PAIR: usize = 50;
    let mut harness = Harness::new(4);
    let mut nodes = harness.start_all().await;
    for from in &nodes {
        for to in &nodes {
            if from.id == to.id {
                continue;
            }
            for sequence in 0..FRAMES_PER_PAIR {
                let frame = format!("{}:{}", from.id.0, sequence);
                from.transport
                    .send(to.id, Bytes::from(frame))
                    .expect("the queue has room");
            }
        }
    }
    for node in &mut nodes {
        let mut next_expected = [0usize; 4];
        for _ in 0..3 * FRAMES_PER_PAIR {
            let Inbound::Replica { from, frame } = node.next().await else {
                panic!("only replicas send here");
            };
            let expected = format!("{}:{}", from.0, next_expected[from.0 as usize]);
            assert_eq!(frame, expected.as_bytes(), "at {} from {from}", node.id);
            next_expected[from.0 as usize] += 1;
        }
        assert_eq!(next_expected[node.id.0 as usize], 0, "nothing from itself");
        assert!(node.received_nothing());
    }
    for node in &nodes {
        let stats = node.transport.stats();
        assert_eq!(stats.frames_sent, 3 * FRAMES_PER_PAIR as u64);
        assert_eq!(stats.frames_received, 3 * FRAMES_PER_PAIR as u64);
        assert_eq!(stats.connections_established, 3, "one connection per pair");
        assert_eq!(stats.frames_dropped + stats.handshakes_refused, 0);
    }
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_key_outside_the_cluster_cannot_connect_as_a_replica() {
    let mut harness = Harness::new(4);
    let mut members = Vec::new();
    for id in [3, 2, 1] {
        members.push(harness.start(id).await);
    }
    // The stranger believes it is replica 0 of a cluster that lists its own key there.
    let stranger_key = KeyPair::from_seed(999);
    let mut believed = harness.cluster.replicas.clone();
    believed[0] = stranger_key.public_key();
    let believed = Cluster::new(harness.cluster.id, believed).expect("valid cluster");
    let mut config = harness.config(0);
    config.settings.replicas = believed.replicas.clone();
    let (stranger, _stranger_inbound) =
        ReplicaTransport::start(ReplicaId(0), &stranger_key, &believed, config)
            .await
            .expect("the stranger starts");
    for id in 1..4 {
        stranger
            .send(ReplicaId(id), Bytes::from_static(b"let me in"))
            .expect("queued");
    }
    for member in &members {
        eventually("every member to refuse the stranger", || {
            member.transport.stats().handshakes_refused > 0
        })
        .await;
    }
    // The members still talk to each other, and the first frame replica 1 sees is 2's.
    members[1]
        .transport
        .send(ReplicaId(1), Bytes::from_static(b"hello 1"))
        .expect("queued");
    assert_eq!(
        members[2].next().await,
        Inbound::Replica {
            from: ReplicaId(2),
            frame: Bytes::from_static(b"hello 1")
        }
    );
    for member in &mut members {
        assert!(member.received_nothing(), "nothing from the stranger");
        assert_eq!(
            member.transport.stats().frames_received,
            u64::from(member.id == ReplicaId(1))
        );
    }
    stranger.shutdown().await;
    shutdown_all(members).await;
}

#[tokio::test]
async fn an_impostor_at_a_replicas_address_is_refused() {
    let mut harness = Harness::new(4);
    let mut replica_3 = harness.start(3).await;
    // The impostor listens where replica 2 should be, with its own key.
    let impostor_key = KeyPair::from_seed(666);
    let mut believed = harness.cluster.replicas.clone();
    believed[2] = impostor_key.public_key();
    let believed = Cluster::new(harness.cluster.id, believed).expect("valid cluster");
    let mut config = harness.config(2);
    config.settings.replicas = believed.replicas.clone();
    let (impostor, mut impostor_inbound) =
        ReplicaTransport::start(ReplicaId(2), &impostor_key, &believed, config)
            .await
            .expect("the impostor starts");
    harness.addresses[2] = impostor.local_addr();
    let mut replica_1 = harness.start(1).await;
    let replica_0 = harness.start(0).await;
    for replica in [&replica_0, &replica_1] {
        replica
            .transport
            .send(ReplicaId(2), Bytes::from_static(b"for replica 2 only"))
            .expect("queued");
    }
    impostor
        .send(ReplicaId(3), Bytes::from_static(b"from replica 2, honest"))
        .expect("queued");
    for (name, replica) in [("0", &replica_0), ("1", &replica_1), ("3", &replica_3)] {
        eventually(&format!("replica {name} to refuse the impostor"), || {
            replica.transport.stats().handshakes_refused > 0
        })
        .await;
    }
    // Honest replicas are unaffected.
    deliver_eventually(&replica_0, &mut replica_1, b"still fine").await;
    assert!(
        impostor_inbound.try_recv().is_none(),
        "nothing reached the impostor"
    );
    // The impostor's TLS handshake with replica 3 completes (any valid key may connect as a
    // client), so it may even write its frame before the refusal reaches it; the frame is
    // never read.
    assert!(replica_3.received_nothing(), "nothing from the impostor");
    assert_eq!(replica_3.transport.stats().frames_received, 0);
    shutdown_all(vec![replica_0, replica_1]).await;
    impostor.shutdown().await;
    replica_3.transport.shutdown().await;
}

/// Dials replica `to` as replica `from` with a bare QUIC endpoint, to send what a
/// transport never would.
async fn dial_by_hand(harness: &Harness, from: usize, to: usize) -> (Endpoint, quinn::Connection) {
    let identity = TlsIdentity::new(&harness.keys[from]).expect("identity");
    let config = tls::client_config(
        &identity,
        harness.cluster.replicas[to],
        ALPN_REPLICA,
        &test_timing(),
    )
    .expect("client config");
    let endpoint = Endpoint::bind(any_port(), &harness.keys[from], None).expect("bind");
    let connection = within(
        "the handshake",
        endpoint
            .quic
            .connect_with(config, harness.addresses[to], SERVER_NAME)
            .expect("connect"),
    )
    .await
    .expect("the handshake completes");
    (endpoint, connection)
}

/// The HELLO replica `from` of `harness` sends for `purpose`, with boot id `boot_id`.
fn hello_of(harness: &Harness, from: u32, purpose: Purpose, boot_id: u64) -> Hello {
    Hello {
        purpose,
        replica: ReplicaId(from),
        boot_id,
        cluster: harness.cluster.id,
        settings: harness.settings.clone(),
    }
}

#[tokio::test]
async fn a_replica_dialing_one_with_a_lower_id_is_refused() {
    let mut harness = Harness::new(4);
    let replica_1 = harness.start(1).await;
    // Replica 1 dials replica 3, never the reverse: a second connection for the pair.
    let (endpoint, connection) = dial_by_hand(&harness, 3, 1).await;
    send_hello(&connection, &hello_of(&harness, 3, Purpose::Link, 1))
        .await
        .expect("HELLO sent");
    match within("replica 1 to refuse", connection.closed()).await {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, close_code::REFUSED)
        }
        other => panic!("unexpected close: {other}"),
    }
    assert_eq!(replica_1.transport.stats().handshakes_refused, 1);
    drop(connection);
    endpoint.close_connections();
    endpoint.release().await;
    replica_1.transport.shutdown().await;
}

#[tokio::test]
async fn an_oversized_length_prefix_is_refused_before_the_body_is_read() {
    let mut harness = Harness::new(4);
    let mut replica_3 = harness.start(3).await;
    let mut replica_2 = harness.start(2).await;
    let mut replica_1 = harness.start(1).await;
    // Play replica 0 by hand: a genuine identity that sends only a length prefix of 4 GiB.
    // Were replica 1 waiting for the body, it would never refuse.
    let (endpoint, connection) = dial_by_hand(&harness, 0, 1).await;
    send_hello(&connection, &hello_of(&harness, 0, Purpose::Link, 1))
        .await
        .expect("HELLO sent");
    within("replica 1's HELLO", receive_hello(&connection))
        .await
        .expect("replica 1 answers with its HELLO");
    let mut stream = connection.open_uni().await.expect("stream");
    stream
        .write_all(&u32::MAX.to_be_bytes())
        .await
        .expect("header written");
    let reason = within("replica 1 to close the connection", connection.closed()).await;
    match reason {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, close_code::FRAME_TOO_LARGE)
        }
        other => panic!("unexpected close: {other}"),
    }
    assert_eq!(replica_1.transport.stats().frames_oversized_refused, 1);
    assert_eq!(replica_1.transport.stats().frames_received, 0);
    drop((stream, connection));
    endpoint.close_connections();
    endpoint.release().await;

    // Replica 1 still hears the others, and the real replica 0 once it connects.
    replica_2
        .transport
        .send(ReplicaId(1), Bytes::from_static(b"from 2"))
        .expect("queued");
    assert_eq!(replica_1.next_from(ReplicaId(2)).await, &b"from 2"[..]);
    let mut replica_0 = harness.start(0).await;
    deliver_eventually(&replica_0, &mut replica_1, b"from 0").await;
    deliver_eventually(&replica_1, &mut replica_0, b"to 0").await;
    deliver_eventually(&replica_3, &mut replica_1, b"from 3").await;
    assert!(replica_2.received_nothing() && replica_3.received_nothing());
    shutdown_all(vec![replica_0, replica_1, replica_2, replica_3]).await;
}

#[tokio::test]
async fn a_peer_refused_for_an_oversized_frame_reconnects_and_is_heard_again() {
    let mut harness = Harness::new(4);
    let mut nodes = Vec::new();
    for id in (0..4).rev() {
        let mut config = harness.config(id);
        if id == 1 {
            config.limits.max_frame_bytes = 1024;
        }
        nodes.push(harness.start_with(id, config).await);
    }
    nodes.reverse();
    let (first, rest) = nodes.split_at_mut(1);
    let (replica_0, replica_1) = (&mut first[0], &mut rest[0]);
    replica_0
        .transport
        .send(ReplicaId(1), Bytes::from(vec![0u8; 4096]))
        .expect("within replica 0's own limit");
    eventually("replica 1 to refuse the frame", || {
        replica_1.transport.stats().frames_oversized_refused == 1
    })
    .await;
    // Replica 0 dials replica 1, so it reconnects by itself.
    deliver_eventually(replica_0, replica_1, b"small").await;
    deliver_eventually(replica_1, replica_0, b"back").await;
    assert!(replica_0.transport.stats().connections_established >= 4);
    assert_eq!(replica_1.transport.stats().frames_oversized_refused, 1);
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_restarted_replica_is_reconnected_automatically() {
    let mut harness = Harness::new(4);
    let mut nodes = harness.start_all().await;
    let restarted = nodes.remove(2);
    let address = restarted.transport.local_addr();
    restarted.transport.shutdown().await;
    let replacement = harness.start(2).await;
    assert_eq!(replacement.transport.local_addr(), address, "same port");
    nodes.insert(2, replacement);
    for peer in [0, 1, 3] {
        let (low, high) = nodes.split_at_mut(peer.max(2));
        let (peer_node, restarted_node) = if peer < 2 {
            (&mut low[peer], &mut high[0])
        } else {
            (&mut high[0], &mut low[2])
        };
        deliver_eventually(peer_node, restarted_node, b"welcome back").await;
        deliver_eventually(restarted_node, peer_node, b"thanks").await;
    }
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_client_sends_to_replicas_and_receives_their_replies() {
    let mut harness = Harness::new(4);
    let mut nodes = harness.start_all().await;
    let client_key = KeyPair::from_seed(4242);
    let mut config = ClientTransportConfig::new(harness.addresses.clone());
    config.bind = Some(any_port());
    let (client, mut replies) = ClientTransport::start(&client_key, &harness.cluster, config)
        .await
        .expect("the client starts");
    for node in &nodes {
        client
            .send(node.id, Bytes::from_static(b"request"))
            .expect("queued");
    }
    for node in &mut nodes {
        assert_eq!(
            node.next().await,
            Inbound::Client {
                from: client_key.public_key(),
                frame: Bytes::from_static(b"request")
            }
        );
        let reply = format!("reply from {}", node.id);
        node.transport
            .send_to_client(client_key.public_key(), Bytes::from(reply))
            .expect("the client is connected");
    }
    let mut seen = Vec::new();
    for _ in 0..nodes.len() {
        let (replica, frame) = within("a reply", replies.recv()).await.expect("open");
        assert_eq!(frame, format!("reply from {replica}").as_bytes());
        seen.push(replica);
    }
    seen.sort();
    assert_eq!(seen, harness.cluster.replica_ids().collect::<Vec<_>>());
    let unknown = KeyPair::from_seed(1).public_key();
    assert_eq!(
        nodes[0].transport.send_to_client(unknown, Bytes::new()),
        Err(SendError::ClientNotConnected { client: unknown })
    );
    client.shutdown().await;
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_client_that_is_not_listed_is_refused_and_told_why() {
    let mut harness = Harness::new(4);
    let mut nodes = Vec::new();
    for id in (0..4).rev() {
        let mut config = harness.config(id);
        config.clients = ClientAdmission::listed([KeyPair::from_seed(5000).public_key()]);
        nodes.push(harness.start_with(id, config).await);
    }
    let mut config = ClientTransportConfig::new(harness.addresses.clone());
    config.bind = Some(any_port());
    let (client, _replies) =
        ClientTransport::start(&KeyPair::from_seed(5001), &harness.cluster, config)
            .await
            .expect("the client starts");
    for node in &nodes {
        client
            .send(node.id, Bytes::from_static(b"request"))
            .expect("queued");
    }
    for node in &nodes {
        eventually("every replica to refuse the client", || {
            node.transport.stats().handshakes_refused > 0
        })
        .await;
    }
    let mut refused_by = client.not_admitted_by();
    within(
        "every replica's refusal to reach the client",
        refused_by.wait_for(|count| *count == 4),
    )
    .await
    .expect("the transport is running");
    for node in &mut nodes {
        assert!(node.received_nothing());
    }
    client.shutdown().await;
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn open_admission_admits_any_client_key() {
    let mut harness = Harness::new(4);
    let mut nodes = Vec::new();
    for id in (0..4).rev() {
        let mut config = harness.config(id);
        config.clients = ClientAdmission::Open;
        nodes.push(harness.start_with(id, config).await);
    }
    nodes.reverse();
    let stranger = KeyPair::from_seed(5002);
    let mut config = ClientTransportConfig::new(harness.addresses.clone());
    config.bind = Some(any_port());
    let (client, _replies) = ClientTransport::start(&stranger, &harness.cluster, config)
        .await
        .expect("the client starts");
    client
        .send(ReplicaId(0), Bytes::from_static(b"request"))
        .expect("queued");
    assert_eq!(
        nodes[0].next().await,
        Inbound::Client {
            from: stranger.public_key(),
            frame: Bytes::from_static(b"request")
        }
    );
    assert_eq!(*client.not_admitted_by().borrow(), 0);
    client.shutdown().await;
    shutdown_all(nodes).await;
}

#[tokio::test]
async fn a_full_outbound_queue_drops_and_reports_queue_full() {
    let mut harness = Harness::new(4);
    let mut config = harness.config(3);
    config.limits.queue_frames = 4;
    config.limits.max_frame_bytes = 64;
    // Replica 3 dials nobody, and nobody dials it: its queue to replica 0 never drains.
    let node = harness.start_with(3, config).await;
    for _ in 0..4 {
        node.transport
            .send(ReplicaId(0), Bytes::from_static(b"queued"))
            .expect("room in the queue");
    }
    assert_eq!(
        node.transport
            .send(ReplicaId(0), Bytes::from_static(b"dropped")),
        Err(SendError::QueueFull {
            peer: Peer::Replica(ReplicaId(0)),
            capacity: 4
        })
    );
    // Other peers have their own queues.
    node.transport
        .send(ReplicaId(1), Bytes::from_static(b"queued"))
        .expect("room in replica 1's queue");
    assert_eq!(
        node.transport
            .send(ReplicaId(1), Bytes::from(vec![0u8; 65])),
        Err(SendError::FrameTooLarge {
            length: 65,
            max_frame_bytes: 64
        })
    );
    for unknown in [ReplicaId(3), ReplicaId(4)] {
        assert_eq!(
            node.transport.send(unknown, Bytes::new()),
            Err(SendError::UnknownReplica { replica: unknown })
        );
    }
    assert_eq!(node.transport.stats().frames_dropped, 2);
    node.transport.shutdown().await;
}

#[tokio::test]
async fn binding_an_address_in_use_says_so() {
    let mut harness = Harness::new(4);
    let node = harness.start(3).await;
    let taken = node.transport.local_addr();
    let mut config = harness.config(2);
    config.listen = taken;
    let result =
        ReplicaTransport::start(ReplicaId(2), &harness.keys[2], &harness.cluster, config).await;
    match result {
        Err(error @ TransportError::Bind { address, .. }) => {
            assert_eq!(address, taken);
            let message = error.to_string();
            assert!(message.contains("in use"), "{message}");
            assert!(message.contains("`listen`"), "{message}");
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("bound an address already in use"),
    }
    node.transport.shutdown().await;
}

#[tokio::test]
async fn a_key_that_is_not_the_replicas_own_is_a_configuration_error() {
    let harness = Harness::new(4);
    let result = ReplicaTransport::start(
        ReplicaId(1),
        &harness.keys[2],
        &harness.cluster,
        harness.config(1),
    )
    .await;
    assert!(matches!(result, Err(TransportError::InvalidConfig { .. })));
}

#[tokio::test]
async fn protocol_frames_overtake_bulk_frames_queued_before_them() {
    const BULK_FRAMES: usize = 6;
    const BULK_FRAME_BYTES: usize = 8 << 20;
    let mut harness = Harness::new(4);
    let mut receiver = harness.start(1).await;
    let sender = harness.start(0).await;
    deliver_eventually(&sender, &mut receiver, b"connected").await;
    for _ in 0..BULK_FRAMES {
        sender
            .transport
            .send_on(
                Lane::Bulk,
                ReplicaId(1),
                Bytes::from(vec![7u8; BULK_FRAME_BYTES]),
            )
            .expect("room in the bulk queue");
    }
    sender
        .transport
        .send(ReplicaId(1), Bytes::from_static(b"prepare"))
        .expect("room in the protocol queue");
    let mut bulk_before = 0;
    loop {
        let frame = receiver.next_from(ReplicaId(0)).await;
        if frame.as_ref() == b"prepare" {
            break;
        }
        if frame.as_ref() == b"connected" {
            continue;
        }
        assert_eq!(frame.len(), BULK_FRAME_BYTES);
        bulk_before += 1;
    }
    assert!(
        bulk_before < BULK_FRAMES,
        "the protocol frame waited behind all {bulk_before} bulk frames queued before it"
    );
    let mut bulk_after = 0;
    while bulk_before + bulk_after < BULK_FRAMES {
        let frame = receiver.next_from(ReplicaId(0)).await;
        if frame.as_ref() != b"connected" {
            assert_eq!(
                frame.len(),
                BULK_FRAME_BYTES,
                "the rest of the bulk frames arrive"
            );
            bulk_after += 1;
        }
    }
    shutdown_all(vec![sender, receiver]).await;
}

/// Strangers holding every client connection and handshake the caps allow do not keep a
/// replica out: it dials from its listed address, which has capacity of its own, and
/// proves that address with a Retry.
#[tokio::test]
async fn a_replica_gets_in_while_strangers_fill_every_cap() {
    let mut harness = Harness::new(4);
    // Replica 0's port is known before replica 1 starts, as in a deployment.
    harness.addresses[0] = std::net::UdpSocket::bind(any_port())
        .and_then(|socket| socket.local_addr())
        .expect("a free port");
    let mut config = harness.config(1);
    // Admitted, so that they hold their connections rather than being closed at once.
    config.clients = ClientAdmission::Open;
    config.connection_limits = ConnectionLimits {
        connections_max: 1,
        connections_per_ip_max: 1,
        handshakes_max: 1,
        handshakes_per_ip_max: 1,
        handshakes_before_retry: 0,
    };
    let mut one = harness.start_with(1, config).await;
    let mut strangers = Vec::new();
    for seed in 0..3 {
        let mut config = ClientTransportConfig::new(harness.addresses.clone());
        config.bind = Some(any_port());
        config.timing = test_timing();
        let key = KeyPair::from_seed(7_000 + seed);
        let (stranger, _replies) = ClientTransport::start(&key, &harness.cluster, config)
            .await
            .expect("the stranger starts");
        strangers.push((stranger, _replies));
    }
    eventually("a stranger holds the one client connection", || {
        let stats = one.transport.stats();
        stats.client_connections_open == 1 && stats.connections_over_cap_refused > 0
    })
    .await;
    let zero = harness.start(0).await;
    deliver_eventually(&zero, &mut one, b"through the caps").await;
    assert!(one.transport.stats().handshakes_retried > 0);
    for (stranger, _) in strangers {
        stranger.shutdown().await;
    }
    shutdown_all(vec![zero, one]).await;
}

mod address_family;
mod identity;
mod moved_peer;
