//! Committing what one core input produced, as one atomic write.

use std::collections::BTreeSet;

use super::disk::WriteBatch;
use rampart_crypto::Digest;

use crate::core::{MessageKey, PersistOp};
use crate::message::{Batch, Message, Seq, View};

use super::batches::StoredMessageRef;
use super::index::Index;
use super::layout::{
    self, BATCHES, CHECKPOINTS, DECIDED, EVIDENCE, MESSAGES, META, PREPARED, SNAPSHOTS, STABLE_KEY,
    VIEW_KEY,
};
use super::{Store, StoreError, record};

impl Store {
    /// Makes durable, in one atomic write (synced if [`super::StoreOptions::sync`]), the
    /// `Persist` operations of one core input and the signed messages it broadcast.
    ///
    /// The effect equals, on a [`PersistedState`](crate::core::PersistedState), `apply` of
    /// each operation in order, then `insert_message` of each own message in order (STATUS
    /// messages are not kept). On error nothing of the input may be assumed durable, and
    /// the replica must stop.
    pub fn commit(
        &mut self,
        ops: &[PersistOp],
        own_messages: &[Message],
    ) -> Result<(), StoreError> {
        let mut index = match self.index.take() {
            Some(index) => index,
            None => self.read_index()?,
        };
        let mut batch = WriteBatch::default();
        for op in ops {
            self.add_op(&mut batch, &mut index, op)?;
        }
        for message in own_messages {
            self.add_message(&mut batch, &mut index, message)?;
        }
        self.write(batch, "committing protocol state")?;
        self.index = Some(index);
        Ok(())
    }

    fn put<T: serde::Serialize + ?Sized>(
        &self,
        batch: &mut WriteBatch,
        cf_name: &'static str,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        batch.put_cf(cf_name, key, record::seal(cf_name, key, value));
        Ok(())
    }

    fn delete_range(
        &self,
        batch: &mut WriteBatch,
        cf_name: &'static str,
        (from, to): (impl AsRef<[u8]>, impl AsRef<[u8]>),
    ) -> Result<(), StoreError> {
        batch.delete_range_cf(cf_name, from.as_ref(), to.as_ref());
        Ok(())
    }

    /// Adds one operation to the batch, with the effect [`PersistedState::apply`] has.
    ///
    /// [`PersistedState::apply`]: crate::core::PersistedState::apply
    fn add_op(
        &mut self,
        batch: &mut WriteBatch,
        index: &mut Index,
        op: &PersistOp,
    ) -> Result<(), StoreError> {
        match op {
            PersistOp::ViewState { view, normal } => {
                self.put(batch, META, VIEW_KEY, &(view, normal))?;
            }
            PersistOp::Message(message) => self.add_message(batch, index, message)?,
            PersistOp::Prepared {
                certificate,
                batch: requests,
            } => {
                let seq = certificate.seq();
                if index.accepts_prepared(seq, certificate.view()) {
                    let digest = self.add_batch(batch, index, seq, requests)?;
                    let key = layout::seq_key(seq);
                    self.put(batch, PREPARED, &key, &(certificate, digest))?;
                    index.prepared_views.insert(seq, certificate.view());
                }
            }
            PersistOp::Decided(certificate) => {
                if let Some((_, seq, _)) = certificate.subject() {
                    let digest = self.add_batch(batch, index, seq, &certificate.batch)?;
                    let record = (&certificate.commits, digest);
                    self.put(batch, DECIDED, &layout::seq_key(seq), &record)?;
                }
            }
            PersistOp::StableCheckpoint(certificate) => {
                if certificate.seq > index.stable_seq {
                    self.put(batch, META, STABLE_KEY, certificate)?;
                    index.stable_seq = certificate.seq;
                }
            }
            PersistOp::Evidence(evidence) => {
                if index.accepts_evidence(evidence, self.replica_count) {
                    let key = layout::position_key(index.evidence.len() as u64);
                    self.put(batch, EVIDENCE, &key, evidence)?;
                    index.evidence.push(evidence.clone());
                }
            }
            PersistOp::PruneBelow { seq } => self.prune_below(batch, index, *seq)?,
            PersistOp::PruneViewsBelow { view } => self.prune_views_below(batch, index, *view)?,
            PersistOp::ForgetMessage(key) => {
                if index.messages.remove(key) {
                    batch.delete_cf(MESSAGES, layout::message_key(key));
                }
            }
        }
        Ok(())
    }

