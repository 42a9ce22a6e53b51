//! HELLO on real connections: a replica with other cluster settings is refused with the
//! settings named, a second process running with a replica's key is refused by its peers
//! and told to stop, and a replica restarted after a crash is not taken for one.

use std::io::{self, IoSliceMut};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, Runtime, UdpPoller};

use super::*;

/// The close code and reason of a connection the peer closed.
async fn refusal_of(connection: &quinn::Connection) -> (quinn::VarInt, String) {
    match within("the peer to close the connection", connection.closed()).await {
        quinn::ConnectionError::ApplicationClosed(close) => (
            close.error_code,
            String::from_utf8_lossy(&close.reason).into_owned(),
        ),
        other => panic!("unexpected close: {other}"),
    }
}

#[tokio::test]
async fn a_replica_with_other_settings_is_refused_naming_each_setting() {
    let mut harness = Harness::new(4);
    let replica_3 = harness.start(3).await;
    let replica_2 = harness.start(2).await;
    let mut config = harness.config(1);
    config.settings.checkpoint_interval = 64;
    let replica_1 = harness.start_with(1, config).await;
    replica_1
        .transport
        .send(ReplicaId(2), Bytes::from_static(b"never read"))
        .expect("queued");
    for peer in [&replica_2, &replica_3] {
        eventually("each peer to refuse replica 1's settings", || {
            peer.transport.stats().settings_refused > 0
        })
        .await;
    }
    eventually("replica 1 to hear both refusals", || {
        replica_1.transport.stats().peer_refused_settings >= 2
    })
    .await;
    // A misconfiguration, refused before any frame: not a key or handshake problem.
    let stats = replica_1.transport.stats();
    assert_eq!(stats.connections_established, 0);
    assert_eq!(stats.handshakes_refused, 0);
    assert_eq!(replica_2.transport.stats().handshakes_refused, 0);
    assert_eq!(replica_2.transport.stats().frames_received, 0);

    // What the refused replica reads, by hand: each differing setting, from its side.
    let (endpoint, connection) = dial_by_hand(&harness, 1, 2).await;
    let mut hello = hello_of(&harness, 1, Purpose::Link, 1);
    hello.settings.checkpoint_interval = 64;
    hello.settings.application = "other".to_string();
    send_hello(&connection, &hello).await.expect("HELLO sent");
    let (code, reason) = refusal_of(&connection).await;
    assert_eq!(code, close_code::SETTINGS);
    assert_eq!(
        reason,
        "replica 2 runs with checkpoint_interval 128, you run 64; with application \"test\", \
         you run \"other\": re-run `rampart init` and give every replica the same cluster.toml"
    );
    drop(connection);
    endpoint.close_connections();
    endpoint.release().await;
    shutdown_all(vec![replica_1, replica_2, replica_3]).await;
}

#[tokio::test]
async fn a_replica_with_another_cluster_id_is_refused_naming_it() {
    let mut harness = Harness::new(4);
    let replica_3 = harness.start(3).await;
    let (endpoint, connection) = dial_by_hand(&harness, 0, 3).await;
    let mut hello = hello_of(&harness, 0, Purpose::Link, 1);
    hello.cluster = rampart_crypto::ClusterId(8);
    send_hello(&connection, &hello).await.expect("HELLO sent");
    let (code, reason) = refusal_of(&connection).await;
    assert_eq!(code, close_code::SETTINGS);
    assert!(
        reason.starts_with(
            "replica 3 runs with cluster_id 0000000000000007, you run 0000000000000008"
        ),
        "{reason}"
    );
    assert_eq!(replica_3.transport.stats().settings_refused, 1);
    drop(connection);
    endpoint.close_connections();
    endpoint.release().await;
    replica_3.transport.shutdown().await;
}

#[tokio::test]
async fn a_hello_that_names_another_replica_than_the_key_is_refused() {
    let mut harness = Harness::new(4);
    let replica_3 = harness.start(3).await;
    // Replica 0's key, claiming to be replica 1.
    let (endpoint, connection) = dial_by_hand(&harness, 0, 3).await;
    send_hello(&connection, &hello_of(&harness, 1, Purpose::Link, 1))
        .await
        .expect("HELLO sent");
    let (code, _) = refusal_of(&connection).await;
    assert_eq!(code, close_code::REFUSED);
    assert_eq!(replica_3.transport.stats().handshakes_refused, 1);
    drop(connection);
    endpoint.close_connections();
    endpoint.release().await;
    replica_3.transport.shutdown().await;
}

/// Links every pair of `nodes` both ways, so that each serves a connection to each.
async fn link_all(nodes: &mut [Node]) {
    for from in 0..nodes.len() {
        for to in 0..nodes.len() {
            if from != to {
                let (low, high) = nodes.split_at_mut(from.max(to));
                let (sender, receiver) = if from < to {
                    (&low[from], &mut high[0])
                } else {
                    (&high[0], &mut low[to])
                };
                deliver_eventually(sender, receiver, b"linked").await;
            }
        }
    }
}

