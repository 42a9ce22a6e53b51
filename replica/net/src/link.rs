//! A link to one peer: its outbound queue, the connection it currently uses, and the tasks
//! that move frames in both directions.
//!
//! Each side of a connection opens one long-lived unidirectional stream per [`Lane`] and
//! writes that lane's frames there in queue order, so frames of one lane between two
//! processes keep their order for as long as the connection lives. Replica links have two
//! lanes: protocol messages, and bulk (relayed requests, fetched batches, state transfer).
//! The protocol stream has the higher QUIC priority, so its frames leave before bulk bytes
//! already queued: a megabyte of relayed requests never holds up a PREPARE or a COMMIT.
//! Frames queued or in flight when a connection is lost are lost with it; PBFT recovers
//! from message loss by retransmission and view changes.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use quinn::{ConnectError, ConnectionError, VarInt};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::address::{PeerAddress, Resolver};
use super::backoff::Backoff;
use super::config::Timing;
use super::error::Peer;
use super::frame::{FrameError, framed_chunks, read_frame};
use super::greeting::Greeting;
use super::not_admitted::AdmissionRefusals;
use super::peers::wire_bytes;
use super::stats::Counters;
use super::tasks::{AbortOnDrop, Tasks};
use super::tls::SERVER_NAME;

pub(crate) use super::close_code;

/// Where the frames read from a peer go: the transport's single inbound channel, each frame
/// wrapped with who sent it.
pub(crate) struct Delivery<T> {
    pub(crate) sink: mpsc::Sender<T>,
    pub(crate) wrap: Arc<dyn Fn(Bytes) -> T + Send + Sync>,
}

impl<T> Clone for Delivery<T> {
    fn clone(&self) -> Delivery<T> {
        Delivery {
            sink: self.sink.clone(),
            wrap: Arc::clone(&self.wrap),
        }
    }
}

/// What every link of one transport shares.
#[derive(Debug, Clone)]
pub(crate) struct LinkContext {
    pub(crate) counters: Arc<Counters>,
    pub(crate) tasks: Arc<Tasks>,
    pub(crate) max_frame_bytes: usize,
}

/// Which outbound queue, and so which stream, a frame takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Protocol messages: small, and late ones cost a view change.
    Protocol,
    /// Requests relayed to the primary, batches fetched by a peer, state transfer: large,
    /// and a delay costs only time.
    Bulk,
}

/// QUIC stream priorities of the lanes: higher is sent first.
const PROTOCOL_PRIORITY: i32 = 1;
const BULK_PRIORITY: i32 = 0;

/// The outbound queues of one link: clients have only the protocol lane.
pub(crate) struct Lanes {
    pub(crate) protocol: mpsc::Receiver<Bytes>,
    pub(crate) bulk: Option<mpsc::Receiver<Bytes>>,
}

impl Lanes {
    fn is_closed(&self) -> bool {
        self.protocol.is_closed()
    }
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The connection is gone; a new one may take its place.
    Lost,
    /// The transport is shutting down (the queue's sending side is gone).
    ShutDown,
}

fn close(connection: &quinn::Connection, code: VarInt, reason: &'static str) {
    connection.close(code, reason.as_bytes());
}

/// The most queued frames written with one call.
const FRAMES_PER_WRITE_MAX: usize = 64;

