//! The value format: an eight-byte checksum, then the payload (bincode, or raw snapshot
//! bytes).
//!
//! The checksum is the first eight bytes of SHA-256 over the column family name, the key
//! and the payload, each length-prefixed. Covering the key as well as the payload catches
//! a value that is intact but sits under the wrong key (a misdirected write), which a
//! payload-only checksum would miss. RocksDB checksums its own blocks too; this checksum
//! covers what those do not: bugs and tampering above RocksDB, and files copied between
//! directories. Eight bytes make an accidental match a 2^-64 event.

use serde::Serialize;
use serde::de::DeserializeOwned;

use rampart_crypto::Digest;

use crate::message::{decode, encode};

use super::StoreError;

const CHECKSUM_LEN: usize = 8;

fn checksum(cf: &str, key: &[u8], payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut builder = Digest::builder();
    builder
        .update(b"rampart/store/record/v1")
        .field(cf.as_bytes())
        .field(key)
        .field(payload);
    let digest = builder.finish();
    let mut sum = [0; CHECKSUM_LEN];
    sum.copy_from_slice(&digest.as_bytes()[..CHECKSUM_LEN]);
    sum
}

/// The stored value for raw `payload` bytes under `key`.
pub fn seal_bytes(cf: &str, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(CHECKSUM_LEN + payload.len());
    value.extend_from_slice(&checksum(cf, key, payload));
    value.extend_from_slice(payload);
    value
}

/// The stored value for a serializable record under `key`.
pub fn seal<T: Serialize + ?Sized>(cf: &str, key: &[u8], record: &T) -> Vec<u8> {
    seal_bytes(cf, key, &encode(record))
}

/// The payload of a stored value, after checking its checksum.
pub fn open_bytes<'a>(
    cf: &'static str,
    key: &[u8],
    value: &'a [u8],
) -> Result<&'a [u8], StoreError> {
    let corrupted = |reason: &str| StoreError::Corrupted {
        cf,
        key: hex::encode(key),
        reason: reason.to_owned(),
    };
    let (sum, payload) = value
        .split_first_chunk::<CHECKSUM_LEN>()
        .ok_or_else(|| corrupted("value shorter than its checksum"))?;
    if *sum != checksum(cf, key, payload) {
        return Err(corrupted("checksum mismatch"));
    }
    Ok(payload)
}

/// The record in a stored value, after checking its checksum.
pub fn open<T: DeserializeOwned>(
    cf: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<T, StoreError> {
    let payload = open_bytes(cf, key, value)?;
    // A payload that passed its checksum but does not decode was written by a different
    // program version or by a bug; either way it must not be used.
    decode(cf, payload).map_err(|error| StoreError::Corrupted {
        cf,
        key: hex::encode(key),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_to_itself() {
        let value = seal("decided", b"k", &(7u64, String::from("seven")));
        let opened: (u64, String) = open("decided", b"k", &value).expect("intact");
        assert_eq!(opened, (7, "seven".to_owned()));
    }

    #[test]
    fn any_flipped_bit_or_moved_value_is_corruption() {
        let value = seal("decided", b"k", &(7u64, String::from("seven")));
        for index in 0..value.len() {
            let mut damaged = value.clone();
            damaged[index] ^= 0x10;
            assert!(matches!(
                open::<(u64, String)>("decided", b"k", &damaged),
                Err(StoreError::Corrupted { cf: "decided", .. })
            ));
        }
        assert!(open::<(u64, String)>("decided", b"other", &value).is_err());
        assert!(open::<(u64, String)>("prepared", b"k", &value).is_err());
        assert!(open_bytes("decided", b"k", &value[..5]).is_err());
    }
}
