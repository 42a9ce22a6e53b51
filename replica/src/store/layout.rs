//! Where each record lives: column family names and key encodings.
//!
//! Every key is big-endian, field by field, in the order the Rust type compares them, so
//! RocksDB's byte order equals the order of the keys' types. That lets load read records
//! back in the order [`PersistedState`](crate::core::PersistedState) keeps them, and lets
//! pruning by sequence number or view be a contiguous key range.

use rampart_crypto::Digest;

use crate::core::MessageKey;
use crate::message::{ReplicaId, Seq, View};

use super::StoreError;

/// Identity, view state, stable checkpoint, and markers of snapshots being written.
pub const META: &str = "meta";
/// Protocol messages, keyed by [`MessageKey`].
pub const MESSAGES: &str = "messages";
/// Prepared certificates, by sequence number.
pub const PREPARED: &str = "prepared";
/// Commit certificates, by sequence number.
pub const DECIDED: &str = "decided";
/// Batches of requests, by (sequence number, batch digest). A batch is stored once, however
/// many records carry it (the accepted PRE-PREPARE, the prepared certificate, the
/// decision); those records name it by its digest.
pub const BATCHES: &str = "batches";
/// Evidence against faulty replicas, by arrival position.
pub const EVIDENCE: &str = "evidence";
/// Checkpoint state metadata, by sequence number.
pub const CHECKPOINTS: &str = "checkpoints";
/// Application snapshot chunks, by their digest (content-addressed: a chunk several
/// checkpoint states share is stored once).
pub const SNAPSHOTS: &str = "snapshots";

/// Every column family the store uses (besides RocksDB's `default`, which stays empty).
pub const COLUMN_FAMILIES: [&str; 8] = [
    META,
    MESSAGES,
    PREPARED,
    DECIDED,
    BATCHES,
    EVIDENCE,
    CHECKPOINTS,
    SNAPSHOTS,
];

/// Keys in [`META`].
pub const IDENTITY_KEY: &[u8] = b"identity";
pub const VIEW_KEY: &[u8] = b"view";
pub const STABLE_KEY: &[u8] = b"stable";
/// Prefix of the marker of a snapshot being written (followed by its sequence number); its
/// value is the snapshot's manifest.
pub const PARTIAL_PREFIX: &[u8] = b"partial/";

/// The tags of [`MessageKey`] variants, in declaration order (which is their order).
const TAG_AGREEMENT: u8 = 0;
const TAG_CHECKPOINT: u8 = 1;
const TAG_VIEW_CHANGE: u8 = 2;
const TAG_NEW_VIEW: u8 = 3;

pub fn seq_key(seq: Seq) -> [u8; 8] {
    seq.0.to_be_bytes()
}

/// The smallest key above every key that starts with `prefix`, in a column family whose
/// keys are at most `key_len_max` bytes long: the exclusive end of a range delete of
/// everything under the prefix.
pub fn end_of_prefix(prefix: &[u8], key_len_max: usize) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // The prefix is all 0xff bytes, so no key of the same length follows it; a key longer
    // than any stored one sorts after all of them.
    vec![0xff; key_len_max + 1]
}

/// The keys of records by sequence number (eight bytes) up to and including `seq`.
pub fn seq_keys_up_to(seq: Seq) -> ([u8; 8], Vec<u8>) {
    (seq_key(Seq(0)), end_of_prefix(&seq_key(seq), 8))
}

pub fn decode_seq_key(cf: &'static str, key: &[u8]) -> Result<Seq, StoreError> {
    decode_u64_key(cf, key).map(Seq)
}

/// The key of a batch: its sequence number, then its digest.
pub fn batch_key(seq: Seq, digest: &Digest) -> [u8; 40] {
    let mut key = [0; 40];
    key[..8].copy_from_slice(&seq_key(seq));
    key[8..].copy_from_slice(digest.as_bytes());
    key
}

pub fn decode_batch_key(key: &[u8]) -> Result<(Seq, Digest), StoreError> {
    let mut reader = KeyReader { rest: key };
    match (reader.u64(), reader.take::<32>()) {
        (Some(seq), Some(digest)) if reader.rest.is_empty() => Ok((Seq(seq), Digest(digest))),
        _ => Err(malformed_key(BATCHES, key)),
    }
}

/// The keys of batches for sequence numbers up to and including `seq`.
pub fn batch_keys_up_to(seq: Seq) -> ([u8; 8], Vec<u8>) {
    (seq_key(Seq(0)), end_of_prefix(&seq_key(seq), 40))
}

