//! TLS identities bound to ed25519 keys.
//!
//! A process's TLS certificate is self-signed with the same ed25519 key that signs its
//! protocol messages, so the key in the certificate *is* the identity: there is no
//! certificate authority, and whoever completes a TLS 1.3 handshake with a certificate has
//! proved possession of that key's secret (the CertificateVerify signature). Peers pin the
//! key they expect from the cluster description (see `verifier.rs`).

use quinn::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rampart_crypto::{KeyPair, PublicKey};

use super::error::TransportError;

/// The DER prefix of a PKCS#8 v1 `PrivateKeyInfo` holding an ed25519 seed (RFC 8410 §7):
/// version 0, algorithm id-Ed25519 (1.3.101.112), and an OCTET STRING wrapping the 32-byte
/// OCTET STRING that follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The DER prefix of an ed25519 `SubjectPublicKeyInfo` (RFC 8410 §4): a SEQUENCE holding
/// the algorithm id-Ed25519 with absent parameters and a BIT STRING of the 32 key bytes.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The subject name in every Rampart certificate. Nobody checks it: identity is the key.
const CERTIFICATE_SUBJECT: &str = "rampart";

/// A certificate and its private key, ready for rustls.
#[derive(Debug)]
pub(crate) struct TlsIdentity {
    pub(crate) certificate: CertificateDer<'static>,
    pkcs8: Vec<u8>,
}

impl TlsIdentity {
    /// Builds a self-signed certificate for `key`'s public key, signed by `key` itself.
    pub(crate) fn new(key: &KeyPair) -> Result<TlsIdentity, TransportError> {
        let mut pkcs8 = Vec::with_capacity(PKCS8_ED25519_PREFIX.len() + 32);
        pkcs8.extend_from_slice(&PKCS8_ED25519_PREFIX);
        pkcs8.extend_from_slice(&key.secret_key_bytes());
        let certificate_error = |error: rcgen::Error| TransportError::Certificate {
            reason: error.to_string(),
        };
        let signing_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
            &rcgen::PKCS_ED25519,
        )
        .map_err(certificate_error)?;
        let certificate = rcgen::CertificateParams::new(vec![CERTIFICATE_SUBJECT.to_string()])
            .and_then(|params| params.self_signed(&signing_key))
            .map_err(certificate_error)?;
        let certificate = certificate.der().clone();
        // A mismatch would mean the PKCS#8 encoding above is wrong: refuse rather than run
        // with a certificate that does not name our own key.
        let named = public_key_of(&certificate).map_err(|error| TransportError::Certificate {
            reason: error.to_string(),
        })?;
        if named != key.public_key() {
            return Err(TransportError::Certificate {
                reason: format!(
                    "the certificate names key {} instead of {}",
                    named.short(),
                    key.public_key().short()
                ),
            });
        }
        Ok(TlsIdentity { certificate, pkcs8 })
    }

    /// The certificate chain to present: just the self-signed certificate.
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.certificate.clone()]
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }
}

/// Why a peer's certificate does not name a usable ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IdentityError {
    #[error("the certificate is not valid DER X.509: {reason}")]
    Malformed { reason: String },
    #[error("the certificate's key is not an ed25519 key")]
    NotEd25519,
    #[error("the certificate's ed25519 key is invalid: {reason}")]
    InvalidKey { reason: String },
}

/// The ed25519 public key in `certificate`'s SubjectPublicKeyInfo.
///
/// The certificate is parsed with webpki, the parser rustls uses when it checks the
/// handshake signature, so the key we pin is the key the peer proved it holds.
pub(crate) fn public_key_of(certificate: &CertificateDer<'_>) -> Result<PublicKey, IdentityError> {
    let parsed =
        webpki::EndEntityCert::try_from(certificate).map_err(|error| IdentityError::Malformed {
            reason: error.to_string(),
        })?;
    let spki = parsed.subject_public_key_info();
    let bytes = spki.as_ref();
    let key_bytes = bytes
        .strip_prefix(SPKI_ED25519_PREFIX.as_slice())
        .ok_or(IdentityError::NotEd25519)?;
    let key_bytes: [u8; 32] = key_bytes
        .try_into()
        .map_err(|_| IdentityError::NotEd25519)?;
    let key = PublicKey(key_bytes);
    key.validate().map_err(|error| IdentityError::InvalidKey {
        reason: error.to_string(),
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_the_key_it_was_built_from() {
        let key = KeyPair::from_seed(3);
        let identity = TlsIdentity::new(&key).expect("certificate");
        assert_eq!(public_key_of(&identity.certificate), Ok(key.public_key()));
    }

    #[test]
    fn garbage_certificates_are_refused_without_panicking() {
        for bytes in [vec![], vec![0x30], vec![0xff; 64]] {
            assert!(matches!(
                public_key_of(&CertificateDer::from(bytes)),
                Err(IdentityError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn non_ed25519_certificates_are_refused() {
        let signing_key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256 key");
        let certificate = rcgen::CertificateParams::new(vec!["other".to_string()])
            .and_then(|params| params.self_signed(&signing_key))
            .expect("certificate");
        assert_eq!(
            public_key_of(certificate.der()),
            Err(IdentityError::NotEd25519)
        );
    }
}
