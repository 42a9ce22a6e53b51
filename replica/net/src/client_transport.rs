//! The client side of the transport: one connection to each replica, dialed with the
//! client's own key and the `rampart-client/1` protocol.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::KeyPair;
use tokio::sync::{mpsc, watch};
use tracing::debug;

use super::address::{PeerAddress, Resolver};
use super::config::{ClientTransportConfig, Limits};
use super::endpoint::{Endpoint, StopOnDrop};
use super::error::{Peer, SendError, TransportError};
use super::identity::TlsIdentity;
use super::link::{Delivery, Dialer, Lanes, LinkContext, run_dialer};
use super::not_admitted::AdmissionRefusals;
use super::queue::enqueue;
use super::stats::{Counters, TransportStats};
use super::tasks::Tasks;
use super::tls::{self, ALPN_CLIENT};
use crate::cluster::Cluster;
use crate::message::ReplicaId;

/// A client's QUIC transport to every replica of a cluster.
///
/// Each replica's certificate must name the key the cluster lists for it. Connections are
/// kept open and redialed with backoff when lost, rather than only when there is something
/// to send, because a replica can only reach a client (with a reply, possibly to a request
/// sent before the loss) over a connection the client made.
#[derive(Debug)]
pub struct ClientTransport {
    queues: Vec<mpsc::Sender<Bytes>>,
    limits: Limits,
    counters: Arc<Counters>,
    refusals: Arc<AdmissionRefusals>,
    tasks: Arc<Tasks>,
    endpoint: Endpoint,
    _stop_on_drop: StopOnDrop,
}

impl ClientTransport {
    /// Binds `config.bind_address()` and starts dialing every replica. Returns the transport and
    /// the channel of frames replicas send back, each with the replica's id.
    pub async fn start(
        key: &KeyPair,
        cluster: &Cluster,
        config: ClientTransportConfig,
    ) -> Result<(ClientTransport, mpsc::Receiver<(ReplicaId, Bytes)>), TransportError> {
        let limits = config.limits;
        let timing = config.timing;
        limits.validate()?;
        timing.validate()?;
        if config.replica_addresses.len() != cluster.size() {
            return Err(TransportError::InvalidConfig {
                reason: format!(
                    "replica_addresses has {} entries for a cluster of {} replicas",
                    config.replica_addresses.len(),
                    cluster.size()
                ),
            });
        }
        let identity = TlsIdentity::new(key)?;
        let endpoint = Endpoint::bind(config.bind_address(), key, None)?;
        let tasks = Arc::new(Tasks::default());
        let counters = Arc::new(Counters::default());
        let context = LinkContext {
            counters: Arc::clone(&counters),
            tasks: Arc::clone(&tasks),
            max_frame_bytes: limits.max_frame_bytes,
        };
        let (inbound, inbound_receiver) = mpsc::channel(limits.inbound_frames);
        let refusals = Arc::new(AdmissionRefusals::new(cluster.size()));
        let mut queues = Vec::with_capacity(cluster.size());
        for (replica, (expected, address)) in cluster
            .replica_ids()
            .zip(cluster.replicas.iter().zip(&config.replica_addresses))
        {
            let (queue, queue_receiver) = mpsc::channel(limits.queue_frames);
            let dialer = Dialer {
                greeting: None,
                endpoint: endpoint.quic.clone(),
                config: tls::client_config(&identity, *expected, ALPN_CLIENT, &timing)?,
                address: PeerAddress::Socket(*address),
                resolver: Resolver::system(),
                peer: Peer::Replica(replica),
                timing,
                refusals: Some(Arc::clone(&refusals)),
            };
            // A replica sends frames only to clients it admitted.
            let admitted = Arc::clone(&refusals);
            let delivery = Delivery {
                sink: inbound.clone(),
                wrap: Arc::new(move |frame| {
                    admitted.admitted_by(replica);
                    (replica, frame)
                }),
            };
            tasks.spawn(run_dialer(
                dialer,
                Lanes {
                    protocol: queue_receiver,
                    bulk: None,
                },
                delivery,
                context.clone(),
            ));
            queues.push(queue);
        }
        debug!(address = %endpoint.local_addr, "client transport started");
        let transport = ClientTransport {
            queues,
            limits,
            counters,
            refusals,
            _stop_on_drop: StopOnDrop::new(Arc::clone(&tasks), &endpoint),
            tasks,
            endpoint,
        };
        Ok((transport, inbound_receiver))
    }

    /// Queues `frame` for replica `to` and returns at once; a full queue drops the frame
    /// (`SendError::QueueFull`).
    pub fn send(&self, to: ReplicaId, frame: Bytes) -> Result<(), SendError> {
        let queue = self
            .queues
            .get(to.0 as usize)
            .ok_or(SendError::UnknownReplica { replica: to })?;
        enqueue(
            queue,
            Peer::Replica(to),
            frame,
            &self.limits,
            &self.counters,
        )
    }

    /// The local address the client sends from.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr
    }

    /// How many replicas refuse to admit this client's key, updated as it changes: a
    /// replica counts from the moment it closes a connection as not admitted until it
    /// sends a frame. Since a faulty replica may refuse anyone, a caller should believe
    /// a refusal only once f + 1 replicas report it.
    pub fn not_admitted_by(&self) -> watch::Receiver<usize> {
        self.refusals.subscribe()
    }

    pub fn stats(&self) -> TransportStats {
        self.counters.snapshot()
    }

    /// Closes every connection (replicas are told), stops every task, and releases the
    /// socket.
    pub async fn shutdown(self) {
        let ClientTransport {
            queues,
            counters: _,
            limits: _,
            refusals: _,
            tasks,
            endpoint,
            _stop_on_drop,
        } = self;
        endpoint.close_connections();
        tasks.shutdown().await;
        endpoint.wait_idle().await;
        drop(queues);
        drop(_stop_on_drop);
        endpoint.release().await;
    }
}