/// Carries frames over `connection` until it ends: each lane's queued frames out on its own
/// stream, the peer's frames in to `delivery`. Closes the connection before returning, so
/// the peer notices at once and both sides start afresh.
pub(crate) async fn serve<T: Send + 'static>(
    connection: &quinn::Connection,
    peer: Peer,
    lanes: &mut Lanes,
    delivery: Delivery<T>,
    context: &LinkContext,
) -> Ended {
    let _serving = context.counters.peers.serving(peer);
    let _reader = AbortOnDrop(context.tasks.spawn(read_connection(
        connection.clone(),
        peer,
        delivery,
        context.clone(),
    )));
    let Some(protocol) = open_stream(connection, peer, PROTOCOL_PRIORITY).await else {
        return Ended::Lost;
    };
    let bulk = match &mut lanes.bulk {
        Some(queue) => match open_stream(connection, peer, BULK_PRIORITY).await {
            Some(stream) => Some((stream, queue)),
            None => return Ended::Lost,
        },
        None => None,
    };
    let write_bulk = async {
        match bulk {
            Some((stream, queue)) => write_lane(connection, peer, stream, queue, context).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        ended = write_lane(connection, peer, protocol, &mut lanes.protocol, context) => ended,
        ended = write_bulk => ended,
        reason = connection.closed() => {
            log_closed(peer, &reason);
            Ended::Lost
        }
    };
    if ended == Ended::ShutDown {
        close(connection, close_code::SHUTDOWN, "shutting down");
    }
    ended
}

async fn open_stream(
    connection: &quinn::Connection,
    peer: Peer,
    priority: i32,
) -> Option<quinn::SendStream> {
    match connection.open_uni().await {
        Ok(stream) => {
            // Fails only on a stream already closed, which the first write reports.
            let _ = stream.set_priority(priority);
            Some(stream)
        }
        Err(error) => {
            debug!(%peer, %error, "could not open a stream");
            None
        }
    }
}

/// Writes one lane's queued frames to its stream until the queue closes or a write fails.
async fn write_lane(
    connection: &quinn::Connection,
    peer: Peer,
    mut stream: quinn::SendStream,
    queue: &mut mpsc::Receiver<Bytes>,
    context: &LinkContext,
) -> Ended {
    loop {
        let Some(frame) = queue.recv().await else {
            return Ended::ShutDown;
        };
        // Everything already queued goes out in one write: one lock of the connection and
        // one wake-up of its driver, and the frames share packets.
        let mut frames = vec![frame];
        while frames.len() < FRAMES_PER_WRITE_MAX {
            match queue.try_recv() {
                Ok(frame) => frames.push(frame),
                Err(_) => break,
            }
        }
        let count = frames.len();
        let bytes = frames.iter().map(|frame| wire_bytes(frame.len())).sum();
        let mut chunks = framed_chunks(frames);
        match stream.write_all_chunks(&mut chunks).await {
            Ok(()) => {
                for _ in 0..count {
                    context.counters.frame_sent();
                }
                context.counters.peers.sent(peer, count as u64, bytes);
            }
            Err(error) => {
                for _ in 0..count {
                    context.counters.frame_dropped();
                }
                match connection.close_reason() {
                    Some(reason) => log_closed(peer, &reason),
                    None => debug!(%peer, %error, "writing frames failed"),
                }
                close(connection, close_code::STREAM_BROKEN, "stream broken");
                return Ended::Lost;
            }
        }
    }
}

fn log_closed(peer: Peer, reason: &ConnectionError) {
    match reason {
        ConnectionError::ApplicationClosed(close)
            if close.error_code == close_code::FRAME_TOO_LARGE =>
        {
            warn!(%peer, "the peer refused a frame of ours as too large; check max_frame_bytes")
        }
        ConnectionError::ApplicationClosed(close) if close.error_code == close_code::REFUSED => {
            warn!(%peer, "the peer refused our identity for the role we asked for")
        }
        ConnectionError::ApplicationClosed(close)
            if close.error_code == close_code::NOT_ADMITTED =>
        {
            warn!(
                %peer,
                "the replica does not admit this client's key; its operator must list the \
                 public key in the cluster file's [clients] keys"
            )
        }
        _ => debug!(%peer, %reason, "connection closed"),
    }
}

/// Reads the peer's frames from `connection` and delivers them, waiting while the inbound
/// channel is full so that QUIC flow control slows the peer down. Each of the peer's
/// streams (one per lane, see `tls`) is read by its own task, so a large bulk frame
/// arriving does not hold up the protocol frames behind it.
async fn read_connection<T: Send + 'static>(
    connection: quinn::Connection,
    peer: Peer,
    delivery: Delivery<T>,
    context: LinkContext,
) {
    // Dropped with this task, which aborts the readers.
    let mut readers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            stream = connection.accept_uni() => {
                let Ok(stream) = stream else { return };
                readers.spawn(read_stream(
                    connection.clone(),
                    stream,
                    peer,
                    delivery.clone(),
                    context.clone(),
                ));
            }
            Some(_) = readers.join_next(), if !readers.is_empty() => {}
        }
    }
}

