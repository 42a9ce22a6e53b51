//! Reading the protocol state back.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rampart_crypto::Digest;

use crate::core::{Evidence, MessageKey, PersistedState};
use crate::message::{Batch, CheckpointCertificate, CommitCertificate, Message, Seq, View};

use super::batches::{StoredDecided, StoredMessage, StoredPrepared};
use super::layout::{
    self, BATCHES, DECIDED, EVIDENCE, MESSAGES, META, PREPARED, STABLE_KEY, VIEW_KEY,
};
use super::{Store, StoreError, Visit, record};

fn mismatch(cf: &'static str, key: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupted {
        cf,
        key: hex::encode(key),
        reason: reason.to_owned(),
    }
}

impl Store {
    /// Rebuilds the [`PersistedState`] the commits so far produced, checking every
    /// record's checksum and that each record sits under the key its content implies.
    pub fn load(&self) -> Result<PersistedState, StoreError> {
        self.load_with_batch_keys().map(|(state, _)| state)
    }

    /// [`Store::load`], and the keys of every stored batch, named by a record or not.
    pub(super) fn load_with_batch_keys(
        &self,
    ) -> Result<(PersistedState, BTreeSet<(Seq, Digest)>), StoreError> {
        let mut state = PersistedState::default();
        if let Some((view, normal)) = self.get::<(View, bool)>(META, VIEW_KEY)? {
            state.view = view;
            state.normal = normal;
        }
        if let Some(stable) = self.get::<CheckpointCertificate>(META, STABLE_KEY)? {
            state.stable = stable;
        }
        let batches = self.load_batches()?;
        let batch_named = |cf, key: &[u8], seq, digest| {
            batches
                .get(&(seq, digest))
                .cloned()
                .ok_or_else(|| mismatch(cf, key, "names a batch that is not stored"))
        };
        let replica_count = self.replica_count;
        self.for_each(MESSAGES, &[], |key, value| {
            let message_key = layout::decode_message_key(key)?;
            let message = match record::open(MESSAGES, key, value)? {
                StoredMessage::PrePrepare { pre_prepare, batch } => {
                    let batch = batch_named(MESSAGES, key, pre_prepare.value.seq, batch)?;
                    Message::PrePrepare { pre_prepare, batch }
                }
                StoredMessage::Whole(message) => message,
            };
            if MessageKey::of(&message, replica_count) != Some(message_key) {
                return Err(mismatch(
                    MESSAGES,
                    key,
                    "message does not belong under its key",
                ));
            }
            state.messages.insert(message_key, message);
            Ok(Visit::Continue)
        })?;
        self.for_each(PREPARED, &[], |key, value| {
            let seq = layout::decode_seq_key(PREPARED, key)?;
            let (certificate, digest): StoredPrepared = record::open(PREPARED, key, value)?;
            if certificate.seq() != seq {
                return Err(mismatch(
                    PREPARED,
                    key,
                    "certificate for another sequence number",
                ));
            }
            let batch = batch_named(PREPARED, key, seq, digest)?;
            state.prepared.insert(seq, (certificate, batch));
            Ok(Visit::Continue)
        })?;
        self.for_each(DECIDED, &[], |key, value| {
            let seq = layout::decode_seq_key(DECIDED, key)?;
            let (commits, digest): StoredDecided = record::open(DECIDED, key, value)?;
            let batch = batch_named(DECIDED, key, seq, digest)?;
            let decided = CommitCertificate { commits, batch };
            if decided.subject().map(|(_, subject, _)| subject) != Some(seq) {
                return Err(mismatch(
                    DECIDED,
                    key,
                    "certificate for another sequence number",
                ));
            }
            state.decided.insert(seq, decided);
            Ok(Visit::Continue)
        })?;
        self.for_each(EVIDENCE, &[], |key, value| {
            // Evidence is never deleted, so positions run 0, 1, 2, ... without gaps; a gap
            // means a record went missing.
            let position = layout::decode_position_key(key)?;
            if position != state.evidence.len() as u64 {
                return Err(mismatch(EVIDENCE, key, "gap in the evidence list"));
            }
            state
                .evidence
                .push(record::open::<Evidence>(EVIDENCE, key, value)?);
            Ok(Visit::Continue)
        })?;
        Ok((state, batches.into_keys().collect()))
    }

    /// Every stored batch, checked against the digest in its key.
    fn load_batches(&self) -> Result<HashMap<(Seq, Digest), Arc<Batch>>, StoreError> {
        let mut batches = HashMap::new();
        self.for_each(BATCHES, &[], |key, value| {
            let (seq, digest) = layout::decode_batch_key(key)?;
            let batch: Batch = record::open(BATCHES, key, value)?;
            if batch.digest() != digest {
                return Err(mismatch(BATCHES, key, "batch does not match its digest"));
            }
            batches.insert((seq, digest), Arc::new(batch));
            Ok(Visit::Continue)
        })?;
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, REPLICA_COUNT};
    use super::super::{Store, StoreOptions};
    use super::*;
    use crate::core::PersistOp;
    use crate::message::Seq;