#[tokio::test]
async fn a_second_process_with_a_replicas_key_is_refused_and_told_to_stop() {
    let mut harness = Harness::new(4);
    let mut nodes = harness.start_all().await;
    link_all(&mut nodes).await;
    let running_boot_id = nodes[1].transport.boot_id();

    // The twin: replica 1's key and files, on a port of its own. It dials replicas 2 and 3
    // and announces itself to replica 0, which dialed the original.
    let mut config = harness.config(1);
    config.listen = any_port();
    let (twin, _twin_inbound) =
        ReplicaTransport::start(ReplicaId(1), &harness.keys[1], &harness.cluster, config)
            .await
            .expect("the twin starts");
    assert_ne!(twin.boot_id(), running_boot_id);
    let refusal = within("f + 1 replicas to refuse the twin", twin.twin_refusal()).await;
    assert_eq!(refusal.replica, ReplicaId(1));
    assert_eq!(refusal.boot_id, twin.boot_id());
    assert!(refusal.refused_by.len() >= 2, "{refusal:?}");
    assert!(
        refusal
            .refused_by
            .values()
            .all(|boot_id| *boot_id == running_boot_id)
    );
    assert!(
        refusal
            .to_string()
            .starts_with("another process already runs replica 1; refusing to run"),
        "{refusal}"
    );
    // Every peer refuses it, replica 0 through the announcement; none as a handshake
    // (key) problem.
    for peer in [0, 2, 3] {
        eventually(&format!("replica {peer} to refuse the twin"), || {
            nodes[peer].transport.stats().twins_refused > 0
        })
        .await;
        assert_eq!(nodes[peer].transport.stats().handshakes_refused, 0);
    }
    assert!(twin.stats().peer_refused_twin >= 2);
    assert_eq!(twin.stats().connections_established, 0);
    // The original is unharmed.
    link_all(&mut nodes).await;
    twin.shutdown().await;
    shutdown_all(nodes).await;
}

/// A UDP socket whose sends can be stopped: a process that crashed, as far as its peers
/// can tell (nothing more comes from it, not even a CONNECTION_CLOSE).
#[derive(Debug)]
struct Silenceable {
    inner: Arc<dyn AsyncUdpSocket>,
    silent: Arc<AtomicBool>,
}

impl AsyncUdpSocket for Silenceable {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Arc::clone(&self.inner).create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        if self.silent.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[tokio::test]
async fn a_replica_restarted_after_a_crash_is_accepted_once_its_old_connections_are_gone() {
    // A short idle timeout: the peers find the old connections dead in a second.
    let idle = |mut config: TransportConfig| {
        config.timing.idle_timeout = Duration::from_secs(1);
        config
    };
    let mut harness = Harness::new(4);
    let mut replica_3 = harness.start_with(3, idle(harness.config(3))).await;
    let mut replica_2 = harness.start_with(2, idle(harness.config(2))).await;

    // Replica 1's first process, by hand: it links to replicas 2 and 3, then crashes.
    let silent = Arc::new(AtomicBool::new(false));
    let runtime = Arc::new(quinn::TokioRuntime);
    let socket = runtime
        .wrap_udp_socket(std::net::UdpSocket::bind(any_port()).expect("bind"))
        .expect("socket");
    let socket = Arc::new(Silenceable {
        inner: socket,
        silent: Arc::clone(&silent),
    });
    let old = quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        socket,
        runtime,
    )
    .expect("endpoint");
    let identity = TlsIdentity::new(&harness.keys[1]).expect("identity");
    let timing = idle(harness.config(1)).timing;
    let mut old_connections = Vec::new();
    for to in [2, 3] {
        let config = tls::client_config(
            &identity,
            harness.cluster.replicas[to],
            ALPN_REPLICA,
            &timing,
        )
        .expect("client config");
        let connection = within(
            "the old process's handshake",
            old.connect_with(config, harness.addresses[to], SERVER_NAME)
                .expect("connect"),
        )
        .await
        .expect("connected");
        send_hello(&connection, &hello_of(&harness, 1, Purpose::Link, 0xdead))
            .await
            .expect("HELLO sent");
        within("the peer's HELLO", receive_hello(&connection))
            .await
            .expect("the peer accepts the old process");
        old_connections.push(connection);
    }
    silent.store(true, Ordering::Relaxed);

    // The restarted process: a new boot id, on another port (no stateless reset can close
    // the old connections for it). Its peers wait for the old connections to time out,
    // and then accept it; they never refuse it as a twin.
    let mut config = idle(harness.config(1));
    config.listen = any_port();
    let restarted = harness.start_with(1, config).await;
    deliver_eventually(&restarted, &mut replica_2, b"back").await;
    deliver_eventually(&restarted, &mut replica_3, b"back").await;
    for node in [&restarted, &replica_2, &replica_3] {
        let stats = node.transport.stats();
        assert_eq!(
            stats.twins_refused + stats.peer_refused_twin,
            0,
            "{stats:?}"
        );
    }
    assert!(
        tokio::time::timeout(
            Duration::from_millis(10),
            restarted.transport.twin_refusal()
        )
        .await
        .is_err(),
        "the restarted process was told to stop"
    );
    drop(old_connections);
    old.close(close_code::SHUTDOWN, b"");
    shutdown_all(vec![restarted, replica_2, replica_3]).await;
}