/// Reads one stream's frames until it ends or breaks.
async fn read_stream<T: Send + 'static>(
    connection: quinn::Connection,
    mut stream: quinn::RecvStream,
    peer: Peer,
    delivery: Delivery<T>,
    context: LinkContext,
) {
    loop {
        match read_frame(&mut stream, context.max_frame_bytes).await {
            Ok(Some(frame)) => {
                let bytes = wire_bytes(frame.len());
                if delivery.sink.send((delivery.wrap)(frame)).await.is_err() {
                    // Nobody listens any more: the transport is going away.
                    return;
                }
                context.counters.frame_received();
                context.counters.peers.received(peer, bytes);
            }
            Ok(None) => return,
            Err(FrameError::TooLarge {
                length,
                max_frame_bytes,
            }) => {
                context.counters.frame_oversized();
                warn!(
                    %peer, length, max_frame_bytes,
                    "refused an oversized frame before reading it; closing the connection"
                );
                close(&connection, close_code::FRAME_TOO_LARGE, "frame too large");
                return;
            }
            Err(error) => {
                if connection.close_reason().is_none() {
                    debug!(%peer, %error, "reading a frame failed; closing the connection");
                    close(&connection, close_code::STREAM_BROKEN, "stream broken");
                }
                return;
            }
        }
    }
}

/// How to reach one peer by dialing it.
#[derive(Debug, Clone)]
pub(crate) struct Dialer {
    pub(crate) endpoint: quinn::Endpoint,
    pub(crate) config: quinn::ClientConfig,
    /// Resolved before every dial: a name may point elsewhere since the last one.
    pub(crate) address: PeerAddress,
    pub(crate) resolver: Resolver,
    pub(crate) peer: Peer,
    pub(crate) timing: Timing,
    /// For a client's dialer: where a replica's refusal to admit the client's key is
    /// reported.
    pub(crate) refusals: Option<Arc<AdmissionRefusals>>,
    /// For a replica's dialer: the HELLO exchanged before the connection is served.
    pub(crate) greeting: Option<Arc<Greeting>>,
}

impl Dialer {
    /// Whether `connection` may be served: a replica's once the HELLOs are exchanged and
    /// checked (see `greeting`), a client's at once.
    async fn greeted(&self, connection: &quinn::Connection) -> bool {
        match (&self.greeting, self.peer) {
            (Some(greeting), Peer::Replica(replica)) => greeting.link(connection, replica).await,
            _ => true,
        }
    }

    /// Reports to the client transport that the peer closed `reason` as not admitted.
    fn note_refusal(&self, reason: &ConnectionError) {
        if let (Some(refusals), Peer::Replica(replica)) = (&self.refusals, self.peer)
            && matches!(reason, ConnectionError::ApplicationClosed(close)
                if close.error_code == close_code::NOT_ADMITTED)
        {
            refusals.refused_by(replica);
        }
    }
}

/// The outcome of one dial.
pub(crate) enum Dial {
    Connected(quinn::Connection),
    /// The peer's name did not resolve (it may be starting, or moving).
    Unresolved(String),
    Failed,
    EndpointClosed,
}