    /// Flips one bit of the payload of a stored record, under the store's feet.
    fn damage(store: &mut Store, cf: &'static str, key: &[u8]) {
        let mut value = store.get_raw(cf, key).expect("a record");
        let last = value.len() - 1;
        value[last] ^= 0x01;
        store.put_raw(cf, key, value);
    }

    #[test]
    fn a_damaged_value_is_reported_as_corrupted_and_never_loaded() {
        let prepare = fixture::prepare(View(0), Seq(1), fixture::digest(1), 2);
        let prepare_key = MessageKey::of(&prepare, REPLICA_COUNT).expect("kept");
        let batch = fixture::batch(1, 8);
        let damaged: [(&'static str, Vec<u8>); 7] = [
            (MESSAGES, layout::message_key(&prepare_key)),
            (PREPARED, layout::seq_key(Seq(1)).to_vec()),
            (DECIDED, layout::seq_key(Seq(1)).to_vec()),
            (BATCHES, layout::batch_key(Seq(1), &batch.digest()).to_vec()),
            (EVIDENCE, layout::position_key(0).to_vec()),
            (META, VIEW_KEY.to_vec()),
            (META, STABLE_KEY.to_vec()),
        ];
        for (cf, key) in damaged {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut store = fixture::open(dir.path(), StoreOptions::default());
            let ops = vec![
                PersistOp::ViewState {
                    view: View(1),
                    normal: false,
                },
                PersistOp::Message(prepare.clone()),
                PersistOp::Prepared {
                    certificate: fixture::prepared_certificate(View(0), Seq(1), &batch),
                    batch: batch.clone(),
                },
                PersistOp::Decided(fixture::commit_certificate(View(0), Seq(1), &batch)),
                PersistOp::Evidence(fixture::evidence(2, 0)),
                PersistOp::StableCheckpoint(fixture::stable_certificate(Seq(1))),
            ];
            store.commit(&ops, &[]).expect("commits");
            damage(&mut store, cf, &key);
            match store.load() {
                Err(StoreError::Corrupted { cf: reported, .. }) => assert_eq!(reported, cf),
                other => panic!("damage in {cf} gave {other:?}"),
            }
            drop(store);
            let reopened = Store::open(
                dir.path(),
                &fixture::identity(0),
                StoreOptions::default(),
                REPLICA_COUNT,
            );
            assert!(
                matches!(reopened, Err(StoreError::Corrupted { .. })),
                "reopening with damage in {cf} gave {reopened:?}"
            );
        }
    }

    #[test]
    fn a_damaged_identity_record_stops_the_open() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        damage(&mut store, META, layout::IDENTITY_KEY);
        drop(store);
        let reopened = Store::open(
            dir.path(),
            &fixture::identity(0),
            StoreOptions::default(),
            REPLICA_COUNT,
        );
        assert!(matches!(
            reopened,
            Err(StoreError::Corrupted { cf: META, .. })
        ));
    }

    #[test]
    fn a_message_under_the_wrong_key_is_corrupted() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        // A correctly sealed record whose content belongs under another key: a bug in a
        // writer, which the checksum alone cannot see.
        let key = layout::message_key(&MessageKey::NewView { view: View(9) });
        let message = fixture::prepare(View(0), Seq(1), fixture::digest(1), 2);
        let value = record::seal(MESSAGES, &key, &message);
        store.put_raw(MESSAGES, &key, value);
        assert!(matches!(
            store.load(),
            Err(StoreError::Corrupted { cf: MESSAGES, .. })
        ));
    }

    #[test]
    fn a_record_whose_batch_is_missing_is_corrupted() {
        let batch = fixture::batch(2, 8);
        let records: [(&'static str, PersistOp); 3] = [
            (
                MESSAGES,
                PersistOp::Message(fixture::pre_prepare(View(0), Seq(1), batch.clone())),
            ),
            (
                PREPARED,
                PersistOp::Prepared {
                    certificate: fixture::prepared_certificate(View(0), Seq(1), &batch),
                    batch: batch.clone(),
                },
            ),
            (
                DECIDED,
                PersistOp::Decided(fixture::commit_certificate(View(0), Seq(1), &batch)),
            ),
        ];
        for (cf, op) in records {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut store = fixture::open(dir.path(), StoreOptions::default());
            store.commit(&[op], &[]).expect("commits");
            assert_eq!(fixture::count(&store, BATCHES), 1);
            let key = layout::batch_key(Seq(1), &batch.digest());
            store.delete_raw(BATCHES, &key);
            match store.load() {
                Err(StoreError::Corrupted {
                    cf: reported,
                    reason,
                    ..
                }) => {
                    assert_eq!(reported, cf);
                    assert!(reason.contains("batch that is not stored"), "{reason}");
                }
                other => panic!("a {cf} record without its batch gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_batch_under_another_digest_is_corrupted() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let key = layout::batch_key(Seq(1), &fixture::digest(7));
        let value = record::seal(BATCHES, &key, &*fixture::batch(1, 8));
        store.put_raw(BATCHES, &key, value);
        assert!(matches!(
            store.load(),
            Err(StoreError::Corrupted { cf: BATCHES, .. })
        ));
    }
}