/// A position in the evidence list.
pub fn position_key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

pub fn decode_position_key(key: &[u8]) -> Result<u64, StoreError> {
    decode_u64_key(EVIDENCE, key)
}

fn decode_u64_key(cf: &'static str, key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| malformed_key(cf, key))?;
    Ok(u64::from_be_bytes(bytes))
}

pub fn partial_key(seq: Seq) -> Vec<u8> {
    [PARTIAL_PREFIX, &seq_key(seq)].concat()
}

/// The key of a snapshot chunk: its digest.
pub fn chunk_key(digest: &Digest) -> [u8; 32] {
    *digest.as_bytes()
}

/// The key of a checkpoint state's summary (sizes and digests).
pub fn summary_key(seq: Seq) -> [u8; 9] {
    checkpoint_key(seq, 0)
}

/// The key of a checkpoint state's reply cache, apart from the summary because it can be
/// large and streaming a snapshot needs only the summary.
pub fn client_table_key(seq: Seq) -> [u8; 9] {
    checkpoint_key(seq, 1)
}

fn checkpoint_key(seq: Seq, part: u8) -> [u8; 9] {
    let mut key = [part; 9];
    key[..8].copy_from_slice(&seq_key(seq));
    key
}

/// The longest encoded [`MessageKey`]: an agreement key.
const MESSAGE_KEY_LEN_MAX: usize = 1 + 8 + 8 + 1 + 4;

pub fn message_key(key: &MessageKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(MESSAGE_KEY_LEN_MAX);
    match *key {
        MessageKey::Agreement {
            seq,
            view,
            step,
            replica,
        } => {
            bytes.push(TAG_AGREEMENT);
            bytes.extend_from_slice(&seq.0.to_be_bytes());
            bytes.extend_from_slice(&view.0.to_be_bytes());
            bytes.push(step);
            bytes.extend_from_slice(&replica.0.to_be_bytes());
        }
        MessageKey::Checkpoint { seq, replica } => {
            bytes.push(TAG_CHECKPOINT);
            bytes.extend_from_slice(&seq.0.to_be_bytes());
            bytes.extend_from_slice(&replica.0.to_be_bytes());
        }
        MessageKey::ViewChange { view, replica } => {
            bytes.push(TAG_VIEW_CHANGE);
            bytes.extend_from_slice(&view.0.to_be_bytes());
            bytes.extend_from_slice(&replica.0.to_be_bytes());
        }
        MessageKey::NewView { view } => {
            bytes.push(TAG_NEW_VIEW);
            bytes.extend_from_slice(&view.0.to_be_bytes());
        }
    }
    bytes
}

/// Reads fixed-size big-endian fields off the front of a key.
struct KeyReader<'a> {
    rest: &'a [u8],
}

impl KeyReader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[byte]| byte)
    }
}

pub fn decode_message_key(key: &[u8]) -> Result<MessageKey, StoreError> {
    let mut reader = KeyReader { rest: key };
    let decoded = match reader.u8() {
        Some(TAG_AGREEMENT) => (|| {
            Some(MessageKey::Agreement {
                seq: Seq(reader.u64()?),
                view: View(reader.u64()?),
                step: reader.u8()?,
                replica: ReplicaId(reader.u32()?),
            })
        })(),
        Some(TAG_CHECKPOINT) => (|| {
            Some(MessageKey::Checkpoint {
                seq: Seq(reader.u64()?),
                replica: ReplicaId(reader.u32()?),
            })
        })(),
        Some(TAG_VIEW_CHANGE) => (|| {
            Some(MessageKey::ViewChange {
                view: View(reader.u64()?),
                replica: ReplicaId(reader.u32()?),
            })
        })(),
        Some(TAG_NEW_VIEW) => (|| {
            Some(MessageKey::NewView {
                view: View(reader.u64()?),
            })
        })(),
        _ => None,
    };
    match decoded {
        Some(message_key) if reader.rest.is_empty() => Ok(message_key),
        _ => Err(malformed_key(MESSAGES, key)),
    }
}

/// The message keys PBFT §4.3 garbage collection removes at stable checkpoint `seq`
/// ([`MessageKey::is_below_seq`]): agreement and checkpoint messages up to `seq`, as two
/// contiguous ranges.
pub fn message_ranges_up_to_seq(seq: Seq) -> [(Vec<u8>, Vec<u8>); 2] {
    let range = |tag: u8| {
        let prefix = [&[tag][..], &seq_key(seq)].concat();
        (vec![tag], end_of_prefix(&prefix, MESSAGE_KEY_LEN_MAX))
    };
    [range(TAG_AGREEMENT), range(TAG_CHECKPOINT)]
}

