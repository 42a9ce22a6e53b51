//! The UDP socket and QUIC endpoint a transport runs on, and the means to know when the
//! socket is really closed.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use quinn::{AsyncUdpSocket, Runtime};
use tracing::warn;

use super::error::TransportError;
use super::link::close_code;
use super::tasks::Tasks;

/// How long [`Endpoint::release`] waits for the runtime to release the socket.
const SOCKET_RELEASE_WAIT: Duration = Duration::from_secs(2);

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

    /// Waits until the closed connections have told their peers and drained.
    pub(crate) async fn wait_idle(&self) {
        self.quic.wait_idle().await;
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
            warn!(address = %local_addr, "the UDP socket is still open after shutdown");
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