impl Dialer {
    pub(crate) async fn dial(&self, counters: &Counters) -> Dial {
        let peer = self.peer;
        let lookup = self.resolver.resolve(&self.address);
        let address = match tokio::time::timeout(self.timing.handshake_timeout, lookup).await {
            Ok(Ok(address)) => address,
            Ok(Err(error)) => return Dial::Unresolved(error.to_string()),
            Err(_) => return Dial::Unresolved("the lookup timed out".to_string()),
        };
        let connecting = match self
            .endpoint
            .connect_with(self.config.clone(), address, SERVER_NAME)
        {
            Ok(connecting) => connecting,
            Err(ConnectError::EndpointStopping) => return Dial::EndpointClosed,
            Err(error) => {
                warn!(%peer, %address, %error, "cannot dial");
                return Dial::Failed;
            }
        };
        match tokio::time::timeout(self.timing.handshake_timeout, connecting).await {
            Ok(Ok(connection)) => Dial::Connected(connection),
            Ok(Err(ConnectionError::TransportError(error))) => {
                // Raised on our side during the handshake: most often our verifier
                // refusing a certificate that does not name the peer's pinned key.
                counters.handshake_refused();
                warn!(%peer, %address, %error, "refused the peer during the handshake");
                Dial::Failed
            }
            Ok(Err(error)) => {
                self.note_refusal(&error);
                debug!(%peer, %address, %error, "dial failed");
                Dial::Failed
            }
            Err(_) => {
                debug!(%peer, %address, "dial timed out");
                Dial::Failed
            }
        }
    }
}

/// Keeps a connection to the peer open for as long as the transport lives: dials, serves
/// the connection until it is lost, and dials again after an exponential backoff.
///
/// The delay returns to the minimum only after a connection that stayed up for at least
/// the maximum delay, so a peer that accepts and at once drops us cannot make us spin.
pub(crate) async fn run_dialer<T: Send + 'static>(
    dialer: Dialer,
    mut lanes: Lanes,
    delivery: Delivery<T>,
    context: LinkContext,
) {
    let mut backoff = Backoff::new(dialer.timing.reconnect_min, dialer.timing.reconnect_max);
    // Whether the last dial failed to resolve the name: only the first of a run of such
    // failures is a warning, so a peer that stays away does not flood the log.
    let mut unresolved = false;
    loop {
        let dial = dialer.dial(&context.counters).await;
        match &dial {
            Dial::Unresolved(error) if !unresolved => {
                warn!(
                    peer = %dialer.peer, address = %dialer.address, %error,
                    "cannot resolve the peer's address; trying again"
                );
            }
            Dial::Unresolved(error) => {
                debug!(peer = %dialer.peer, address = %dialer.address, %error, "cannot resolve");
            }
            _ => {}
        }
        unresolved = matches!(dial, Dial::Unresolved(_));
        match dial {
            Dial::Connected(connection) if !dialer.greeted(&connection).await => {
                // Refused by the peer, or refusing it: the greeting logged why.
            }
            Dial::Connected(connection) => {
                context.counters.connection_established();
                context.counters.peers.established(dialer.peer);
                info!(
                    peer = %dialer.peer,
                    address = %dialer.address,
                    remote = %connection.remote_address(),
                    "connected"
                );
                let started = Instant::now();
                let ended = serve(
                    &connection,
                    dialer.peer,
                    &mut lanes,
                    delivery.clone(),
                    &context,
                )
                .await;
                if ended == Ended::ShutDown {
                    return;
                }
                if let Some(reason) = connection.close_reason() {
                    dialer.note_refusal(&reason);
                }
                if started.elapsed() >= backoff.max() {
                    backoff.reset();
                }
            }
            Dial::Unresolved(_) | Dial::Failed => {}
            Dial::EndpointClosed => return,
        }
        if lanes.is_closed() {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Serves the connections a peer dials to us, always the newest one: the accept loop
/// publishes each new connection in `connections` (closing the one it replaces).
pub(crate) async fn run_accepted<T: Send + 'static>(
    peer: Peer,
    mut connections: watch::Receiver<Option<quinn::Connection>>,
    mut lanes: Lanes,
    delivery: Delivery<T>,
    context: LinkContext,
) {
    loop {
        let connection = loop {
            let current = connections.borrow_and_update().clone();
            if let Some(connection) = current
                && connection.close_reason().is_none()
            {
                break connection;
            }
            if connections.changed().await.is_err() {
                return;
            }
        };
        let replaced = tokio::select! {
            ended = serve(&connection, peer, &mut lanes, delivery.clone(), &context) => {
                if ended == Ended::ShutDown {
                    return;
                }
                false
            }
            changed = connections.changed() => {
                if changed.is_err() {
                    return;
                }
                true
            }
        };
        if replaced {
            debug!(%peer, "a newer connection replaced the current one");
        }
    }
}
