//! Checkpoint states (PBFT §4.3): the application snapshot and the reply cache at a
//! checkpoint, kept so the replica can restore from them after a crash and serve them to
//! peers by state transfer.
//!
//! A snapshot is stored in chunks of [`SNAPSHOT_CHUNK_BYTES`], each its own value with its
//! own checksum, so that no value is large, a peer can be served one chunk at a time, and
//! writing one needs memory for one chunk. A checkpoint state becomes visible only when
//! its summary is written, in the same write that completes it; until then its chunks are
//! invisible, and a crash leaves a marker from which the next open removes them.
//!
//! Every stored state satisfies `state_digest == checkpoint_digest(seq, SHA-256(snapshot),
//! client_table)`: the store checks this before making a state visible. The application
//! digest of a snapshot is therefore the SHA-256 of its bytes ([`Digest::of`]); a
//! receiver of a transferred snapshot has nothing but the bytes to check against the
//! digest a quorum signed, so no other definition could be verified.

use std::collections::BTreeSet;

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use rampart_crypto::Digest;

use crate::core::ClientTable;
use crate::message::Seq;

use super::layout::{self, CHECKPOINTS, META, PARTIAL_PREFIX, SNAPSHOTS};
use super::{Store, StoreError, Visit, record};

/// The size of a snapshot chunk: large enough that per-chunk overhead (a key, a checksum,
/// a network round trip during transfer) is negligible, small enough to stay far below
/// RocksDB's write buffer and a transfer message's size limit.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// What is stored about a checkpoint state besides its snapshot's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointMeta {
    pub seq: Seq,
    /// The digest CHECKPOINT messages sign for this state.
    pub state_digest: Digest,
    /// SHA-256 of the whole snapshot: the application digest.
    pub snapshot_digest: Digest,
    pub snapshot_len: u64,
    /// The chunk size the snapshot was stored with; every chunk but the last is this long.
    pub chunk_bytes: u32,
    pub chunk_count: u32,
    /// The reply cache (PBFT §4.1) at the checkpoint.
    pub client_table: ClientTable,
}

/// The part of [`CheckpointMeta`] stored under [`layout::summary_key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SnapshotSummary {
    pub seq: Seq,
    pub state_digest: Digest,
    pub snapshot_digest: Digest,
    pub snapshot_len: u64,
    pub chunk_bytes: u32,
    pub chunk_count: u32,
}

impl SnapshotSummary {
    /// The length chunk `index` must have.
    fn chunk_len(&self, index: u32) -> u64 {
        let before = u64::from(index) * u64::from(self.chunk_bytes);
        self.snapshot_len
            .saturating_sub(before)
            .min(u64::from(self.chunk_bytes))
    }

    pub(super) fn with_client_table(self, client_table: ClientTable) -> CheckpointMeta {
        CheckpointMeta {
            seq: self.seq,
            state_digest: self.state_digest,
            snapshot_digest: self.snapshot_digest,
            snapshot_len: self.snapshot_len,
            chunk_bytes: self.chunk_bytes,
            chunk_count: self.chunk_count,
            client_table,
        }
    }
}

impl Store {
    /// Stores this replica's own checkpoint state at `seq` (`Action::StoreCheckpoint`, with
    /// the snapshot just taken). Storing the same state again is a no-op; a different state
    /// for the same sequence number is refused ([`StoreError::ConflictingCheckpoint`]), and
    /// so is one whose parts do not hash to `state_digest`.
    pub fn put_checkpoint(
        &mut self,
        seq: Seq,
        state_digest: Digest,
        client_table: &ClientTable,
        snapshot: &[u8],
    ) -> Result<CheckpointMeta, StoreError> {
        if let Some(existing) = self.checkpoint_meta(seq)? {
            if existing.state_digest == state_digest {
                return Ok(existing);
            }
            return Err(StoreError::ConflictingCheckpoint {
                seq,
                stored: existing.state_digest,
                offered: state_digest,
            });
        }
        if self.incoming.as_ref().is_some_and(|w| w.seq() == seq) {
            return Err(StoreError::SnapshotInProgress { seq });
        }
        let mut writer = super::incoming::SnapshotWriter::begin(self, seq, snapshot.len() as u64)?;
        if let Err(error) = writer.write(self, snapshot) {
            // The write error is what the caller must see; if removing the partial chunks
            // fails too, the next open removes them.
            let _ = writer.abort(self);
            return Err(error);
        }
        writer.finish(self, state_digest, client_table)
    }

