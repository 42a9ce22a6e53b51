//! QUIC endpoint configurations: TLS 1.3 with pinned ed25519 identities, and the QUIC
//! limits every Rampart connection shares.

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::rustls;
use quinn::{IdleTimeout, VarInt};
use rampart_crypto::PublicKey;

use super::caps::ConnectionLimits;
use super::config::Timing;
use super::error::TransportError;
use super::identity::TlsIdentity;
use super::verifier::{ClientKeyVerifier, PinnedServerVerifier};

/// The ALPN protocol a replica dials another replica with.
/// Version 2 begins every connection with a HELLO (see `hello`).
pub(crate) const ALPN_REPLICA: &[u8] = b"rampart-replica/2";
/// The ALPN protocol a client dials a replica with.
pub(crate) const ALPN_CLIENT: &[u8] = b"rampart-client/1";

/// The server name sent when dialing. Nobody checks it (the key is pinned instead), but
/// TLS requires one.
pub(crate) const SERVER_NAME: &str = "rampart";

fn tls_error(error: impl std::fmt::Display) -> TransportError {
    TransportError::Tls {
        reason: error.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Bytes of QUIC datagrams a connection buffers unread. Rampart reads none: a replica
/// probes whether a peer's process is alive with a datagram, which the peer's QUIC stack
/// acknowledges whether or not anyone reads it (see `greeting`). The buffer only has to
/// exist for the peer to accept datagrams; kept small, a peer cannot fill our memory
/// through it.
const DATAGRAM_BUFFER_BYTES: usize = 4 * 1024;

/// The QUIC limits of a Rampart connection: each side opens one long-lived unidirectional
/// stream per lane (see `link::Lane`), and before them the HELLO's stream on a replica
/// connection, which ends at once; so a peer gets no bidirectional streams and two
/// unidirectional ones at a time, which also bounds the reader tasks a Byzantine peer can
/// make us run.
fn quic_transport(timing: &Timing) -> Result<Arc<quinn::TransportConfig>, TransportError> {
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(VarInt::from_u32(0));
    transport.max_concurrent_uni_streams(VarInt::from_u32(2));
    transport.datagram_receive_buffer_size(Some(DATAGRAM_BUFFER_BYTES));
    transport.max_idle_timeout(Some(
        IdleTimeout::try_from(timing.idle_timeout).map_err(tls_error)?,
    ));
    transport.keep_alive_interval(Some(timing.idle_timeout / 3));
    Ok(Arc::new(transport))
}

/// Bytes quinn may buffer for one connection attempt not yet judged by the accept loop: a
/// genuine first flight is a datagram or two.
const INCOMING_BUFFER_BYTES: u64 = 16 * 1024;

/// The server side of a replica: accepts replicas and clients, each with a certificate
/// naming a valid ed25519 key. Which role the key may take, and whether a client is
/// admitted, is decided after the handshake (`super::admission`).
///
/// quinn queues connection attempts until the accept loop judges them (`caps`), which it
/// does at once; the queue is bounded to a few times the handshakes allowed, and its
/// buffers to what a first flight needs, so that a burst of first packets cannot grow it.
pub(crate) fn server_config(
    identity: &TlsIdentity,
    timing: &Timing,
    connection_limits: &ConnectionLimits,
) -> Result<quinn::ServerConfig, TransportError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(Arc::new(ClientKeyVerifier::new()))
        .with_single_cert(identity.chain(), identity.private_key())
        .map_err(tls_error)?;
    tls.alpn_protocols = vec![ALPN_REPLICA.to_vec(), ALPN_CLIENT.to_vec()];
    let quic = QuicServerConfig::try_from(Arc::new(tls)).map_err(tls_error)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(quic_transport(timing)?);
    let queued_max = 4 * (connection_limits.handshakes_max + 64);
    config
        .max_incoming(queued_max)
        .incoming_buffer_size(INCOMING_BUFFER_BYTES)
        .incoming_buffer_size_total(queued_max as u64 * INCOMING_BUFFER_BYTES);
    Ok(config)
}

/// The dialing side towards one replica: presents our certificate, speaks `alpn`, and
/// accepts only a server whose certificate names `expected`.
pub(crate) fn client_config(
    identity: &TlsIdentity,
    expected: PublicKey,
    alpn: &[u8],
    timing: &Timing,
) -> Result<quinn::ClientConfig, TransportError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(expected)))
        .with_client_auth_cert(identity.chain(), identity.private_key())
        .map_err(tls_error)?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    let quic = QuicClientConfig::try_from(Arc::new(tls)).map_err(tls_error)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(quic_transport(timing)?);
    Ok(config)
}

/// The ALPN protocol a connection negotiated, if any.
pub(crate) fn negotiated_protocol(connection: &quinn::Connection) -> Option<Vec<u8>> {
    connection
        .handshake_data()?
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?
        .protocol
}

/// The key named by the certificate the peer presented, if it presented one.
pub(crate) fn peer_key(connection: &quinn::Connection) -> Option<PublicKey> {
    let chain = connection
        .peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    super::identity::public_key_of(chain.first()?).ok()
}
