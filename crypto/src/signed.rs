use std::fmt;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{CryptoError, PublicKey, Signature, SignatureCheck, Signer, Verifier};

/// Identifies one Rampart cluster. It is part of every signed encoding, so a message signed
/// for one cluster is worthless in another that shares keys with it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClusterId(pub u64);

impl fmt::Debug for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterId({:016x})", self.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A value that can be signed. `KIND` names the message kind in the signed encoding.
pub trait Signable: Serialize + DeserializeOwned + Clone + fmt::Debug {
    const KIND: &'static str;
}

/// Prefix of every signed encoding, versioned so that a future format cannot be confused
/// with this one.
const DOMAIN: &[u8] = b"rampart/v1\0";

/// The bytes that are signed for `value`: the domain prefix, the length-prefixed kind, the
/// cluster id, then the bincode encoding of the value (standard configuration).
pub fn signing_bytes<T: Signable>(cluster: ClusterId, value: &T) -> Result<Vec<u8>, CryptoError> {
    let encode_error = |error: bincode::error::EncodeError| CryptoError::Encode {
        kind: T::KIND,
        reason: error.to_string(),
    };
    // Sized first, so that the bytes are written once, never moved by a growing vector.
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(value, &mut size, bincode::config::standard())
        .map_err(encode_error)?;
    let header = DOMAIN.len() + 1 + T::KIND.len() + 8;
    let mut bytes = Vec::with_capacity(header + size.bytes_written);
    bytes.extend_from_slice(DOMAIN);
    bytes.push(T::KIND.len() as u8);
    bytes.extend_from_slice(T::KIND.as_bytes());
    bytes.extend_from_slice(&cluster.0.to_le_bytes());
    bincode::serde::encode_into_std_write(value, &mut bytes, bincode::config::standard())
        .map_err(encode_error)?;
    Ok(bytes)
}

/// A value with the signature of its author.
///
/// Who the author is follows from the value (a replica id or a client key inside it), so
/// the signer's key is not carried; [`Signed::check`] takes the key the caller expects.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    pub value: T,
    pub signature: Signature,
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Signable> Signed<T> {
    /// Signs `value` for `cluster`.
    pub fn sign(
        cluster: ClusterId,
        value: T,
        signer: &dyn Signer,
    ) -> Result<Signed<T>, CryptoError> {
        let bytes = signing_bytes(cluster, &value)?;
        let signature = signer.sign(&bytes);
        Ok(Signed { value, signature })
    }

    /// What must hold for this signature to be `key`'s, for batch verification.
    pub fn check(&self, cluster: ClusterId, key: PublicKey) -> Result<SignatureCheck, CryptoError> {
        Ok(SignatureCheck {
            key,
            message: signing_bytes(cluster, &self.value)?,
            signature: self.signature,
        })
    }

    /// Verifies that `key` signed this value for `cluster`.
    pub fn verify(
        &self,
        cluster: ClusterId,
        key: PublicKey,
        verifier: &dyn Verifier,
    ) -> Result<(), CryptoError> {
        verifier.verify(&self.check(cluster, key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ed25519, KeyPair};

    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Vote {
        round: u64,
    }
    impl Signable for Vote {
        const KIND: &'static str = "vote";
    }

    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Ballot {
        round: u64,
    }
    impl Signable for Ballot {
        const KIND: &'static str = "ballot";
    }

    #[test]
    fn a_signed_value_verifies_for_its_cluster_and_author_only() {
        let author = KeyPair::from_seed(1);
        let verifier = Ed25519::new();
        let signed = Signed::sign(ClusterId(9), Vote { round: 3 }, &author).expect("signs");
        assert!(
            signed
                .verify(ClusterId(9), author.public_key(), &verifier)
                .is_ok()
        );
        assert!(
            signed
                .verify(ClusterId(8), author.public_key(), &verifier)
                .is_err()
        );
        let stranger = KeyPair::from_seed(2).public_key();
        assert!(signed.verify(ClusterId(9), stranger, &verifier).is_err());

        let mut tampered = signed;
        tampered.value.round = 4;
        assert!(
            tampered
                .verify(ClusterId(9), author.public_key(), &verifier)
                .is_err()
        );
    }

    #[test]
    fn the_kind_separates_domains() {
        // The same field layout under another kind must not carry the signature over.
        let author = KeyPair::from_seed(1);
        let vote = Signed::sign(ClusterId(1), Vote { round: 5 }, &author).expect("signs");
        let ballot = Signed {
            value: Ballot { round: 5 },
            signature: vote.signature,
        };
        let verifier = Ed25519::new();
        assert!(
            ballot
                .verify(ClusterId(1), author.public_key(), &verifier)
                .is_err()
        );
    }
}
