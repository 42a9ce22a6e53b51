use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};

use crate::{CryptoError, Signature, Signer};

/// An ed25519 public key: the identity of a replica or a client.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first eight hex characters, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Checks that the bytes are a usable ed25519 key: a valid curve point that is not of
    /// small order (a weak key would let a signature verify for many messages).
    pub fn validate(&self) -> Result<(), CryptoError> {
        let key = self.to_verifying_key()?;
        if key.is_weak() {
            return Err(CryptoError::InvalidPublicKey {
                reason: "the key is a small-order point".to_string(),
            });
        }
        Ok(())
    }

    pub(crate) fn to_verifying_key(self) -> Result<ed25519_dalek::VerifyingKey, CryptoError> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|error| {
            CryptoError::InvalidPublicKey {
                reason: error.to_string(),
            }
        })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;

    /// Parses 64 hex characters.
    fn from_str(text: &str) -> Result<PublicKey, CryptoError> {
        let invalid = |reason: String| CryptoError::InvalidPublicKey { reason };
        let bytes = hex::decode(text.trim()).map_err(|error| invalid(error.to_string()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| invalid(format!("expected 32 bytes, got {}", bytes.len())))?;
        let key = PublicKey(bytes);
        key.validate()?;
        Ok(key)
    }
}

/// An ed25519 key pair. The secret never leaves this value except through
/// [`crate::save_key_pair`], which writes it with mode 0600.
#[derive(Clone)]
pub struct KeyPair {
    signing_key: ed25519_dalek::SigningKey,
    public_key: PublicKey,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.public_key.short())
    }
}

impl KeyPair {
    /// A fresh key pair from the operating system's random number generator.
    pub fn generate() -> Result<KeyPair, CryptoError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|error| CryptoError::Random {
            reason: error.to_string(),
        })?;
        Ok(KeyPair::from_secret(secret))
    }

    /// The key pair whose secret key is `secret`. Tests and the simulator derive keys from
    /// seeds this way; real deployments use [`KeyPair::generate`].
    pub fn from_secret(secret: [u8; 32]) -> KeyPair {
        let signing_key = ed25519_dalek::SigningKey::from_bytes(&secret);
        let public_key = PublicKey(signing_key.verifying_key().to_bytes());
        KeyPair {
            signing_key,
            public_key,
        }
    }

    /// A key pair derived deterministically from a seed, for tests and simulations.
    pub fn from_seed(seed: u64) -> KeyPair {
        let digest = crate::Digest::of(&seed.to_le_bytes());
        KeyPair::from_secret(digest.0)
    }

    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    pub(crate) fn secret_bytes(&self) -> [u8; 32] {
        self.signing_key.to_bytes()
    }

    /// The raw 32-byte secret, for building TLS certificates bound to this identity.
    pub fn secret_key_bytes(&self) -> [u8; 32] {
        self.secret_bytes()
    }
}

impl Signer for KeyPair {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn sign(&self, bytes: &[u8]) -> Signature {
        Signature(self.signing_key.sign(bytes).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_round_trip_through_hex() {
        let key = KeyPair::from_seed(7).public_key();
        let parsed: PublicKey = key.to_string().parse().expect("valid hex key");
        assert_eq!(parsed, key);
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        assert!("abcd".parse::<PublicKey>().is_err());
        assert!("zz".repeat(32).parse::<PublicKey>().is_err());
        // The identity point has small order: a weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(hex::encode(identity).parse::<PublicKey>().is_err());
    }

    #[test]
    fn seeded_keys_are_deterministic_and_distinct() {
        assert_eq!(
            KeyPair::from_seed(1).public_key(),
            KeyPair::from_seed(1).public_key()
        );
        assert_ne!(
            KeyPair::from_seed(1).public_key(),
            KeyPair::from_seed(2).public_key()
        );
    }
}
