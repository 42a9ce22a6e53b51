//! Signatures in the simulator.
//!
//! Thousands of seeded runs need speed, so by default the simulator replaces ed25519 with
//! keyed tags: a replica's tag is SHA-256 of its secret and the bytes, and only the
//! verifier knows every secret. A Byzantine replica holds only its own signer, so it can
//! no more forge another replica's tag than another replica's signature. Scenario tests
//! can run real ed25519 end to end instead ([`SignatureMode::Ed25519`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_crypto::{
    CryptoError, Digest, Ed25519, KeyPair, PublicKey, Signature, SignatureCheck, Signer, Verifier,
};

/// Which signatures a simulation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureMode {
    /// Keyed SHA-256 tags: unforgeable within the simulation, about a hundred times cheaper.
    Tags,
    /// Real ed25519, as the replicas use in production.
    Ed25519,
}

/// A tag signer: the identity's public key and a secret only it and the verifier know.
#[derive(Clone, Debug)]
pub struct TagSigner {
    public_key: PublicKey,
    secret: [u8; 32],
}

fn tag(secret: &[u8; 32], bytes: &[u8]) -> Signature {
    let mut first = Digest::builder();
    first.update(secret).update(bytes);
    let mut second = Digest::builder();
    second.update(bytes).update(secret);
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(first.finish().as_bytes());
    signature[32..].copy_from_slice(second.finish().as_bytes());
    Signature(signature)
}

impl Signer for TagSigner {
    fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn sign(&self, bytes: &[u8]) -> Signature {
        tag(&self.secret, bytes)
    }
}

/// Checks tags: knows the secret behind every public key of the simulation.
#[derive(Debug, Default)]
pub struct TagVerifier {
    secrets: BTreeMap<PublicKey, [u8; 32]>,
}

impl Verifier for TagVerifier {
    fn verify(&self, check: &SignatureCheck) -> Result<(), CryptoError> {
        let secret = self
            .secrets
            .get(&check.key)
            .ok_or(CryptoError::InvalidSignature)?;
        if tag(secret, &check.message) == check.signature {
            Ok(())
        } else {
            Err(CryptoError::InvalidSignature)
        }
    }
}

/// The identities of one simulation and the verifier that checks them.
#[derive(Clone, Debug)]
pub struct Identities {
    mode: SignatureMode,
    key_pairs: Vec<KeyPair>,
    verifier: Arc<dyn Verifier>,
}

impl Identities {
    /// `count` identities derived from `seed`.
    pub fn new(mode: SignatureMode, seed: u64, count: usize) -> Identities {
        let key_pairs: Vec<KeyPair> = (0..count as u64)
            .map(|i| KeyPair::from_seed(seed.wrapping_mul(1_000_003).wrapping_add(i)))
            .collect();
        let verifier: Arc<dyn Verifier> = match mode {
            SignatureMode::Ed25519 => Arc::new(Ed25519::new()),
            SignatureMode::Tags => Arc::new(TagVerifier {
                secrets: key_pairs
                    .iter()
                    .map(|k| (k.public_key(), k.secret_key_bytes()))
                    .collect(),
            }),
        };
        Identities {
            mode,
            key_pairs,
            verifier,
        }
    }

    pub fn public_key(&self, index: usize) -> PublicKey {
        self.key_pairs[index].public_key()
    }

    /// The signer of identity `index`: the only way to make its signatures.
    pub fn signer(&self, index: usize) -> Arc<dyn Signer> {
        let key_pair = &self.key_pairs[index];
        match self.mode {
            SignatureMode::Ed25519 => Arc::new(key_pair.clone()),
            SignatureMode::Tags => Arc::new(TagSigner {
                public_key: key_pair.public_key(),
                secret: key_pair.secret_key_bytes(),
            }),
        }
    }

    pub fn verifier(&self) -> Arc<dyn Verifier> {
        self.verifier.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_only_for_their_signer_and_bytes() {
        for mode in [SignatureMode::Tags, SignatureMode::Ed25519] {
            let identities = Identities::new(mode, 1, 3);
            let signature = identities.signer(0).sign(b"m");
            let check = |key: usize, bytes: &[u8]| {
                identities.verifier().verify(&SignatureCheck {
                    key: identities.public_key(key),
                    message: bytes.to_vec(),
                    signature,
                })
            };
            assert!(check(0, b"m").is_ok(), "{mode:?}");
            assert!(check(1, b"m").is_err(), "{mode:?}");
            assert!(check(0, b"n").is_err(), "{mode:?}");
        }
    }
}
