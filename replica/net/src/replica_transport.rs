//! The replica side of the transport: links to every other replica, and the connections
//! clients make to this replica.
//!
//! Exactly one connection joins each pair of replicas, and both use it in both directions:
//! the replica with the lower id dials, the higher one accepts. The dialer redials a lost
//! connection with backoff; the acceptor serves whichever connection from that replica is
//! newest, closing the one it replaces (the peer restarted, or the path broke and the
//! dialer noticed first), unless that one's process still lives (see `greeting`). Who may
//! connect, and in which role, is [`super::admission`]'s business.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rampart_crypto::{KeyPair, PublicKey};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::admission::accept_loop;
use super::announce::run_announcer;
use super::caps::Caps;
use super::config::TransportConfig;
use super::endpoint::{Endpoint, StopOnDrop};
use super::error::{Peer, SendError, TransportError};
use super::greeting::{Greeting, TwinRefusal};
use super::identity::TlsIdentity;
use super::inbound::{Inbound, InboundReceiver, lanes};
use super::link::{Delivery, Dialer, Lane, Lanes, LinkContext, run_accepted, run_dialer};
use super::not_admitted::NotAdmittedLog;
use super::peers::PeerStats;
use super::queue::enqueue;
use super::shared::{ReplicaLink, Shared};
use super::stats::{Counters, StatsHandle, TransportStats};
use super::tasks::Tasks;
use super::tls::{self, ALPN_REPLICA};
use crate::cluster::Cluster;
use crate::message::ReplicaId;

/// A replica's QUIC transport: bytes in, bytes out, authenticated peers; it knows nothing
/// of PBFT. See the [module documentation](super) for the guarantees.
#[derive(Debug)]
pub struct ReplicaTransport {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    _stop_on_drop: StopOnDrop,
}

