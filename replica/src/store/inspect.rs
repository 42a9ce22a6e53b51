//! One stored value decoded on its own, as opening the store decodes it: the key's format,
//! the checksum, and the record type of its column family. Offline checks of a store and
//! the fuzz targets of the store's decoders use this; the checks that need other records
//! (a batch a record names, gaps in the evidence list) belong to [`Store::load`].
//!
//! [`Store::load`]: super::Store::load

use crate::core::{ClientTable, Evidence, MessageKey};
use crate::message::{Batch, CheckpointCertificate, Message, View};
use crate::transfer::{Manifest, chunk_digest};

use super::batches::{StoredDecided, StoredMessage, StoredPrepared};
use super::checkpoint::SnapshotSummary;
use super::identity::IdentityRecord;
use super::layout::{
    self, BATCHES, CHECKPOINTS, COLUMN_FAMILIES, DECIDED, EVIDENCE, IDENTITY_KEY, MESSAGES, META,
    PARTIAL_PREFIX, PREPARED, SNAPSHOTS, STABLE_KEY, VIEW_KEY,
};
use super::{StoreError, record};

/// The key a message is stored under in the `messages` column family.
pub fn message_key(key: &MessageKey) -> Vec<u8> {
    layout::message_key(key)
}

/// The value the store writes under `key` in column family `cf` for an encoded record (or
/// raw snapshot bytes): a checksum, then `payload`.
pub fn seal_value(cf: &str, key: &[u8], payload: &[u8]) -> Vec<u8> {
    record::seal_bytes(cf, key, payload)
}

