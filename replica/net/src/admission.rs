//! Admission: who may connect to a replica, and in which role.
//!
//! Each connection attempt is first judged on its first packet against the caps on
//! connections and handshakes (see [`super::caps`]): beyond them it is refused, ignored or
//! asked to prove its address, before any cryptography. The TLS handshake then proves
//! which key a peer holds (see [`super::verifier`]); admission decides what that key may
//! do, from the ALPN protocol the peer asked for, before anything is read from the
//! connection.

use std::sync::Arc;

use quinn::ConnectionError;
use rampart_crypto::PublicKey;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::caps::{HandshakeSlot, Verdict};
use super::error::Peer;
use super::greeting::{Greeting, Judgement};
use super::hello::{Purpose, receive_hello, send_hello};
use super::inbound::Inbound;
use super::link::{Delivery, Lanes, close_code, serve};
use super::shared::{ClientLink, Shared};
use super::tls::{self, ALPN_CLIENT, ALPN_REPLICA};

/// Accepts connection attempts within the caps; each handshake runs in its own task so a
/// slow or silent peer cannot hold up the others.
pub(super) async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        match shared
            .caps
            .judge(remote, incoming.remote_address_validated())
        {
            Verdict::Accept(slot) => {
                let shared_for_task = Arc::clone(&shared);
                shared
                    .context
                    .tasks
                    .spawn(async move { shared_for_task.admit(incoming, slot).await });
            }
            Verdict::Retry => {
                // Only an attempt whose address is not yet validated is retried, and
                // such an attempt may always be.
                if let Err(error) = incoming.retry() {
                    error.into_incoming().ignore();
                }
            }
            Verdict::Refuse(_) => incoming.refuse(),
            Verdict::Ignore(_) => incoming.ignore(),
        }
    }
}

impl Shared {
    fn refuse(&self, connection: &quinn::Connection, key: Option<PublicKey>, reason: &str) {
        self.context.counters.handshake_refused();
        let key = key.map(|key| key.short()).unwrap_or_default();
        warn!(remote = %connection.remote_address(), key, reason, "refused a connection");
        connection.close(close_code::REFUSED, reason.as_bytes());
    }

    /// Refuses a client whose key the configuration does not admit, with a close code its
    /// transport recognizes (see [`super::not_admitted`]) and a log line at most every
    /// few seconds, since strangers can make keys at will.
    fn refuse_client(&self, connection: &quinn::Connection, key: PublicKey) {
        self.context.counters.handshake_refused();
        self.not_admitted_log
            .refused(&key, connection.remote_address());
        connection.close(
            close_code::NOT_ADMITTED,
            b"this client key is not admitted by the cluster",
        );
    }

    /// Completes the handshake, then admits the peer in the role its ALPN protocol asks
    /// for, if its key may have that role.
    /// The handshake counts against the caps, through `slot`, until it ends.
    async fn admit(self: Arc<Self>, incoming: quinn::Incoming, slot: HandshakeSlot) {
        let remote = incoming.remote_address();
        let handshake = tokio::time::timeout(self.timing.handshake_timeout, incoming).await;
        drop(slot);
        let connection = match handshake {
            Ok(Ok(connection)) => connection,
            Ok(Err(ConnectionError::TransportError(error))) => {
                // Raised on our side: the client verifier refused the certificate.
                self.context.counters.handshake_refused();
                warn!(%remote, %error, "refused a peer during the handshake");
                return;
            }
            Ok(Err(error)) => {
                debug!(%remote, %error, "an incoming handshake failed");
                return;
            }
            Err(_) => {
                debug!(%remote, "an incoming handshake timed out");
                return;
            }
        };
        // The client verifier made a certificate naming a valid ed25519 key mandatory, so
        // `None` here would be a bug in rustls or in our configuration; refuse regardless.
        let Some(key) = tls::peer_key(&connection) else {
            self.refuse(&connection, None, "no usable certificate");
            return;
        };
        match tls::negotiated_protocol(&connection).as_deref() {
            Some(ALPN_REPLICA) => self.admit_replica(connection, key).await,
            Some(ALPN_CLIENT) if !self.admission.admits(&key) => {
                self.refuse_client(&connection, key);
            }
            Some(ALPN_CLIENT) => self.admit_client(connection, key).await,
            _ => self.refuse(&connection, Some(key), "unknown application protocol"),
        }
    }