impl ReplicaTransport {
    /// Binds `config.listen`, starts dialing the replicas with higher ids and accepting the
    /// others and clients. Returns the transport and the receiving side of everything
    /// received.
    ///
    /// `key` must be the key `cluster` lists for `me`.
    pub async fn start(
        me: ReplicaId,
        key: &KeyPair,
        cluster: &Cluster,
        config: TransportConfig,
    ) -> Result<(ReplicaTransport, InboundReceiver), TransportError> {
        let limits = config.limits;
        let timing = config.timing;
        limits.validate()?;
        timing.validate()?;
        config.connection_limits.validate()?;
        check_membership(me, key, cluster, &config)?;

        let identity = TlsIdentity::new(key)?;
        // The TLS layer accepts any valid key; the role and, for clients, admission are
        // decided right after the handshake (`admission`), so that a client that is not
        // admitted can be told why.
        let server = tls::server_config(&identity, &timing, &config.connection_limits)?;
        if config.clients.listed_count() == Some(0) {
            warn!(
                replica = %me,
                "no client is admitted: the cluster file's [clients] lists no key; list the \
                 clients' public keys, or set admission = \"open\""
            );
        }
        let endpoint = Endpoint::bind(config.listen, key, Some(server))?;

        let tasks = Arc::new(Tasks::default());
        let context = LinkContext {
            counters: Arc::new(Counters::for_replicas(cluster.size())),
            tasks: Arc::clone(&tasks),
            max_frame_bytes: limits.max_frame_bytes,
        };
        let boot_id = getrandom::u64().map_err(|error| TransportError::BootId {
            reason: error.to_string(),
        })?;
        let greeting = Arc::new(Greeting::new(
            me,
            boot_id,
            cluster.id,
            config.settings.clone(),
            timing,
            Arc::clone(&context.counters),
        ));
        let (lanes, inbound_receiver) = lanes(limits.inbound_frames);
        let peers = peer_addresses_now(me, &config).await;
        let caps = Caps::new(
            config.connection_limits,
            &peers,
            Arc::clone(&context.counters),
        );

        let mut replicas = Vec::with_capacity(cluster.size());
        let mut link_tasks = Vec::new();
        for peer in cluster.replica_ids() {
            if peer == me {
                replicas.push(None);
                continue;
            }
            let (queue, protocol) = mpsc::channel(limits.queue_frames);
            let (bulk, bulk_receiver) = mpsc::channel(limits.queue_frames);
            let outbound = Lanes {
                protocol,
                bulk: Some(bulk_receiver),
            };
            let delivery = Delivery {
                sink: lanes.replicas.clone(),
                wrap: Arc::new(move |frame| Inbound::Replica { from: peer, frame }),
            };
            let expected = cluster.replicas[peer.0 as usize];
            let dialer = Dialer {
                endpoint: endpoint.quic.clone(),
                config: tls::client_config(&identity, expected, ALPN_REPLICA, &timing)?,
                address: config.replica_addresses[peer.0 as usize].clone(),
                resolver: config.resolver.clone(),
                peer: Peer::Replica(peer),
                timing,
                refusals: None,
                greeting: Some(Arc::clone(&greeting)),
            };
            let accepted = if me < peer {
                link_tasks.push(
                    Box::pin(run_dialer(dialer, outbound, delivery, context.clone())) as LinkTask,
                );
                None
            } else {
                let (accepted, connections) = watch::channel(None);
                link_tasks.push(Box::pin(run_accepted(
                    Peer::Replica(peer),
                    connections,
                    outbound,
                    delivery,
                    context.clone(),
                )));
                link_tasks.push(Box::pin(run_announcer(
                    dialer,
                    peer,
                    Arc::clone(&greeting),
                    Arc::clone(&context.counters),
                )));
                Some(accepted)
            };
            replicas.push(Some(ReplicaLink {
                queue,
                bulk,
                accepted,
            }));
        }

        let shared = Arc::new(Shared {
            me,
            cluster: cluster.clone(),
            replicas,
            clients: Mutex::new(HashMap::new()),
            lanes,
            caps,
            admission: config.clients.clone(),
            not_admitted_log: NotAdmittedLog::default(),
            greeting,
            limits,
            timing,
            context,
        });
        for task in link_tasks {
            tasks.spawn(task);
        }
        tasks.spawn(accept_loop(endpoint.quic.clone(), Arc::clone(&shared)));
        info!(
            replica = %me, address = %endpoint.local_addr, boot_id = %format!("{boot_id:016x}"),
            "transport listening"
        );

        let stop_on_drop = StopOnDrop::new(tasks, &endpoint);
        let transport = ReplicaTransport {
            shared,
            endpoint,
            _stop_on_drop: stop_on_drop,
        };
        Ok((transport, inbound_receiver))
    }

    /// Queues `frame` for replica `to` on the protocol lane and returns at once. A full
    /// queue drops the frame (`SendError::QueueFull`): PBFT tolerates loss, and a slow peer
    /// must not stall us.
    pub fn send(&self, to: ReplicaId, frame: Bytes) -> Result<(), SendError> {
        self.send_on(Lane::Protocol, to, frame)
    }

