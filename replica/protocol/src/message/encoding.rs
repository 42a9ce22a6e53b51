//! The bytes of every Rampart value on the wire and on disk: one bincode configuration,
//! and decoding that refuses what would claim too much memory.

use serde::{Serialize, de::DeserializeOwned};

/// The bincode configuration of every Rampart encoding.
pub fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes a value with Rampart's bincode configuration. Encoding our own types into
/// memory cannot fail (they hold no maps with non-string keys or other unsupported data).
///
/// The value is sized first and written once into a vector of that size: a growing vector
/// would copy a batch's bytes several times over.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    fn failed(error: bincode::error::EncodeError) -> ! {
        unreachable!("in-memory bincode encoding failed: {error}")
    }
    let mut size = bincode::enc::write::SizeWriter::default();
    if let Err(error) = bincode::serde::encode_into_writer(value, &mut size, bincode_config()) {
        failed(error);
    }
    let mut bytes = Vec::with_capacity(size.bytes_written);
    if let Err(error) = bincode::serde::encode_into_std_write(value, &mut bytes, bincode_config()) {
        failed(error);
    }
    bytes
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {what}: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

/// The most memory one decoded value may claim. Bincode allocates what a length prefix
/// says before reading it; without a limit, a few crafted bytes could ask for exabytes.
pub const DECODED_BYTES_MAX: usize = 64 << 20;

/// Decodes a value, refusing trailing bytes and anything that would claim more than
/// [`DECODED_BYTES_MAX`] of memory.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    let config = bincode::config::standard().with_limit::<DECODED_BYTES_MAX>();
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|error| DecodeError {
            what,
            reason: error.to_string(),
        })?;
    if read != bytes.len() {
        return Err(DecodeError {
            what,
            reason: format!("{} trailing bytes", bytes.len() - read),
        });
    }
    Ok(value)
}