    /// Admits a replica: reads its HELLO, checks it (see `greeting`), and then serves the
    /// connection if it links a lower id to us, or answers it if it announces a higher
    /// id. This task holds the connection until then, for at most the handshake timeout
    /// to read the HELLO, and for as long as a twin check takes after that (the dialer
    /// gives up waiting for our answer after its own handshake timeout).
    async fn admit_replica(&self, connection: quinn::Connection, key: PublicKey) {
        let Some(peer) = self.cluster.replica_with_key(&key) else {
            self.refuse(&connection, Some(key), "the key is not a replica's");
            return;
        };
        let Some(link) = self.replicas.get(peer.0 as usize) else {
            return;
        };
        let Some(link) = link.as_ref() else {
            self.refuse(&connection, Some(key), "the key is this replica's own");
            return;
        };
        let hello =
            match tokio::time::timeout(self.timing.handshake_timeout, receive_hello(&connection))
                .await
            {
                Ok(Ok(hello)) => hello,
                Ok(Err(error)) => {
                    if connection.close_reason().is_none() {
                        self.refuse(&connection, Some(key), &error.to_string());
                    }
                    return;
                }
                Err(_) => {
                    self.refuse(
                        &connection,
                        Some(key),
                        "no HELLO within the handshake timeout",
                    );
                    return;
                }
            };
        if let Err(refusal) = self.greeting.check(peer, &hello) {
            connection.close(refusal.code, refusal.reason.as_bytes());
            return;
        }
        // Only lower ids dial higher ones, and only higher ids announce themselves to
        // lower ones; anything else would make a second connection for the pair.
        match (hello.purpose, &link.accepted) {
            (Purpose::Link, Some(accepted)) => {
                match self.greeting.judge(peer, hello.boot_id, &connection).await {
                    Judgement::Accept => {}
                    Judgement::Twin { running_boot_id } => {
                        refuse_twin(&connection, running_boot_id);
                        return;
                    }
                    Judgement::Abandoned => return,
                }
                if send_hello(&connection, &self.greeting.hello(Purpose::Link))
                    .await
                    .is_err()
                {
                    return;
                }
                self.greeting.serve(peer, &connection, hello.boot_id);
                self.context.counters.connection_established();
                self.context.counters.peers.established(Peer::Replica(peer));
                info!(peer = %peer, remote = %connection.remote_address(), "replica connected");
                if let Some(previous) = accepted.send_replace(Some(connection)) {
                    previous.close(close_code::REPLACED, b"replaced by a newer connection");
                }
            }
            (Purpose::Announce, None) => {
                match self.greeting.judge(peer, hello.boot_id, &connection).await {
                    Judgement::Accept => {
                        debug!(%peer, "a replica announced itself");
                        connection.close(close_code::ANNOUNCED, b"heard");
                    }
                    Judgement::Twin { running_boot_id } => {
                        refuse_twin(&connection, running_boot_id);
                    }
                    Judgement::Abandoned => {}
                }
            }
            (Purpose::Link, None) => self.refuse(
                &connection,
                Some(key),
                "a replica with a higher id dialed; the lower id dials",
            ),
            (Purpose::Announce, Some(_)) => self.refuse(
                &connection,
                Some(key),
                "a replica with a lower id announced itself; it dials instead",
            ),
        }
    }

    /// Serves a client's connection in this task until it ends. A client that connects
    /// again replaces its previous connection.
    async fn admit_client(&self, connection: quinn::Connection, key: PublicKey) {
        // Counted against the caps on client connections until this connection ends.
        let _slot = match self
            .caps
            .open_client_connection(connection.remote_address())
        {
            Ok(slot) => slot,
            Err(refusal) => {
                connection.close(close_code::REFUSED, refusal.reason().as_bytes());
                return;
            }
        };
        let (queue, protocol) = mpsc::channel(self.limits.queue_frames);
        let mut lanes = Lanes {
            protocol,
            bulk: None,
        };
        let link = ClientLink {
            queue,
            connection: connection.clone(),
        };
        if let Some(previous) = self.lock_clients().insert(key, link) {
            previous
                .connection
                .close(close_code::REPLACED, b"replaced by a newer connection");
        }
        self.context.counters.connection_established();
        let peer = Peer::Client(key);
        debug!(%peer, remote = %connection.remote_address(), "client connected");
        let delivery = Delivery {
            sink: self.lanes.clients.clone(),
            wrap: Arc::new(move |frame| Inbound::Client { from: key, frame }),
        };
        serve(&connection, peer, &mut lanes, delivery, &self.context).await;
        let mut clients = self.lock_clients();
        if clients
            .get(&key)
            .is_some_and(|link| link.connection.stable_id() == connection.stable_id())
        {
            clients.remove(&key);
        }
    }
}

/// Refuses a twin: another process with its key is live, with `running_boot_id` (the
/// greeting counted and logged it).
fn refuse_twin(connection: &quinn::Connection, running_boot_id: u64) {
    let refusal = Greeting::twin_refusal(running_boot_id);
    connection.close(refusal.code, refusal.reason.as_bytes());
}