    /// The checkpoint state stored at `seq`, without its snapshot.
    pub fn checkpoint_meta(&self, seq: Seq) -> Result<Option<CheckpointMeta>, StoreError> {
        let Some(summary) = self.summary(seq)? else {
            return Ok(None);
        };
        let key = layout::client_table_key(seq);
        let client_table =
            self.get::<ClientTable>(CHECKPOINTS, &key)?
                .ok_or_else(|| StoreError::Corrupted {
                    cf: CHECKPOINTS,
                    key: hex::encode(key),
                    reason: "reply cache of a stored checkpoint state is missing".to_owned(),
                })?;
        Ok(Some(summary.with_client_table(client_table)))
    }

    /// The newest checkpoint state stored: the one to restore the application from.
    pub fn latest_checkpoint(&self) -> Result<Option<CheckpointMeta>, StoreError> {
        let mut last = self
            .db
            .iterator_cf(self.cf(CHECKPOINTS)?, IteratorMode::End);
        let Some(entry) = last.next() else {
            return Ok(None);
        };
        let (key, _) = entry.map_err(StoreError::io("reading checkpoint states"))?;
        let seq = layout::decode_seq_key(CHECKPOINTS, key.get(..8).unwrap_or(&key))?;
        self.checkpoint_meta(seq)
    }

