//! A stranger at a replica's address: it holds no key the cluster lists, and attacks the
//! transport as anyone on the network could. It floods the replica with the first packet
//! of QUIC handshakes it never finishes, holds many idle connections, and announces large
//! frames it never sends.
//!
//! Every connection presents a certificate for a fresh ed25519 key of its own and asks for
//! the client role (`rampart-client/1`), as any client may; the stranger accepts whatever
//! certificate the replica presents.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::crypto::rustls::QuicClientConfig;
use quinn::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use quinn::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime,
};
use quinn::rustls::{self, DigitallySignedStruct, SignatureScheme};

/// The ALPN protocol of a client connecting to a replica.
const ALPN_CLIENT: &[u8] = b"rampart-client/1";
/// The server name sent; replicas do not check it.
const SERVER_NAME: &str = "rampart";

/// Why the stranger could not set itself up.
#[derive(Debug, thiserror::Error)]
pub enum StrangerError {
    #[error("cannot make a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot configure TLS: {0}")]
    Tls(String),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Accepts any server certificate: the stranger does not care whom it attacks.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// A QUIC client configuration with a certificate for a fresh ed25519 key, asking for the
/// client role. Connections stay open for `idle_timeout` without traffic; keep-alives are
/// sent so that a held connection stays held.
pub fn client_config(idle_timeout: Duration) -> Result<quinn::ClientConfig, StrangerError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let certificate =
        rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])?.self_signed(&key)?;
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_error = |error: rustls::Error| StrangerError::Tls(error.to_string());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
        .with_client_auth_cert(vec![certificate.der().clone()], private_key)
        .map_err(tls_error)?;
    tls.alpn_protocols = vec![ALPN_CLIENT.to_vec()];
    let quic = QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|error| StrangerError::Tls(error.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(idle_timeout)
            .map_err(|error| StrangerError::Tls(error.to_string()))?,
    ));
    transport.keep_alive_interval(Some(idle_timeout / 4));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Sends the first packet (a QUIC Initial carrying a TLS ClientHello) of `count`
/// handshakes to `target`, each with a connection id of its own, and never answers what
/// comes back: the replica is left with `count` handshakes that cannot finish. Sends
/// `per_burst` datagrams, then pauses `pause`, so that the replica's socket buffer is not
/// simply overrun. Returns the datagrams sent.
pub fn flood_initials(
    target: SocketAddr,
    count: usize,
    per_burst: usize,
    pause: Duration,
) -> Result<usize, StrangerError> {
    let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let config = client_config(Duration::from_secs(30))?;
    let mut endpoint = new_proto_endpoint();
    let mut buffer = Vec::with_capacity(1500);
    let mut sent = 0;
    for index in 0..count {
        // A fresh protocol endpoint now and then drops the state of the handshakes sent.
        if index % 1024 == 1023 {
            endpoint = new_proto_endpoint();
        }
        let now = Instant::now();
        let Ok((_, mut connection)) = endpoint.connect(now, config.clone(), target, SERVER_NAME)
        else {
            continue;
        };
        buffer.clear();
        if let Some(transmit) = connection.poll_transmit(now, 1, &mut buffer) {
            socket.send_to(&buffer[..transmit.size], target)?;
            sent += 1;
        }
        if per_burst > 0 && index % per_burst == per_burst - 1 {
            std::thread::sleep(pause);
        }
    }
    Ok(sent)
}

fn new_proto_endpoint() -> quinn_proto::Endpoint {
    quinn_proto::Endpoint::new(
        Arc::new(quinn_proto::EndpointConfig::default()),
        None,
        false,
        None,
    )
}

/// Connections a stranger holds to one replica, each with a key of its own.
#[derive(Debug)]
pub struct Held {
    endpoints: Vec<quinn::Endpoint>,
    pub connections: Vec<quinn::Connection>,
    /// Attempts that did not complete their handshake (refused, ignored or timed out).
    pub failed: usize,
}

/// Connects to `target` `count` times, `per_endpoint` connections to a UDP socket, all
/// attempts at once, and keeps whatever connections complete within `timeout`.
pub async fn hold_connections(
    target: SocketAddr,
    count: usize,
    per_endpoint: usize,
    timeout: Duration,
) -> Result<Held, StrangerError> {
    let mut endpoints = Vec::new();
    let mut attempts = tokio::task::JoinSet::new();
    for index in 0..count {
        if index % per_endpoint.max(1) == 0 {
            endpoints.push(quinn::Endpoint::client(SocketAddr::from((
                [127, 0, 0, 1],
                0,
            )))?);
        }
        let endpoint = endpoints.last().expect("an endpoint was just made").clone();
        let config = client_config(Duration::from_secs(60))?;
        attempts.spawn(async move {
            let connecting = endpoint.connect_with(config, target, SERVER_NAME).ok()?;
            tokio::time::timeout(timeout, connecting).await.ok()?.ok()
        });
    }
    let mut held = Held {
        endpoints,
        connections: Vec::new(),
        failed: 0,
    };
    while let Some(result) = attempts.join_next().await {
        match result {
            Ok(Some(connection)) => held.connections.push(connection),
            _ => held.failed += 1,
        }
    }
    Ok(held)
}

impl Held {
    /// The connections still open: the replica has closed neither them nor let them idle
    /// out.
    pub fn open(&self) -> usize {
        self.connections
            .iter()
            .filter(|connection| connection.close_reason().is_none())
            .count()
    }

    /// On every open connection, announces a frame of `announced_bytes`, sends the first
    /// `sent_bytes` of it, and stalls. Returns the streams, which must be kept: dropping
    /// one finishes it. Connections the replica closed meanwhile are skipped.
    pub async fn announce_and_stall(
        &self,
        announced_bytes: u32,
        sent_bytes: usize,
    ) -> Vec<quinn::SendStream> {
        let mut streams = Vec::new();
        for connection in &self.connections {
            let Ok(mut stream) = connection.open_uni().await else {
                continue;
            };
            let mut bytes = announced_bytes.to_be_bytes().to_vec();
            bytes.resize(4 + sent_bytes, 0xa5);
            if stream.write_all(&bytes).await.is_ok() {
                streams.push(stream);
            }
        }
        streams
    }

    /// Closes every connection and waits briefly for the replica to hear of it.
    pub async fn close(self) {
        for connection in &self.connections {
            connection.close(0u32.into(), b"done");
        }
        for endpoint in &self.endpoints {
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        }
    }
}
