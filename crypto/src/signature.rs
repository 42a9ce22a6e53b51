use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{CryptoError, PublicKey};

/// An ed25519 signature (or, in the simulator, a tag of the same size).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..4]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Signature, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Signature, E> {
                let bytes: [u8; 64] = bytes
                    .try_into()
                    .map_err(|_| E::invalid_length(bytes.len(), &self))?;
                Ok(Signature(bytes))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// Something that signs bytes on behalf of one identity.
pub trait Signer: Send + Sync {
    fn public_key(&self) -> PublicKey;
    fn sign(&self, bytes: &[u8]) -> Signature;
}

/// One signature to check: who claims to have signed which bytes.
#[derive(Clone, Debug)]
pub struct SignatureCheck {
    pub key: PublicKey,
    pub message: Vec<u8>,
    pub signature: Signature,
}

/// Something that checks signatures.
pub trait Verifier: Send + Sync + fmt::Debug {
    /// Checks one signature.
    fn verify(&self, check: &SignatureCheck) -> Result<(), CryptoError>;

    /// Checks all signatures at once: `Ok` only if every one is valid. Callers that need to
    /// know which one failed fall back to [`Verifier::verify`].
    fn verify_batch(&self, checks: &[SignatureCheck]) -> Result<(), CryptoError> {
        checks.iter().try_for_each(|check| self.verify(check))
    }
}

/// Verification of real ed25519 signatures.
///
/// Decompressing a public key costs a noticeable fraction of a verification, so the
/// decompressed keys of recent signers are cached. Batches are checked with one
/// multiscalar term per distinct signer (see `batch.rs`): a batch that holds several
/// signatures of one client or replica costs less per signature than one by distinct
/// signers. If the system's random generator fails, a batch is checked one by one.
///
/// Single and batch verification apply one rule, the cofactored equation (see `batch.rs`
/// for why not `verify_strict`'s): a signature is accepted alone if and only if every
/// batch holding it passes, whatever the batch's random coefficients.
pub struct Ed25519 {
    keys: RwLock<HashMap<PublicKey, ed25519_dalek::VerifyingKey>>,
    random: crate::batch::Coefficients,
}

impl Default for Ed25519 {
    fn default() -> Ed25519 {
        Ed25519 {
            keys: RwLock::default(),
            random: crate::batch::system_random,
        }
    }
}

/// The cache is cleared when it grows past this many keys; replicas and clients are few, so
/// in practice it never is.
const KEY_CACHE_CAPACITY: usize = 16_384;

impl fmt::Debug for Ed25519 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519")
    }
}

impl Ed25519 {
    pub fn new() -> Ed25519 {
        Ed25519::default()
    }

    /// A verifier whose batches draw their coefficients from `random`, so that tests can
    /// make the generator fail.
    #[cfg(test)]
    pub(crate) fn with_random(random: crate::batch::Coefficients) -> Ed25519 {
        Ed25519 {
            random,
            ..Ed25519::default()
        }
    }

    fn verifying_key(&self, key: &PublicKey) -> Result<ed25519_dalek::VerifyingKey, CryptoError> {
        if let Some(found) = self.keys.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return Ok(*found);
        }
        let decompressed = key.to_verifying_key()?;
        if decompressed.is_weak() {
            return Err(CryptoError::InvalidPublicKey {
                reason: "the key is a small-order point".to_string(),
            });
        }
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= KEY_CACHE_CAPACITY {
            keys.clear();
        }
        keys.insert(*key, decompressed);
        Ok(decompressed)
    }
}

impl Verifier for Ed25519 {
    fn verify(&self, check: &SignatureCheck) -> Result<(), CryptoError> {
        let key = self.verifying_key(&check.key)?;
        crate::batch::verify_one(check, &key.to_edwards())
    }

    fn verify_batch(&self, checks: &[SignatureCheck]) -> Result<(), CryptoError> {
        match checks {
            [] => Ok(()),
            [check] => self.verify(check),
            _ => {
                let keys = checks
                    .iter()
                    .map(|check| Ok(self.verifying_key(&check.key)?.to_edwards()))
                    .collect::<Result<Vec<_>, CryptoError>>()?;
                match crate::batch::verify_batch(checks, &keys, self.random) {
                    Err(CryptoError::Random { reason }) => {
                        tracing::warn!(%reason, "no random coefficients: verifying one by one");
                        checks.iter().try_for_each(|check| self.verify(check))
                    }
                    result => result,
                }
            }
        }
    }
}

/// The signature of the key pair of `seed` over `message`, as a check.
#[cfg(test)]
pub(crate) fn signed_check(seed: u64, message: &[u8]) -> SignatureCheck {
    let key_pair = crate::KeyPair::from_seed(seed);
    SignatureCheck {
        key: key_pair.public_key(),
        message: message.to_vec(),
        signature: key_pair.sign(message),
    }
}

#[cfg(test)]
mod tests {
    use super::signed_check as check;
    use super::*;
    use crate::KeyPair;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let verifier = Ed25519::new();
        let good = check(1, b"hello");
        assert!(verifier.verify(&good).is_ok());

        let mut other_message = good.clone();
        other_message.message = b"hellp".to_vec();
        assert!(verifier.verify(&other_message).is_err());

        let mut other_key = good.clone();
        other_key.key = KeyPair::from_seed(2).public_key();
        assert!(verifier.verify(&other_key).is_err());

        let mut flipped = good;
        flipped.signature.0[10] ^= 1;
        assert!(verifier.verify(&flipped).is_err());
    }

    #[test]
    fn batch_verification_fails_if_any_signature_is_bad() {
        let verifier = Ed25519::new();
        let mut checks: Vec<_> = (0..8).map(|i| check(i, &i.to_le_bytes())).collect();
        assert!(verifier.verify_batch(&checks).is_ok());
        checks[5].signature.0[0] ^= 0x80;
        assert!(verifier.verify_batch(&checks).is_err());
        assert!(verifier.verify_batch(&checks[..5]).is_ok());
    }

    #[test]
    fn when_the_generator_fails_batches_are_verified_one_by_one_with_the_same_verdicts() {
        let verifier = Ed25519::with_random(|_| Err("no entropy".to_string()));
        let mut checks: Vec<_> = (0..8).map(|i| check(i % 3, &i.to_le_bytes())).collect();
        assert!(verifier.verify_batch(&checks).is_ok());
        checks[6].signature.0[40] ^= 1;
        assert!(verifier.verify_batch(&checks).is_err());
        assert!(verifier.verify_batch(&checks[..6]).is_ok());
    }

    #[test]
    fn signatures_round_trip_through_bincode() {
        let signature = check(3, b"x").signature;
        let bytes =
            bincode::serde::encode_to_vec(signature, bincode::config::standard()).expect("encodes");
        let (decoded, _): (Signature, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
                .expect("decodes");
        assert_eq!(decoded, signature);
    }
}
