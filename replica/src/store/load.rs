//! Reading the protocol state back.

use std::sync::Arc;

use crate::message::CommitCertificate;

use crate::core::{Evidence, MessageKey, PersistedState};
use crate::message::{Batch, CheckpointCertificate, Message, PreparedCertificate, View};

use super::layout::{self, DECIDED, EVIDENCE, MESSAGES, META, PREPARED, STABLE_KEY, VIEW_KEY};
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
        let mut state = PersistedState::default();
        if let Some((view, normal)) = self.get::<(View, bool)>(META, VIEW_KEY)? {
            state.view = view;
            state.normal = normal;
        }
        if let Some(stable) = self.get::<CheckpointCertificate>(META, STABLE_KEY)? {
            state.stable = stable;
        }
        let replica_count = self.replica_count;
        self.for_each(MESSAGES, &[], |key, value| {
            let message_key = layout::decode_message_key(key)?;
            let message: Message = record::open(MESSAGES, key, value)?;
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
            let (certificate, batch): (PreparedCertificate, Arc<Batch>) =
                record::open(PREPARED, key, value)?;
            if certificate.seq() != seq {
                return Err(mismatch(
                    PREPARED,
                    key,
                    "certificate for another sequence number",
                ));
            }
            state.prepared.insert(seq, (certificate, batch));
            Ok(Visit::Continue)
        })?;
        self.for_each(DECIDED, &[], |key, value| {
            let seq = layout::decode_seq_key(DECIDED, key)?;
            state
                .decided
                .insert(seq, record::open::<CommitCertificate>(DECIDED, key, value)?);
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
        Ok(state)
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
    fn damage(store: &Store, cf: &'static str, key: &[u8]) {
        let handle = store.cf(cf).expect("column family");
        let mut value = store
            .db
            .get_cf(handle, key)
            .expect("reads")
            .expect("a record");
        let last = value.len() - 1;
        value[last] ^= 0x01;
        store.db.put_cf(handle, key, value).expect("writes");
    }

    #[test]
    fn a_damaged_value_is_reported_as_corrupted_and_never_loaded() {
        let prepare = fixture::prepare(View(0), Seq(1), fixture::digest(1), 2);
        let prepare_key = MessageKey::of(&prepare, REPLICA_COUNT).expect("kept");
        let damaged: [(&'static str, Vec<u8>); 6] = [
            (MESSAGES, layout::message_key(&prepare_key)),
            (PREPARED, layout::seq_key(Seq(1)).to_vec()),
            (DECIDED, layout::seq_key(Seq(1)).to_vec()),
            (EVIDENCE, layout::position_key(0).to_vec()),
            (META, VIEW_KEY.to_vec()),
            (META, STABLE_KEY.to_vec()),
        ];
        for (cf, key) in damaged {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut store = fixture::open(dir.path(), StoreOptions::default());
            let batch = fixture::batch(1, 8);
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
            damage(&store, cf, &key);
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
        let store = fixture::open(dir.path(), StoreOptions::default());
        damage(&store, META, layout::IDENTITY_KEY);
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
        let store = fixture::open(dir.path(), StoreOptions::default());
        // A correctly sealed record whose content belongs under another key: a bug in a
        // writer, which the checksum alone cannot see.
        let key = layout::message_key(&MessageKey::NewView { view: View(9) });
        let message = fixture::prepare(View(0), Seq(1), fixture::digest(1), 2);
        let value = record::seal(MESSAGES, &key, &message);
        store
            .db
            .put_cf(store.cf(MESSAGES).expect("column family"), &key, value)
            .expect("writes");
        assert!(matches!(
            store.load(),
            Err(StoreError::Corrupted { cf: MESSAGES, .. })
        ));
    }
}
