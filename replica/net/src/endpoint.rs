//! The UDP socket and QUIC endpoint a transport runs on, and the means to know when the
//! socket is really closed.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Duration;

use quinn::{AsyncUdpSocket, Runtime};
use quinn_proto::HashedConnectionIdGenerator;
use rampart_crypto::{Digest, KeyPair};
use tracing::debug;

use super::error::TransportError;
use super::link::close_code;
use super::tasks::Tasks;

/// How long [`Endpoint::release`] waits for the runtime to release the socket.
const SOCKET_RELEASE_WAIT: Duration = Duration::from_secs(2);

/// How long [`Endpoint::wait_idle`] lets closed connections drain.
const DRAIN_WAIT: Duration = Duration::from_millis(250);

/// Domain separation for the keys derived from an identity key.
const ENDPOINT_KEYS_DOMAIN: &[u8] = b"rampart quic endpoint keys v1";

/// The QUIC endpoint configuration of a process whose identity is `key`.
///
/// A QUIC endpoint that receives a packet for a connection it does not know (because it
/// restarted since) answers with a stateless reset, and the peer drops the connection at
/// once. It does so only for a connection id it recognizes as one it could have issued (a
/// keyed hash inside the id), and the peer accepts the reset only if it carries the token
/// issued with that id (another keyed hash). quinn draws both keys at random for each
/// endpoint, so after a `kill -9` and a restart the new endpoint stays silent and its
/// peers keep the dead connection until the idle timeout (30 s by default); a replica
/// that only accepts connections (the one with the highest id) hears nothing meanwhile.
/// Deriving both keys from the identity key lets the restarted endpoint reset its peers'
/// stale connections at their next packet, and they redial. The keys are hashes of the
/// secret key, so they reveal nothing about it, and only the identity's holder can forge a
/// reset for its connections.
fn endpoint_config(key: &KeyPair) -> quinn::EndpointConfig {
    let derive = |purpose: &[u8]| {
        let mut builder = Digest::builder();
        builder
            .field(ENDPOINT_KEYS_DOMAIN)
            .field(purpose)
            .field(&key.secret_key_bytes());
        builder.finish()
    };
    let reset_key = derive(b"stateless reset");
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset_key.as_bytes());
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&derive(b"connection id").as_bytes()[..8]);
    let cid_key = u64::from_le_bytes(cid_key);
    let mut config = quinn::EndpointConfig::new(Arc::new(reset_key));
    config.cid_generator(move || Box::new(HashedConnectionIdGenerator::from_key(cid_key)));
    config
}

/// A UDP socket bound to `address`. On the IPv6 unspecified address the socket is made
/// dual-stack (IPV6_V6ONLY off), as quinn's own client endpoints are, so that it reaches
/// IPv4 peers too, as IPv4-mapped addresses, whatever the host's default (Linux's is
/// dual-stack, Windows' is not). A host that refuses dual-stack sockets gets an IPv6-only
/// one.
fn bind_udp(address: SocketAddr) -> io::Result<std::net::UdpSocket> {
    if address.ip() != IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        return std::net::UdpSocket::bind(address);
    }
    let socket = socket2::Socket::new(
        socket2::Domain::IPV6,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Err(error) = socket.set_only_v6(false) {
        debug!(%error, "cannot make the socket dual-stack; it reaches IPv6 peers only");
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// A QUIC endpoint bound to a UDP socket.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) quic: quinn::Endpoint,
    pub(crate) local_addr: SocketAddr,
    /// quinn closes the socket on one of its own tasks once the endpoint is gone; watching
    /// it lets shutdown return only when the port can be bound again (a restarted replica
    /// reuses its port).
    socket: Weak<dyn AsyncUdpSocket>,
}

impl Endpoint {
    /// Binds `address` for the process whose identity is `key`, accepting connections if
    /// `server` is given.
    pub(crate) fn bind(
        address: SocketAddr,
        key: &KeyPair,
        server: Option<quinn::ServerConfig>,
    ) -> Result<Endpoint, TransportError> {
        let bind_error = |source| TransportError::Bind { address, source };
        let socket = bind_udp(address).map_err(bind_error)?;
        let runtime = Arc::new(quinn::TokioRuntime);
        let socket = runtime.wrap_udp_socket(socket).map_err(bind_error)?;
        let watch = Arc::downgrade(&socket);
        let quic = quinn::Endpoint::new_with_abstract_socket(
            endpoint_config(key),
            server,
            socket,
            runtime,
        )
        .map_err(bind_error)?;
        let local_addr = quic.local_addr().map_err(bind_error)?;
        Ok(Endpoint {
            quic,
            local_addr,
            socket: watch,
        })
    }

    /// Closes every connection, telling peers why, and accepts no new ones.
    pub(crate) fn close_connections(&self) {
        self.quic.close(close_code::SHUTDOWN, b"shutting down");
    }

    /// Waits until the closed connections have told their peers and drained, for at most
    /// [`DRAIN_WAIT`].
    ///
    /// A closed connection lingers for three probe timeouts to repeat its CONNECTION_CLOSE
    /// if the peer keeps sending, and a probe timeout grows with every unanswered probe:
    /// after a partition, or with a peer already gone, draining takes seconds. The close
    /// went out at once; a peer that missed it finds out from its idle timeout or from a
    /// stateless reset, so shutdown need not wait for the lingering.
    pub(crate) async fn wait_idle(&self) {
        let _ = tokio::time::timeout(DRAIN_WAIT, self.quic.wait_idle()).await;
    }

    /// Drops the endpoint and waits until the runtime has closed the socket. Every task and
    /// connection handle must be gone already: a connection handle keeps the socket open.
    pub(crate) async fn release(self) {
        let Endpoint {
            quic,
            local_addr,
            socket,
        } = self;
        drop(quic);
        let released = tokio::time::timeout(SOCKET_RELEASE_WAIT, async {
            while socket.strong_count() > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        if released.is_err() {
            // Connections that never finished their handshake (dials to a peer that was
            // down) drain for three initial probe timeouts, about three seconds, and hold
            // the socket until then. Harmless, unless this process binds the same port
            // again at once, which then fails with a clear error.
            debug!(address = %local_addr, "the UDP socket is still draining after shutdown");
        }
    }
}

/// Stops a transport's tasks if the transport is dropped without being shut down: the
/// tasks hold the transport's shared state, so nothing else would ever stop them.
#[derive(Debug)]
pub(crate) struct StopOnDrop {
    tasks: Arc<Tasks>,
    endpoint: quinn::Endpoint,
}

impl StopOnDrop {
    pub(crate) fn new(tasks: Arc<Tasks>, endpoint: &Endpoint) -> StopOnDrop {
        StopOnDrop {
            tasks,
            endpoint: endpoint.quic.clone(),
        }
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.endpoint.close(close_code::SHUTDOWN, b"shutting down");
        self.tasks.abort_all();
    }
}