    /// Stores a message under its key unless one is stored there already.
    fn add_message(
        &self,
        batch: &mut WriteBatch,
        index: &mut Index,
        message: &Message,
    ) -> Result<(), StoreError> {
        let Some(key) = MessageKey::of(message, self.replica_count) else {
            return Ok(());
        };
        if !index.messages.insert(key) {
            return Ok(());
        }
        let stored = match message {
            Message::PrePrepare {
                pre_prepare,
                batch: requests,
            } => StoredMessageRef::PrePrepare {
                pre_prepare,
                batch: self.add_batch(batch, index, pre_prepare.value.seq, requests)?,
            },
            other => StoredMessageRef::Whole(other),
        };
        self.put(batch, MESSAGES, &layout::message_key(&key), &stored)
    }

    /// Stores `requests` as the batch of `seq` unless it is stored already, and returns the
    /// digest records name it by (see `batches.rs`).
    fn add_batch(
        &self,
        batch: &mut WriteBatch,
        index: &mut Index,
        seq: Seq,
        requests: &Batch,
    ) -> Result<Digest, StoreError> {
        let digest = requests.digest();
        if index.batches.insert((seq, digest)) {
            self.put(batch, BATCHES, &layout::batch_key(seq, &digest), requests)?;
        }
        Ok(digest)
    }

    /// PBFT §4.3 garbage collection at stable checkpoint `seq`: the messages, prepared
    /// certificates and decisions up to `seq`, and every checkpoint state older than the
    /// newest one at or below `seq`.
    fn prune_below(
        &mut self,
        batch: &mut WriteBatch,
        index: &mut Index,
        seq: Seq,
    ) -> Result<(), StoreError> {
        for range in layout::message_ranges_up_to_seq(seq) {
            self.delete_range(batch, MESSAGES, range)?;
        }
        index.messages.retain(|key| !key.is_below_seq(seq));
        self.delete_range(batch, PREPARED, layout::seq_keys_up_to(seq))?;
        self.delete_range(batch, DECIDED, layout::seq_keys_up_to(seq))?;
        self.delete_range(batch, BATCHES, layout::batch_keys_up_to(seq))?;
        index.prepared_views.retain(|prepared, _| *prepared > seq);
        index.batches.retain(|(stored, _)| *stored > seq);

        let Some(kept) = index.checkpoint_kept_at(seq) else {
            return Ok(());
        };
        // A transfer of an older state than one kept is pointless now.
        let abandoned = self.incoming.take_if(|w| w.seq < kept);
        let older: Vec<Seq> = index.checkpoints.range(..kept).copied().collect();
        if older.is_empty() && abandoned.is_none() {
            return Ok(());
        }
        // Chunks are shared between states (they are stored by digest), so a chunk of an
        // older state goes only if no kept state and no incoming one uses it.
        let mut in_use = BTreeSet::new();
        for stored in index.checkpoints.range(kept..) {
            if let Some(summary) = self.summary(*stored)? {
                in_use.extend(summary.manifest.chunk_digests().iter().copied());
            }
        }
        if let Some(incoming) = &self.incoming {
            in_use.extend(incoming.manifest.chunk_digests().iter().copied());
        }
        let mut leaving = BTreeSet::new();
        for stored in &older {
            if let Some(summary) = self.summary(*stored)? {
                leaving.extend(summary.manifest.chunk_digests().iter().copied());
            }
        }
        if let Some(writer) = &abandoned {
            leaving.extend(writer.manifest.chunk_digests().iter().copied());
            batch.delete_cf(META, layout::partial_key(writer.seq));
        }
        let unused: Vec<Digest> = leaving.difference(&in_use).copied().collect();
        let snapshots = SNAPSHOTS;
        for digest in &unused {
            batch.delete_cf(snapshots, layout::chunk_key(digest));
        }
        // Forgotten before the write: should it fail, the store stops anyway, and a chunk
        // believed missing is only written or fetched again.
        self.forget_chunks(&unused);
        // Summaries and reply caches are keyed by sequence number first, so one range
        // removes every older checkpoint state.
        let older = (layout::seq_key(Seq(0)), layout::seq_key(kept));
        self.delete_range(batch, CHECKPOINTS, older)?;
        index.checkpoints.retain(|stored| *stored >= kept);
        Ok(())
    }

