use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        let mut builder = DigestBuilder::new();
        builder.update(bytes);
        builder.finish()
    }

    /// A builder for the digest of several pieces of data.
    pub fn builder() -> DigestBuilder {
        DigestBuilder::new()
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first eight hex characters, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.short())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Incremental SHA-256.
#[derive(Clone, Default)]
pub struct DigestBuilder(sha2::Sha256);

impl fmt::Debug for DigestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestBuilder")
    }
}

impl DigestBuilder {
    pub fn new() -> DigestBuilder {
        DigestBuilder(sha2::Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) -> &mut DigestBuilder {
        self.0.update(bytes);
        self
    }

    /// Adds a length-prefixed field, so that adjacent fields cannot be confused.
    pub fn field(&mut self, bytes: &[u8]) -> &mut DigestBuilder {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_matches_the_standard_test_vector() {
        assert_eq!(
            Digest::of(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fields_are_length_prefixed() {
        let mut a = Digest::builder();
        a.field(b"ab").field(b"c");
        let mut b = Digest::builder();
        b.field(b"a").field(b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}