/// The VIEW-CHANGE and NEW-VIEW keys of views below `view`, as two contiguous ranges. The
/// agreement messages of those views are not contiguous (their keys start with the
/// sequence number) and are deleted one by one.
pub fn message_ranges_below_view(view: View) -> [(Vec<u8>, Vec<u8>); 2] {
    let range = |tag: u8| (vec![tag], [&[tag][..], &view.0.to_be_bytes()].concat());
    [range(TAG_VIEW_CHANGE), range(TAG_NEW_VIEW)]
}

pub fn malformed_key(cf: &'static str, key: &[u8]) -> StoreError {
    StoreError::Corrupted {
        cf,
        key: hex::encode(key),
        reason: "malformed key".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_keys() -> Vec<MessageKey> {
        let mut keys = Vec::new();
        for seq in [0, 1, 255, 256, u64::MAX] {
            for view in [0, 1, 300] {
                for step in 0..3 {
                    for replica in [0, 3, 70_000] {
                        keys.push(MessageKey::Agreement {
                            seq: Seq(seq),
                            view: View(view),
                            step,
                            replica: ReplicaId(replica),
                        });
                    }
                }
            }
            keys.push(MessageKey::Checkpoint {
                seq: Seq(seq),
                replica: ReplicaId(2),
            });
        }
        keys.push(MessageKey::Agreement {
            seq: Seq(u64::MAX),
            view: View(u64::MAX),
            step: u8::MAX,
            replica: ReplicaId(u32::MAX),
        });
        keys.push(MessageKey::Checkpoint {
            seq: Seq(u64::MAX),
            replica: ReplicaId(u32::MAX),
        });
        for view in [0, 1, 256, u64::MAX] {
            keys.push(MessageKey::ViewChange {
                view: View(view),
                replica: ReplicaId(1),
            });
            keys.push(MessageKey::NewView { view: View(view) });
        }
        keys
    }

    #[test]
    fn message_keys_sort_as_bytes_exactly_as_they_sort_as_values() {
        let mut by_value = sample_keys();
        by_value.sort();
        let mut by_bytes = sample_keys();
        by_bytes.sort_by_key(message_key);
        assert_eq!(by_value, by_bytes);
        for key in &by_value {
            assert_eq!(decode_message_key(&message_key(key)).ok(), Some(*key));
        }
    }

    #[test]
    fn prune_ranges_cover_exactly_the_keys_the_model_removes() {
        let inside = |ranges: &[(Vec<u8>, Vec<u8>)], bytes: &[u8]| {
            ranges
                .iter()
                .any(|(from, to)| from.as_slice() <= bytes && bytes < to.as_slice())
        };
        for stable in [Seq(0), Seq(255), Seq(u64::MAX)] {
            let ranges = message_ranges_up_to_seq(stable);
            for key in sample_keys() {
                assert_eq!(
                    inside(&ranges, &message_key(&key)),
                    key.is_below_seq(stable),
                    "{key:?} at stable {stable}"
                );
            }
        }
        for below in [View(0), View(1), View(300), View(u64::MAX)] {
            let ranges = message_ranges_below_view(below);
            for key in sample_keys() {
                let agreement = matches!(key, MessageKey::Agreement { .. });
                assert_eq!(
                    inside(&ranges, &message_key(&key)),
                    key.is_below_view(below) && !agreement,
                    "{key:?} below {below}"
                );
            }
        }
    }

    #[test]
    fn the_end_of_a_prefix_is_above_every_key_under_it() {
        assert_eq!(end_of_prefix(&[1, 2], 4), vec![1, 3]);
        assert_eq!(end_of_prefix(&[1, 0xff], 4), vec![2]);
        assert_eq!(end_of_prefix(&[0xff, 0xff], 4), vec![0xff; 5]);
        let (from, to) = seq_keys_up_to(Seq(u64::MAX));
        assert!(from.as_slice() < to.as_slice() && [0xff; 8].as_slice() < to.as_slice());
    }

    #[test]
    fn malformed_message_keys_are_corruption() {
        for bad in [&[][..], &[9], &[0, 1, 2], &[3, 0, 0, 0, 0, 0, 0, 0, 1, 7]] {
            assert!(matches!(
                decode_message_key(bad),
                Err(StoreError::Corrupted { cf: MESSAGES, .. })
            ));
        }
    }
}
