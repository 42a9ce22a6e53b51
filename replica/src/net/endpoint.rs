//! The UDP socket and QUIC endpoint a transport runs on, and the means to know when the
//! socket is really closed.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use quinn::{AsyncUdpSocket, Runtime};
use tracing::debug;

use super::error::TransportError;
use super::link::close_code;
use super::tasks::Tasks;

/// How long [`Endpoint::release`] waits for the runtime to release the socket.
const SOCKET_RELEASE_WAIT: Duration = Duration::from_secs(2);

/// How long [`Endpoint::wait_idle`] lets closed connections drain.
const DRAIN_WAIT: Duration = Duration::from_millis(250);

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
    pub(crate) fn bind(
        address: SocketAddr,
        server: Option<quinn::ServerConfig>,
    ) -> Result<Endpoint, TransportError> {
        let bind_error = |source| TransportError::Bind { address, source };
        let socket = std::net::UdpSocket::bind(address).map_err(bind_error)?;
        let runtime = Arc::new(quinn::TokioRuntime);
        let socket = runtime.wrap_udp_socket(socket).map_err(bind_error)?;
        let watch = Arc::downgrade(&socket);
        let quic = quinn::Endpoint::new_with_abstract_socket(
            quinn::EndpointConfig::default(),
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