/// Decodes the value stored under `key` in column family `cf`, refusing a malformed key,
/// a checksum mismatch, a payload that is not its column family's record, and a record
/// that does not belong under its key in a cluster of `replica_count` replicas.
pub fn check_value(
    cf: &str,
    key: &[u8],
    value: &[u8],
    replica_count: usize,
) -> Result<(), StoreError> {
    let cf = COLUMN_FAMILIES
        .into_iter()
        .find(|name| *name == cf)
        .ok_or(StoreError::MissingColumnFamily { cf: "unknown" })?;
    let mismatch = |reason: &str| StoreError::Corrupted {
        cf,
        key: hex::encode(key),
        reason: reason.to_owned(),
    };
    match cf {
        META => match key {
            IDENTITY_KEY => record::open::<IdentityRecord>(META, key, value).map(drop),
            VIEW_KEY => record::open::<(View, bool)>(META, key, value).map(drop),
            STABLE_KEY => record::open::<CheckpointCertificate>(META, key, value).map(drop),
            _ => {
                let seq_bytes = key
                    .strip_prefix(PARTIAL_PREFIX)
                    .ok_or_else(|| layout::malformed_key(META, key))?;
                layout::decode_seq_key(META, seq_bytes)?;
                record::open::<Manifest>(META, key, value).map(drop)
            }
        },
        MESSAGES => {
            let message_key = layout::decode_message_key(key)?;
            let message = match record::open::<StoredMessage>(MESSAGES, key, value)? {
                // Only the signed header decides the key; the batch is stored apart.
                StoredMessage::PrePrepare { pre_prepare, .. } => Message::PrePrepare {
                    pre_prepare,
                    batch: Batch::null(),
                },
                StoredMessage::Whole(message) => message,
            };
            if MessageKey::of(&message, replica_count) == Some(message_key) {
                Ok(())
            } else {
                Err(mismatch("message does not belong under its key"))
            }
        }
        PREPARED => {
            let seq = layout::decode_seq_key(PREPARED, key)?;
            let (certificate, _): StoredPrepared = record::open(PREPARED, key, value)?;
            if certificate.seq() == seq {
                Ok(())
            } else {
                Err(mismatch("certificate for another sequence number"))
            }
        }
        DECIDED => {
            let seq = layout::decode_seq_key(DECIDED, key)?;
            let (commits, _): StoredDecided = record::open(DECIDED, key, value)?;
            match commits.first() {
                Some(commit) if commit.value.seq == seq => Ok(()),
                _ => Err(mismatch("certificate for another sequence number")),
            }
        }
        BATCHES => {
            let (_, digest) = layout::decode_batch_key(key)?;
            let batch: Batch = record::open(BATCHES, key, value)?;
            if batch.digest() == digest {
                Ok(())
            } else {
                Err(mismatch("batch does not match its digest"))
            }
        }
        EVIDENCE => {
            layout::decode_position_key(key)?;
            record::open::<Evidence>(EVIDENCE, key, value).map(drop)
        }
        CHECKPOINTS => {
            let malformed = || layout::malformed_key(CHECKPOINTS, key);
            let (seq_bytes, part) = key.split_at_checked(8).ok_or_else(malformed)?;
            let seq = layout::decode_seq_key(CHECKPOINTS, seq_bytes)?;
            match part {
                [0] => {
                    let summary: SnapshotSummary = record::open(CHECKPOINTS, key, value)?;
                    if summary.seq == seq {
                        Ok(())
                    } else {
                        Err(mismatch("summary of another sequence number"))
                    }
                }
                [1] => record::open::<ClientTable>(CHECKPOINTS, key, value).map(drop),
                _ => Err(malformed()),
            }
        }
        _ => {
            // Snapshot chunks are raw bytes under their digest.
            let digest: [u8; 32] = key
                .try_into()
                .map_err(|_| layout::malformed_key(SNAPSHOTS, key))?;
            let payload = record::open_bytes(SNAPSHOTS, key, value)?;
            if chunk_digest(payload).0 == digest {
                Ok(())
            } else {
                Err(mismatch("the chunk does not match its digest"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, REPLICA_COUNT};
    use super::super::{Store, StoreOptions};
    use super::*;
    use crate::core::{PersistOp, checkpoint_digest};
    use crate::message::Seq;

    /// Every key and value of every column family.
    fn records(store: &Store) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
        let mut records = Vec::new();
        for cf in COLUMN_FAMILIES {
            for (key, value) in store.raw_entries(cf) {
                records.push((cf, key, value));
            }
        }
        records
    }

    #[test]
    fn every_value_a_store_writes_checks_and_no_damaged_one_does() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let batch = fixture::batch(2, 8);
        let ops = vec![
            PersistOp::ViewState {
                view: View(1),
                normal: false,
            },
            PersistOp::Message(fixture::pre_prepare(View(0), Seq(1), batch.clone())),
            PersistOp::Message(fixture::prepare(View(0), Seq(1), batch.digest(), 2)),
            PersistOp::Message(fixture::view_change(View(1), 2, Vec::new())),
            PersistOp::Prepared {
                certificate: fixture::prepared_certificate(View(0), Seq(1), &batch),
                batch: batch.clone(),
            },
            PersistOp::Decided(fixture::commit_certificate(View(0), Seq(1), &batch)),
            PersistOp::Evidence(fixture::evidence(2, 0)),
            PersistOp::StableCheckpoint(fixture::stable_certificate(Seq(1))),
        ];
        store.commit(&ops, &[]).expect("commits");
        let snapshot = fixture::snapshot_bytes(300, 1);
        let manifest = Manifest::of(&snapshot, 128);
        let table = fixture::client_table(Seq(4));
        let digest = checkpoint_digest(Seq(4), manifest.root(), &table);
        store
            .put_checkpoint(Seq(4), digest, &table, &manifest, &snapshot)
            .expect("stores");

        let records = records(&store);
        let kinds: std::collections::BTreeSet<&str> = records.iter().map(|r| r.0).collect();
        assert_eq!(kinds.len(), COLUMN_FAMILIES.len(), "{kinds:?}");
        for (cf, key, value) in records {
            check_value(cf, &key, &value, REPLICA_COUNT)
                .unwrap_or_else(|error| panic!("{cf}/{}: {error}", hex::encode(&key)));
            let mut damaged = value.clone();
            *damaged.last_mut().expect("a value") ^= 1;
            assert!(check_value(cf, &key, &damaged, REPLICA_COUNT).is_err());
            let mut moved = key.clone();
            moved.push(0);
            assert!(check_value(cf, &moved, &value, REPLICA_COUNT).is_err());
        }
    }
}
