//! rustls certificate verifiers that pin ed25519 keys instead of trusting a CA.
//!
//! Both verifiers require exactly what [`super::identity`] builds: a certificate whose
//! SubjectPublicKeyInfo is an ed25519 key, and a TLS 1.3 handshake signed with that key
//! (ed25519 only; TLS 1.2 is refused, and QUIC never negotiates it anyway). Certificate
//! dates, names and the self-signature are not checked: they carry no information when the
//! key itself is the identity and its possession is proved by the handshake signature.

use std::sync::Arc;

use quinn::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use quinn::rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls13_signature};
use quinn::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use quinn::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use quinn::rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError,
    PeerIncompatible, SignatureScheme,
};
use rampart_crypto::PublicKey;

use super::identity::{IdentityError, public_key_of};

/// The one signature scheme Rampart identities use.
const SCHEME: SignatureScheme = SignatureScheme::ED25519;

/// Why a peer's certificate was refused, carried inside a rustls error so the handshake
/// fails with a certificate alert and the reason reaches our logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PinError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("the peer's key {} is not the expected key {}", actual.short(), expected.short())]
    WrongKey {
        expected: PublicKey,
        actual: PublicKey,
    },
}

fn refused(error: PinError) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
}

/// The ring provider's signature algorithms, used to check handshake signatures.
fn signature_algorithms() -> WebPkiSupportedAlgorithms {
    quinn::rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// Checks a TLS 1.3 CertificateVerify signature: it must be ed25519 and made by the key
/// in `certificate`.
fn check_tls13_signature(
    algorithms: &WebPkiSupportedAlgorithms,
    message: &[u8],
    certificate: &CertificateDer<'_>,
    signature: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    if signature.scheme != SCHEME {
        return Err(Error::PeerIncompatible(
            PeerIncompatible::NoSignatureSchemesInCommon,
        ));
    }
    verify_tls13_signature(message, certificate, signature, algorithms)
}

/// The client side's check of a server: its certificate must name exactly the key the
/// cluster description lists for the replica being dialed.
#[derive(Debug)]
pub(crate) struct PinnedServerVerifier {
    expected: PublicKey,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedServerVerifier {
    pub(crate) fn new(expected: PublicKey) -> PinnedServerVerifier {
        PinnedServerVerifier {
            expected,
            algorithms: signature_algorithms(),
        }
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let actual = public_key_of(end_entity).map_err(|error| refused(error.into()))?;
        if actual != self.expected {
            return Err(refused(PinError::WrongKey {
                expected: self.expected,
                actual,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(
            PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        check_tls13_signature(&self.algorithms, message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SCHEME]
    }
}

/// The server side's check of a client certificate: it must name a valid ed25519 key.
///
/// Whether the peer may act as a *replica*, or is an admitted client, depends on the ALPN
/// protocol it negotiated, which rustls does not show a verifier; the transport checks
/// that right after the handshake, before it reads anything from the connection, and a
/// client that is not admitted is told so in the close reason rather than with a TLS
/// alert it could not tell from other failures.
#[derive(Debug)]
pub(crate) struct ClientKeyVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientKeyVerifier {
    pub(crate) fn new() -> ClientKeyVerifier {
        ClientKeyVerifier {
            algorithms: signature_algorithms(),
        }
    }
}

impl ClientCertVerifier for ClientKeyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        public_key_of(end_entity).map_err(|error| refused(error.into()))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(Error::PeerIncompatible(
            PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        check_tls13_signature(&self.algorithms, message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SCHEME]
    }
}