    /// Queues `frame` for replica `to` on `lane`; same semantics as
    /// [`ReplicaTransport::send`]. Each lane has a queue of its own.
    pub fn send_on(&self, lane: Lane, to: ReplicaId, frame: Bytes) -> Result<(), SendError> {
        let link = self
            .shared
            .replicas
            .get(to.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(SendError::UnknownReplica { replica: to })?;
        let queue = match lane {
            Lane::Protocol => &link.queue,
            Lane::Bulk => &link.bulk,
        };
        enqueue(
            queue,
            Peer::Replica(to),
            frame,
            &self.shared.limits,
            &self.shared.context.counters,
        )
    }

    /// Queues `frame` for a connected client, over the connection it made to us; same
    /// semantics as [`ReplicaTransport::send`].
    pub fn send_to_client(&self, client: PublicKey, frame: Bytes) -> Result<(), SendError> {
        let clients = self.shared.lock_clients();
        let link = clients
            .get(&client)
            .ok_or(SendError::ClientNotConnected { client })?;
        enqueue(
            &link.queue,
            Peer::Client(client),
            frame,
            &self.shared.limits,
            &self.shared.context.counters,
        )
    }

    /// The random id this transport drew when it started, which its HELLOs carry: peers
    /// tell a restarted process, or a second one with the same key, by it.
    pub fn boot_id(&self) -> u64 {
        self.shared.greeting.boot_id()
    }

    /// Resolves once f + 1 replicas have refused this process as a twin: another process
    /// runs with this replica's key (see the crate documentation). The replica must then
    /// stop. Never resolves otherwise.
    pub async fn twin_refusal(&self) -> TwinRefusal {
        let mut verdict = self.shared.greeting.verdict();
        loop {
            if let Some(refusal) = verdict.borrow_and_update().clone() {
                return refusal;
            }
            if verdict.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The address the transport listens on, with the real port when `listen` had port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr
    }

    pub fn stats(&self) -> TransportStats {
        self.shared.context.counters.snapshot()
    }

    /// What was counted for each replica peer, by replica id (this replica's own entry
    /// stays at zero).
    pub fn peer_stats(&self) -> Vec<PeerStats> {
        self.shared.context.counters.peers.snapshot()
    }

    /// A handle on the counters that does not keep the transport alive.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.shared.context.counters))
    }

    /// Closes every connection (peers are told), stops every task, and returns once the
    /// UDP port is free again, so a restarted replica can bind it. A dial still pending to
    /// an unreachable replica must wait out QUIC's draining period first (about three
    /// probe timeouts, a few seconds without a measured round-trip time).
    pub async fn shutdown(self) {
        let ReplicaTransport {
            shared,
            endpoint,
            _stop_on_drop,
        } = self;
        endpoint.close_connections();
        shared.context.tasks.shutdown().await;
        endpoint.wait_idle().await;
        // The links hold connection handles, and those hold the socket.
        drop(shared);
        drop(_stop_on_drop);
        endpoint.release().await;
    }
}

type LinkTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The peers' addresses as they are now, which the caps exempt from the handshake limits
/// of strangers: names are looked up once, here. A name that does not resolve yet (a peer
/// still starting) is left out, and a peer that later moves dials in from an address the
/// caps do not know; either way it competes with clients for handshakes, never for
/// connections, until this replica restarts.
async fn peer_addresses_now(me: ReplicaId, config: &TransportConfig) -> Vec<SocketAddr> {
    let mut peers = Vec::with_capacity(config.replica_addresses.len());
    for (index, address) in config.replica_addresses.iter().enumerate() {
        if index == me.0 as usize {
            continue;
        }
        let lookup = config.resolver.resolve(address);
        match tokio::time::timeout(config.timing.handshake_timeout, lookup).await {
            Ok(Ok(resolved)) => peers.push(resolved),
            Ok(Err(error)) => {
                debug!(replica = %me, %address, %error, "a peer's name does not resolve yet")
            }
            Err(_) => debug!(replica = %me, %address, "looking up a peer's name timed out"),
        }
    }
    peers
}

fn check_membership(
    me: ReplicaId,
    key: &KeyPair,
    cluster: &Cluster,
    config: &TransportConfig,
) -> Result<(), TransportError> {
    let invalid = |reason: String| Err(TransportError::InvalidConfig { reason });
    if let Err(error) = cluster.validate() {
        return invalid(error.to_string());
    }
    match cluster.key(me) {
        None => {
            return invalid(format!(
                "{me} is not in the cluster, which has {} replicas",
                cluster.size()
            ));
        }
        Some(listed) if listed != key.public_key() => {
            return invalid(format!(
                "the cluster lists key {} for {me}, but this process has key {}",
                listed.short(),
                key.public_key().short()
            ));
        }
        Some(_) => {}
    }
    if config.settings.replicas != cluster.replicas {
        return invalid(
            "the cluster settings list other replica keys, or another order of them, than \
             the cluster"
                .to_string(),
        );
    }
    if config.replica_addresses.len() != cluster.size() {
        return invalid(format!(
            "replica_addresses has {} entries for a cluster of {} replicas",
            config.replica_addresses.len(),
            cluster.size()
        ));
    }
    Ok(())
}
