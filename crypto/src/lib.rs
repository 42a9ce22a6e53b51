//! Cryptography for Rampart: ed25519 identities, SHA-256 digests, and signed messages.
//!
//! Every protocol message in Rampart is a [`Signed`] value. What is signed is a
//! domain-separated canonical encoding: a fixed prefix, the message kind, the cluster id,
//! and the bincode bytes of the value (see [`signing_bytes`]). A signature made for one
//! kind of message, or for one cluster, is therefore never valid for another.
//!
//! Signing and verification go through two small traits, [`Signer`] and [`Verifier`], so
//! that the deterministic simulator can swap ed25519 for cheap unforgeable tags; the real
//! replicas and clients use [`KeyPair`] and [`Ed25519`].

mod batch;
mod digest;
mod error;
mod key;
mod keyfile;
mod signature;
mod signed;

pub use digest::{Digest, DigestBuilder};
pub use error::CryptoError;
pub use key::{KeyPair, PublicKey};
pub use keyfile::{
    create_key_pair, load_key_pair, load_key_pair_any_mode, load_public_key, save_key_pair,
    save_public_key,
};
pub use signature::{Ed25519, Signature, SignatureCheck, Signer, Verifier};
pub use signed::{ClusterId, Signable, Signed, signing_bytes};