    /// The whole snapshot of the checkpoint state at `seq`, checked against its digest.
    /// Use [`Store::read_snapshot_chunk`] to stream a large one.
    pub fn read_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(summary) = self.summary(seq)? else {
            return Ok(None);
        };
        let capacity = usize::try_from(summary.snapshot_len).unwrap_or(0);
        let mut snapshot = Vec::with_capacity(capacity);
        for index in 0..summary.chunk_count {
            snapshot.extend_from_slice(&self.chunk(&summary, index)?);
        }
        if Digest::of(&snapshot) != summary.snapshot_digest {
            return Err(StoreError::Corrupted {
                cf: SNAPSHOTS,
                key: hex::encode(layout::seq_key(seq)),
                reason: "the chunks do not add up to the stored snapshot".to_owned(),
            });
        }
        Ok(Some(snapshot))
    }

    /// Chunk `index` of the snapshot at `seq`; `None` if there is no such checkpoint state
    /// or chunk. The chunk's checksum and length are checked; the whole snapshot's digest
    /// is for the receiver to check once it has every chunk.
    pub fn read_snapshot_chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        match self.summary(seq)? {
            Some(summary) if index < summary.chunk_count => self.chunk(&summary, index).map(Some),
            _ => Ok(None),
        }
    }

    pub(super) fn summary(&self, seq: Seq) -> Result<Option<SnapshotSummary>, StoreError> {
        let key = layout::summary_key(seq);
        let summary = self.get::<SnapshotSummary>(CHECKPOINTS, &key)?;
        if summary.as_ref().is_some_and(|s| s.seq != seq) {
            return Err(StoreError::Corrupted {
                cf: CHECKPOINTS,
                key: hex::encode(key),
                reason: "summary of another sequence number".to_owned(),
            });
        }
        Ok(summary)
    }

    fn chunk(&self, summary: &SnapshotSummary, index: u32) -> Result<Vec<u8>, StoreError> {
        let key = layout::chunk_key(summary.seq, index);
        let corrupted = |reason: &str| StoreError::Corrupted {
            cf: SNAPSHOTS,
            key: hex::encode(key),
            reason: reason.to_owned(),
        };
        let value = self
            .db
            .get_pinned_cf(self.cf(SNAPSHOTS)?, key)
            .map_err(StoreError::io("reading a snapshot chunk"))?
            .ok_or_else(|| corrupted("chunk of a stored snapshot is missing"))?;
        let payload = record::open_bytes(SNAPSHOTS, &key, &value)?;
        if payload.len() as u64 != summary.chunk_len(index) {
            return Err(corrupted("chunk has the wrong length"));
        }
        Ok(payload.to_vec())
    }

    /// The sequence numbers of the stored checkpoint states.
    pub(super) fn checkpoint_seqs(&self) -> Result<BTreeSet<Seq>, StoreError> {
        let mut seqs = BTreeSet::new();
        self.for_each(CHECKPOINTS, &[], |key, _| {
            if key.len() == 9 && key[8] == 0 {
                seqs.insert(layout::decode_seq_key(CHECKPOINTS, &key[..8])?);
            }
            Ok(Visit::Continue)
        })?;
        Ok(seqs)
    }

    /// Removes the chunks of snapshots whose writing a crash interrupted.
    pub(super) fn discard_partial_snapshots(&mut self) -> Result<(), StoreError> {
        let mut partial = Vec::new();
        self.for_each(META, PARTIAL_PREFIX, |key, _| {
            let Some(seq_bytes) = key.strip_prefix(PARTIAL_PREFIX) else {
                return Ok(Visit::Stop);
            };
            partial.push((key.to_vec(), layout::decode_seq_key(META, seq_bytes)?));
            Ok(Visit::Continue)
        })?;
        if partial.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (marker, seq) in partial {
            batch.delete_cf(self.cf(META)?, marker);
            if self.summary(seq)?.is_none() {
                let (from, to) = layout::chunk_range_of(seq);
                batch.delete_range_cf(self.cf(SNAPSHOTS)?, from, to);
            }
        }
        self.write(batch, "removing partly written snapshots")
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::super::fixture::{self, client_table, snapshot_bytes};
    use super::*;
    use crate::core::{PersistOp, checkpoint_digest};

    fn state_digest(seq: Seq, snapshot: &[u8]) -> Digest {
        checkpoint_digest(seq, Digest::of(snapshot), &client_table(seq))
    }

    fn put(store: &mut Store, seq: Seq, snapshot: &[u8]) -> CheckpointMeta {
        let digest = state_digest(seq, snapshot);
        store
            .put_checkpoint(seq, digest, &client_table(seq), snapshot)
            .expect("stores")
    }

    #[test]
    fn a_multi_megabyte_snapshot_is_stored_in_chunks_and_read_back() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), fixture::unsynced());
        let snapshot = snapshot_bytes(5 * SNAPSHOT_CHUNK_BYTES + 12_345, 1);
        let meta = put(&mut store, Seq(10), &snapshot);
        assert_eq!(meta.chunk_count, 6);
        assert_eq!(meta.snapshot_len, snapshot.len() as u64);
        assert_eq!(meta.snapshot_digest, Digest::of(&snapshot));
        assert_eq!(fixture::count(&store, SNAPSHOTS), 6);

        let mut streamed = Vec::new();
        for index in 0..meta.chunk_count {
            let chunk = store.read_snapshot_chunk(Seq(10), index).expect("reads");
            streamed.extend(chunk.expect("chunk exists"));
        }
        assert_eq!(streamed, snapshot);
        assert_eq!(store.read_snapshot_chunk(Seq(10), 6).expect("reads"), None);
        assert_eq!(store.read_snapshot_chunk(Seq(11), 0).expect("reads"), None);

        drop(store);
        let store = fixture::open(dir.path(), fixture::unsynced());
        assert_eq!(
            store.latest_checkpoint().expect("reads"),
            Some(meta.clone())
        );
        assert_eq!(store.checkpoint_meta(Seq(10)).expect("reads"), Some(meta));
        assert_eq!(store.read_snapshot(Seq(10)).expect("reads"), Some(snapshot));
    }

    #[test]
    fn only_a_consistent_and_unique_state_is_stored_per_sequence_number() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let snapshot = snapshot_bytes(1000, 2);
        let wrong =
            store.put_checkpoint(Seq(5), fixture::digest(1), &client_table(Seq(5)), &snapshot);
        assert!(matches!(wrong, Err(StoreError::StateDigestMismatch { .. })));
        assert_eq!(store.latest_checkpoint().expect("reads"), None);
        assert_eq!(
            fixture::count(&store, SNAPSHOTS),
            0,
            "no chunk is left behind"
        );

        let meta = put(&mut store, Seq(5), &snapshot);
        assert_eq!(
            put(&mut store, Seq(5), &snapshot),
            meta,
            "storing again is a no-op"
        );
        let other = snapshot_bytes(1000, 3);
        let conflicting = store.put_checkpoint(
            Seq(5),
            state_digest(Seq(5), &other),
            &client_table(Seq(5)),
            &other,
        );
        assert!(matches!(
            conflicting,
            Err(StoreError::ConflictingCheckpoint { .. })
        ));
        assert_eq!(store.read_snapshot(Seq(5)).expect("reads"), Some(snapshot));
    }

    #[test]
    fn a_damaged_chunk_is_corrupted() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let snapshot = snapshot_bytes(SNAPSHOT_CHUNK_BYTES + 10, 4);
        put(&mut store, Seq(5), &snapshot);
        let key = layout::chunk_key(Seq(5), 1);
        let snapshots = store.cf(SNAPSHOTS).expect("column family");
        let mut value = store
            .db
            .get_cf(snapshots, key)
            .expect("reads")
            .expect("chunk");
        value[9] ^= 0x80;
        store.db.put_cf(snapshots, key, value).expect("writes");
        assert!(
            store
                .read_snapshot_chunk(Seq(5), 0)
                .expect("intact")
                .is_some()
        );
        assert!(matches!(
            store.read_snapshot_chunk(Seq(5), 1),
            Err(StoreError::Corrupted { cf: SNAPSHOTS, .. })
        ));
        assert!(matches!(
            store.read_snapshot(Seq(5)),
            Err(StoreError::Corrupted { .. })
        ));
    }

    #[test]
    fn pruning_keeps_the_newest_checkpoint_state_at_or_below_the_stable_one() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        for seq in [10, 20, 30, 40].map(Seq) {
            put(
                &mut store,
                seq,
                &snapshot_bytes(SNAPSHOT_CHUNK_BYTES + 1, seq.0),
            );
        }
        let prune = |store: &mut Store, seq| {
            store
                .commit(&[PersistOp::PruneBelow { seq: Seq(seq) }], &[])
                .expect("commits");
            store.checkpoint_seqs().expect("lists")
        };
        let seqs = |list: &[u64]| list.iter().copied().map(Seq).collect::<BTreeSet<_>>();
        assert_eq!(
            prune(&mut store, 5),
            seqs(&[10, 20, 30, 40]),
            "nothing at or below 5"
        );
        assert_eq!(prune(&mut store, 35), seqs(&[30, 40]));
        assert_eq!(fixture::count(&store, SNAPSHOTS), 4);
        assert_eq!(fixture::count(&store, CHECKPOINTS), 4);
        assert_eq!(prune(&mut store, 40), seqs(&[40]));
        assert_eq!(
            prune(&mut store, 1000),
            seqs(&[40]),
            "the last state is never pruned"
        );
        assert_eq!(fixture::count(&store, SNAPSHOTS), 2);
        drop(store);
        let store = fixture::open(dir.path(), StoreOptions::default());
        let latest = store.latest_checkpoint().expect("reads").expect("kept");
        assert_eq!(latest.seq, Seq(40));
        assert_eq!(latest.client_table, client_table(Seq(40)));
        assert!(store.read_snapshot(Seq(30)).expect("reads").is_none());
    }
}