    /// Forgets the messages of views below `view`: VIEW-CHANGEs and NEW-VIEWs by range,
    /// agreement messages (keyed by sequence number first) one by one.
    ///
    /// Batches stay until garbage collection passes their sequence number, since a
    /// prepared certificate or a decision may still name them. A replica accepts
    /// PRE-PREPAREs only inside its watermark window, so each view leaves at most a
    /// window's worth behind until then.
    fn prune_views_below(
        &self,
        batch: &mut WriteBatch,
        index: &mut Index,
        view: View,
    ) -> Result<(), StoreError> {
        for range in layout::message_ranges_below_view(view) {
            self.delete_range(batch, MESSAGES, range)?;
        }
        let messages = MESSAGES;
        for key in &index.messages {
            if matches!(key, MessageKey::Agreement { .. }) && key.is_below_view(view) {
                batch.delete_cf(messages, layout::message_key(key));
            }
        }
        index.messages.retain(|key| !key.is_below_view(view));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::super::fixture::{self, REPLICA_COUNT, RandomInputs};
    use super::super::layout::COLUMN_FAMILIES;
    use super::*;
    use crate::core::PersistedState;

    fn apply(model: &mut PersistedState, input: &fixture::Input) {
        for op in &input.ops {
            model.apply(op, REPLICA_COUNT);
        }
        for message in &input.own {
            model.insert_message(message, REPLICA_COUNT);
        }
    }

    #[test]
    fn random_inputs_round_trip_through_a_reopen() {
        for seed in 0..4 {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut store = fixture::open(dir.path(), fixture::unsynced());
            let mut model = PersistedState::default();
            let mut inputs = RandomInputs::new(seed);
            for step in 0..150 {
                let input = inputs.input();
                apply(&mut model, &input);
                store.commit(&input.ops, &input.own).expect("commits");
                if step % 25 == 0 {
                    assert_eq!(
                        store.load().expect("loads"),
                        model,
                        "seed {seed} step {step}"
                    );
                }
            }
            assert!(!model.messages.is_empty() && !model.evidence.is_empty());
            assert!(!model.prepared.is_empty() && model.stable.seq > Seq(0));
            let index = store.index.clone();
            drop(store);
            let store = fixture::open(dir.path(), fixture::unsynced());
            assert_eq!(
                store.load().expect("loads"),
                model,
                "seed {seed} after reopen"
            );
            assert_eq!(
                store.index, index,
                "seed {seed}: the index is rebuilt exactly"
            );
        }
    }

    /// The bytes of every value in every column family.
    fn stored_bytes(store: &Store) -> usize {
        COLUMN_FAMILIES
            .iter()
            .map(|name| {
                store
                    .raw_entries(name)
                    .iter()
                    .map(|(_, value)| value.len())
                    .sum::<usize>()
            })
            .sum()
    }

    #[test]
    fn a_slot_stores_its_batch_once() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), fixture::unsynced());
        let empty = stored_bytes(&store);
        let batch = fixture::batch(64, 64);
        let batch_bytes = crate::message::encode(&*batch).len();
        // The slot's three records arrive in separate inputs, as they do in the normal
        // case, and the decision's batch is another copy of the same requests.
        let copy = std::sync::Arc::new(Batch::new(batch.requests.clone()));
        let inputs = [
            PersistOp::Message(fixture::pre_prepare(View(0), Seq(1), batch.clone())),
            PersistOp::Prepared {
                certificate: fixture::prepared_certificate(View(0), Seq(1), &batch),
                batch: batch.clone(),
            },
            PersistOp::Decided(fixture::commit_certificate(View(0), Seq(1), &copy)),
        ];
        let logged_before = store.disk_usage_bytes().expect("measures");
        for op in inputs {
            store.commit(&[op], &[]).expect("commits");
        }
        assert_eq!(fixture::count(&store, BATCHES), 1);
        let slot_bytes = stored_bytes(&store) - empty;
        assert!(
            slot_bytes < batch_bytes + batch_bytes / 4,
            "a slot with a {batch_bytes}-byte batch took {slot_bytes} bytes"
        );
        // Nothing is flushed yet, so the write-ahead log holds every write: the batch went
        // out once, not once per record that names it.
        let logged = store.disk_usage_bytes().expect("measures") - logged_before;
        assert!(
            (logged as usize) < batch_bytes + batch_bytes / 2,
            "a slot with a {batch_bytes}-byte batch logged {logged} bytes"
        );
    }

    #[test]
    fn a_record_whose_header_and_batch_disagree_loads_as_committed() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let (named, carried) = (fixture::batch(2, 8), fixture::batch(3, 8));
        assert_ne!(named.digest(), carried.digest());
        let mut decided = fixture::commit_certificate(View(0), Seq(2), &named);
        decided.batch = carried.clone();
        let ops = vec![
            PersistOp::Message(Message::PrePrepare {
                pre_prepare: fixture::prepared_certificate(View(0), Seq(1), &named).pre_prepare,
                batch: carried.clone(),
            }),
            PersistOp::Prepared {
                certificate: fixture::prepared_certificate(View(0), Seq(1), &named),
                batch: carried.clone(),
            },
            PersistOp::Decided(decided),
        ];
        let mut model = PersistedState::default();
        for op in &ops {
            model.apply(op, REPLICA_COUNT);
        }
        store.commit(&ops, &[]).expect("commits");
        assert_eq!(store.load().expect("loads"), model);
        assert_eq!(
            fixture::count(&store, BATCHES),
            2,
            "one per sequence number"
        );
    }

    #[test]
    fn conditional_operations_follow_the_model() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let mut model = PersistedState::default();
        let batch = fixture::batch(2, 8);
        let prepared = |view| PersistOp::Prepared {
            certificate: fixture::prepared_certificate(View(view), Seq(5), &batch),
            batch: batch.clone(),
        };
        let steps: Vec<(&str, Vec<PersistOp>, Vec<Message>)> = vec![
            (
                "first message for a key",
                vec![],
                vec![fixture::prepare(View(0), Seq(5), fixture::digest(1), 0)],
            ),
            (
                "same key, other digest: the first stays",
                vec![PersistOp::Message(fixture::prepare(
                    View(0),
                    Seq(5),
                    fixture::digest(2),
                    0,
                ))],
                vec![],
            ),
            (
                "STATUS is not kept",
                vec![PersistOp::Message(fixture::status(1))],
                vec![fixture::status(0)],
            ),
            ("prepared in view 2", vec![prepared(2)], vec![]),
            (
                "prepared in view 1 does not replace view 2",
                vec![prepared(1)],
                vec![],
            ),
            (
                "prepared in view 2 again replaces",
                vec![prepared(2)],
                vec![],
            ),
            (
                "stable checkpoint 20",
                vec![PersistOp::StableCheckpoint(fixture::stable_certificate(
                    Seq(20),
                ))],
                vec![],
            ),
            (
                "stable checkpoint 10 does not go back",
                vec![PersistOp::StableCheckpoint(fixture::stable_certificate(
                    Seq(10),
                ))],
                vec![],
            ),
            (
                "evidence capped per culprit, duplicates dropped",
                (0..7)
                    .map(|variant| PersistOp::Evidence(fixture::evidence(3, variant % 6)))
                    .collect(),
                vec![],
            ),
            (
                "other culprit",
                vec![PersistOp::Evidence(fixture::evidence(1, 0))],
                vec![],
            ),
            (
                "decided twice: the last wins",
                vec![
                    PersistOp::Decided(fixture::commit_certificate(
                        View(0),
                        Seq(6),
                        &fixture::batch(1, 8),
                    )),
                    PersistOp::Decided(fixture::commit_certificate(
                        View(1),
                        Seq(6),
                        &fixture::batch(1, 8),
                    )),
                ],
                vec![],
            ),
            (
                "view state",
                vec![PersistOp::ViewState {
                    view: View(3),
                    normal: false,
                }],
                vec![],
            ),
        ];
        for (what, ops, own) in steps {
            let input = fixture::Input { ops, own };
            apply(&mut model, &input);
            store.commit(&input.ops, &input.own).expect("commits");
            assert_eq!(store.load().expect("loads"), model, "{what}");
        }
        assert_eq!(model.evidence.len(), 5);
        assert_eq!(model.messages.len(), 1);
    }

    #[test]
    fn pruning_deletes_from_disk_and_keeps_space_bounded() {
        const CHECKPOINT_INTERVAL: u64 = 10;
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), fixture::unsynced());
        let mut model = PersistedState::default();
        let mut records_max = 0;
        let mut usage_at = Vec::new();
        for seq in (1..=1500).map(Seq) {
            // View changes every 100 sequence numbers, so both kinds of pruning run.
            let view = View(seq.0 / 100);
            let batch = fixture::batch(4, 256);
            let digest = batch.digest();
            let mut ops = vec![PersistOp::Message(fixture::pre_prepare(
                view,
                seq,
                batch.clone(),
            ))];
            for replica in 0..4 {
                ops.push(PersistOp::Message(fixture::prepare(
                    view, seq, digest, replica,
                )));
                ops.push(PersistOp::Message(fixture::commit(
                    view, seq, digest, replica,
                )));
            }
            ops.push(PersistOp::Prepared {
                certificate: fixture::prepared_certificate(view, seq, &batch),
                batch: batch.clone(),
            });
            ops.push(PersistOp::Decided(fixture::commit_certificate(
                view, seq, &batch,
            )));
            if seq.0 % 100 == 0 {
                ops.push(PersistOp::Message(fixture::view_change(
                    view.next(),
                    1,
                    Vec::new(),
                )));
                ops.push(PersistOp::Message(fixture::new_view(view.next(), seq)));
                ops.push(PersistOp::ViewState {
                    view: view.next(),
                    normal: true,
                });
                ops.push(PersistOp::PruneViewsBelow { view });
            }
            if seq.0 % CHECKPOINT_INTERVAL == 0 {
                let snapshot = vec![seq.0 as u8; 64 << 10];
                let manifest = crate::transfer::Manifest::of(&snapshot, 1 << 20);
                let table = crate::core::ClientTable::default();
                let state_digest = crate::core::checkpoint_digest(seq, manifest.root(), &table);
                store
                    .put_checkpoint(seq, state_digest, &table, &manifest, &snapshot)
                    .expect("stores checkpoint");
                for replica in 0..4 {
                    ops.push(PersistOp::Message(fixture::checkpoint(
                        seq,
                        state_digest,
                        replica,
                    )));
                }
                let mut certificate = fixture::stable_certificate(seq);
                certificate.state_digest = state_digest;
                ops.push(PersistOp::StableCheckpoint(certificate));
                ops.push(PersistOp::PruneBelow { seq });
            }
            for op in &ops {
                model.apply(op, REPLICA_COUNT);
            }
            store.commit(&ops, &[]).expect("commits");
            records_max = records_max.max(fixture::record_count(&store));
            if seq.0 % 500 == 0 {
                store.compact().expect("compacts");
                usage_at.push(store.disk_usage_bytes().expect("measures"));
            }
        }
        assert_eq!(store.load().expect("loads"), model);
        // At most one checkpoint interval of slots (12 records each: 9 messages, the
        // prepared certificate, the decision and the batch they share), a few view-change
        // records, and two checkpoint states (the kept one and the newest, 2 records and a
        // chunk each) are ever on disk, however long the run.
        assert!(
            records_max <= 12 * 10 + 8 + 3 * 2,
            "{records_max} records at most"
        );
        for cf in COLUMN_FAMILIES {
            assert!(
                fixture::count(&store, cf) <= 120,
                "{cf} holds what was pruned"
            );
        }
        // After compaction the space used does not grow with the length of the run.
        let (first, last) = (usage_at[0], usage_at[usage_at.len() - 1]);
        assert!(
            last <= first + first / 2,
            "disk usage grew from {first} to {last} bytes"
        );
    }
}
