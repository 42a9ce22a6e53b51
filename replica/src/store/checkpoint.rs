//! Checkpoint states (PBFT §4.3): the application snapshot and the reply cache at a
//! checkpoint, kept so the replica can restore from them after a crash and serve them to
//! peers by state transfer.
//!
//! A snapshot is stored in chunks, as its [`Manifest`] cuts it, each chunk its own value
//! under its digest ([`chunk_digest`]): content-addressed. A chunk that several stored
//! states share (consecutive checkpoints of a large state differ in few chunks) is
//! stored once, so taking a checkpoint writes only the chunks that changed, and a state
//! arriving by transfer needs only the chunks the store does not hold. No value is large,
//! a peer is served one chunk at a time, and writing one needs memory for one chunk.
//!
//! A checkpoint state becomes visible only when its summary (the state digest and the
//! manifest) is written, in the same write that completes it. Until then the manifest
//! of the snapshot being written is kept under a marker; a crash leaves the marker, and
//! the next open removes the chunks it lists that no stored state uses. Garbage
//! collection removes a state's chunks unless a kept state (or the incoming one) uses them.
//!
//! Every stored state satisfies `state_digest == checkpoint_digest(seq, manifest.root(),
//! client_table)`: the store checks this before making a state visible. The application
//! digest of a snapshot is therefore its manifest's root, the digest the receiver of a
//! transfer checks each chunk against before it holds the whole.

use std::collections::BTreeSet;

use super::disk::WriteBatch;
use serde::{Deserialize, Serialize};

use rampart_crypto::Digest;

use crate::core::ClientTable;
use crate::message::Seq;
use crate::transfer::{Manifest, chunk_digest};

use super::layout::{self, CHECKPOINTS, META, PARTIAL_PREFIX, SNAPSHOTS};
use super::{Store, StoreError, Visit, record};

/// What is stored about a checkpoint state besides its snapshot's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointMeta {
    pub seq: Seq,
    /// The digest CHECKPOINT messages sign for this state.
    pub state_digest: Digest,
    /// The snapshot's chunks; its root is the application digest.
    pub manifest: Manifest,
    /// The reply cache (PBFT §4.1) at the checkpoint.
    pub client_table: ClientTable,
}

/// The part of [`CheckpointMeta`] stored under [`layout::summary_key`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SnapshotSummary {
    pub seq: Seq,
    pub state_digest: Digest,
    pub manifest: Manifest,
}

impl SnapshotSummary {
    pub(super) fn with_client_table(self, client_table: ClientTable) -> CheckpointMeta {
        CheckpointMeta {
            seq: self.seq,
            state_digest: self.state_digest,
            manifest: self.manifest,
            client_table,
        }
    }
}

impl Store {
    /// Stores this replica's own checkpoint state at `seq` (`Action::StoreCheckpoint`, with
    /// the snapshot just taken and its manifest). Chunks the store holds already are not
    /// written again. Storing the same state again is a no-op; a different state for the
    /// same sequence number is refused ([`StoreError::ConflictingCheckpoint`]), and so is
    /// one whose parts do not hash to `state_digest`.
    pub fn put_checkpoint(
        &mut self,
        seq: Seq,
        state_digest: Digest,
        client_table: &ClientTable,
        manifest: &Manifest,
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
        if self.incoming.as_ref().is_some_and(|w| w.seq == seq) {
            return Err(StoreError::SnapshotInProgress { seq });
        }
        if manifest.snapshot_len() != snapshot.len() as u64 {
            return Err(StoreError::SnapshotLengthMismatch {
                seq,
                expected_len: manifest.snapshot_len(),
                received_len: snapshot.len() as u64,
            });
        }
        self.check_state_digest(seq, manifest, client_table, state_digest)?;
        self.mark_partial(seq, manifest, WriteBatch::default())?;
        for (index, digest) in manifest.chunk_digests().iter().enumerate() {
            if self.chunks.contains(digest) {
                continue;
            }
            let Some(chunk) = manifest.chunk_of(snapshot, index as u32) else {
                unreachable!("a manifest lists only chunks of its snapshot");
            };
            debug_assert_eq!(
                chunk_digest(chunk),
                *digest,
                "a manifest of another snapshot"
            );
            if let Err(error) = self.put_chunk(*digest, chunk) {
                // The write error is what the caller must see; if removing the partial
                // chunks fails too, the next open removes them.
                let _ = self.discard_unused_chunks(seq, manifest, false, WriteBatch::default());
                return Err(error);
            }
        }
        self.complete_state(seq, state_digest, manifest, client_table)
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
        let Some(key) = self
            .disk
            .last_key(CHECKPOINTS)
            .map_err(StoreError::io("reading checkpoint states"))?
        else {
            return Ok(None);
        };
        let seq = layout::decode_seq_key(CHECKPOINTS, key.get(..8).unwrap_or(&key))?;
        self.checkpoint_meta(seq)
    }

    /// The whole snapshot of the checkpoint state at `seq`, each chunk checked against its
    /// digest. Use [`Store::read_snapshot_chunk`] to stream a large one.
    pub fn read_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(summary) = self.summary(seq)? else {
            return Ok(None);
        };
        let manifest = &summary.manifest;
        let capacity = usize::try_from(manifest.snapshot_len()).unwrap_or(0);
        let mut snapshot = Vec::with_capacity(capacity);
        for index in 0..manifest.chunk_count() {
            let chunk = self.chunk(manifest, index)?;
            if chunk_digest(&chunk) != manifest.chunk_digests()[index as usize] {
                return Err(StoreError::Corrupted {
                    cf: SNAPSHOTS,
                    key: manifest.chunk_digests()[index as usize].to_string(),
                    reason: "the chunk does not match its digest".to_owned(),
                });
            }
            snapshot.extend_from_slice(&chunk);
        }
        Ok(Some(snapshot))
    }

    /// Chunk `index` of the snapshot at `seq`; `None` if there is no such checkpoint state
    /// or chunk. The chunk's checksum and length are checked; the receiver checks its
    /// digest against the manifest.
    pub fn read_snapshot_chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        match self.summary(seq)? {
            Some(summary) if index < summary.manifest.chunk_count() => {
                self.chunk(&summary.manifest, index).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Whether the store holds a chunk with this digest, for a state of any sequence number:
    /// a transfer need not fetch it.
    pub fn has_chunk(&self, digest: &Digest) -> bool {
        self.chunks.contains(digest)
    }

    /// Removes the checkpoint state at `seq`, if any: this replica's own state that turned
    /// out to differ from the stable checkpoint a quorum signed, which a transfer replaces.
    pub fn remove_checkpoint(&mut self, seq: Seq) -> Result<(), StoreError> {
        let Some(summary) = self.summary(seq)? else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        let checkpoints = CHECKPOINTS;
        batch.delete_cf(checkpoints, layout::summary_key(seq));
        batch.delete_cf(checkpoints, layout::client_table_key(seq));
        self.discard_unused_chunks(seq, &summary.manifest, true, batch)?;
        if let Some(index) = self.index.as_mut() {
            index.checkpoints.remove(&seq);
        }
        Ok(())
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

    fn chunk(&self, manifest: &Manifest, index: u32) -> Result<Vec<u8>, StoreError> {
        let digest = manifest.chunk_digests()[index as usize];
        let key = layout::chunk_key(&digest);
        let corrupted = |reason: &str| StoreError::Corrupted {
            cf: SNAPSHOTS,
            key: hex::encode(key),
            reason: reason.to_owned(),
        };
        let value = self
            .disk
            .get(SNAPSHOTS, &key)
            .map_err(StoreError::io("reading a snapshot chunk"))?
            .ok_or_else(|| corrupted("chunk of a stored snapshot is missing"))?;
        let payload = record::open_bytes(SNAPSHOTS, &key, &value)?;
        let range = manifest.chunk_range(index);
        if payload.len() as u64 != range.end - range.start {
            return Err(corrupted("chunk has the wrong length"));
        }
        Ok(payload.to_vec())
    }

    /// Stores one chunk under its digest, unless the store holds it already. Each chunk is
    /// its own write, so memory stays at one chunk.
    pub(super) fn put_chunk(&mut self, digest: Digest, bytes: &[u8]) -> Result<(), StoreError> {
        if self.chunks.contains(&digest) {
            return Ok(());
        }
        let key = layout::chunk_key(&digest);
        let mut batch = WriteBatch::default();
        batch.put_cf(SNAPSHOTS, key, record::seal_bytes(SNAPSHOTS, &key, bytes));
        self.write(batch, "writing a snapshot chunk")?;
        self.chunks.insert(digest);
        Ok(())
    }

    pub(super) fn check_state_digest(
        &self,
        seq: Seq,
        manifest: &Manifest,
        client_table: &ClientTable,
        state_digest: Digest,
    ) -> Result<(), StoreError> {
        if manifest.matches(seq, client_table, state_digest) {
            return Ok(());
        }
        Err(StoreError::StateDigestMismatch {
            seq,
            expected: state_digest,
            computed: crate::core::checkpoint_digest(seq, manifest.root(), client_table),
        })
    }

    /// Writes the marker of a snapshot about to be written (its manifest), with `batch`.
    pub(super) fn mark_partial(
        &mut self,
        seq: Seq,
        manifest: &Manifest,
        mut batch: WriteBatch,
    ) -> Result<(), StoreError> {
        let marker = layout::partial_key(seq);
        batch.put_cf(META, &marker, record::seal(META, &marker, manifest));
        self.write(batch, "starting to write a snapshot")
    }

    /// Makes a state whose chunks are all stored visible: the summary, the reply cache and
    /// the removal of the marker go in one write, so the state appears complete or not at
    /// all.
    pub(super) fn complete_state(
        &mut self,
        seq: Seq,
        state_digest: Digest,
        manifest: &Manifest,
        client_table: &ClientTable,
    ) -> Result<CheckpointMeta, StoreError> {
        let summary = SnapshotSummary {
            seq,
            state_digest,
            manifest: manifest.clone(),
        };
        let mut batch = WriteBatch::default();
        let checkpoints = CHECKPOINTS;
        let summary_key = layout::summary_key(seq);
        batch.put_cf(
            checkpoints,
            summary_key,
            record::seal(CHECKPOINTS, &summary_key, &summary),
        );
        let table_key = layout::client_table_key(seq);
        batch.put_cf(
            checkpoints,
            table_key,
            record::seal(CHECKPOINTS, &table_key, client_table),
        );
        batch.delete_cf(META, layout::partial_key(seq));
        self.write(batch, "completing a checkpoint state")?;
        if let Some(index) = self.index.as_mut() {
            index.checkpoints.insert(seq);
        }
        Ok(summary.with_client_table(client_table.clone()))
    }

    /// The chunk digests the stored states but the one at `except` use, and the incoming
    /// one.
    fn chunks_in_use(&self, except: Option<Seq>) -> Result<BTreeSet<Digest>, StoreError> {
        let mut used = BTreeSet::new();
        for seq in self.checkpoint_seqs()? {
            if Some(seq) == except {
                continue;
            }
            if let Some(summary) = self.summary(seq)? {
                used.extend(summary.manifest.chunk_digests().iter().copied());
            }
        }
        if let Some(incoming) = &self.incoming {
            used.extend(incoming.manifest.chunk_digests().iter().copied());
        }
        Ok(used)
    }

    /// Deletes, with `batch`, the marker of the snapshot at `seq` and those of its chunks
    /// (listed by `manifest`) that no other stored state and not the incoming one uses.
    /// The snapshot is not the incoming one (any more); `removed` says whether it is the
    /// stored state at `seq`, which is going.
    pub(super) fn discard_unused_chunks(
        &mut self,
        seq: Seq,
        manifest: &Manifest,
        removed: bool,
        mut batch: WriteBatch,
    ) -> Result<(), StoreError> {
        let unused = self.delete_unused_chunks(manifest, removed.then_some(seq), &mut batch)?;
        batch.delete_cf(META, layout::partial_key(seq));
        self.write(batch, "removing the chunks of a snapshot")?;
        self.forget_chunks(&unused);
        Ok(())
    }

    /// Adds to `batch` the deletion of the chunks `manifest` lists that no stored state
    /// (but the one at `except`) and not the incoming one uses, and returns them: the
    /// caller forgets them ([`Store::forget_chunks`]) once the batch is written.
    pub(super) fn delete_unused_chunks(
        &self,
        manifest: &Manifest,
        except: Option<Seq>,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Digest>, StoreError> {
        let used = self.chunks_in_use(except)?;
        let unused: BTreeSet<Digest> = manifest
            .chunk_digests()
            .iter()
            .filter(|digest| !used.contains(digest))
            .copied()
            .collect();
        let snapshots = SNAPSHOTS;
        for digest in &unused {
            batch.delete_cf(snapshots, layout::chunk_key(digest));
        }
        Ok(unused.into_iter().collect())
    }

    pub(super) fn forget_chunks(&mut self, digests: &[Digest]) {
        for digest in digests {
            self.chunks.remove(digest);
        }
    }

    /// The sequence numbers of the stored checkpoint states.
    pub fn checkpoint_seqs(&self) -> Result<BTreeSet<Seq>, StoreError> {
        let mut seqs = BTreeSet::new();
        self.for_each(CHECKPOINTS, &[], |key, _| {
            if key.len() == 9 && key[8] == 0 {
                seqs.insert(layout::decode_seq_key(CHECKPOINTS, &key[..8])?);
            }
            Ok(Visit::Continue)
        })?;
        Ok(seqs)
    }

    /// The digests of the chunks the stored states use: the chunks on disk once partly
    /// written snapshots are discarded.
    pub(super) fn stored_chunks(&self) -> Result<BTreeSet<Digest>, StoreError> {
        self.chunks_in_use(None)
    }

    /// Removes the chunks of snapshots whose writing a crash interrupted, unless a stored
    /// state uses them.
    pub(super) fn discard_partial_snapshots(&mut self) -> Result<(), StoreError> {
        let mut partial = Vec::new();
        self.for_each(META, PARTIAL_PREFIX, |key, value| {
            let Some(seq_bytes) = key.strip_prefix(PARTIAL_PREFIX) else {
                return Ok(Visit::Stop);
            };
            let seq = layout::decode_seq_key(META, seq_bytes)?;
            let manifest: Manifest = record::open(META, key, value)?;
            partial.push((seq, manifest));
            Ok(Visit::Continue)
        })?;
        for (seq, manifest) in partial {
            self.discard_unused_chunks(seq, &manifest, false, WriteBatch::default())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::super::fixture::{self, client_table, snapshot_bytes};
    use super::*;
    use crate::core::{PersistOp, checkpoint_digest};
    use crate::transfer::SNAPSHOT_CHUNK_BYTES;

    const CHUNK: u32 = 1024;

    fn state_digest(seq: Seq, manifest: &Manifest) -> Digest {
        checkpoint_digest(seq, manifest.root(), &client_table(seq))
    }

    fn put_chunked(store: &mut Store, seq: Seq, snapshot: &[u8], chunk: u32) -> CheckpointMeta {
        let manifest = Manifest::of(snapshot, chunk);
        let digest = state_digest(seq, &manifest);
        store
            .put_checkpoint(seq, digest, &client_table(seq), &manifest, snapshot)
            .expect("stores")
    }

    fn put(store: &mut Store, seq: Seq, snapshot: &[u8]) -> CheckpointMeta {
        put_chunked(store, seq, snapshot, CHUNK)
    }

    #[test]
    fn a_multi_megabyte_snapshot_is_stored_in_chunks_and_read_back() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), fixture::unsynced());
        let chunk = SNAPSHOT_CHUNK_BYTES as usize;
        let snapshot = snapshot_bytes(5 * chunk + 12_345, 1);
        let meta = put_chunked(&mut store, Seq(10), &snapshot, SNAPSHOT_CHUNK_BYTES);
        assert_eq!(meta.manifest.chunk_count(), 6);
        assert_eq!(meta.manifest.snapshot_len(), snapshot.len() as u64);
        assert_eq!(fixture::count(&store, SNAPSHOTS), 6);

        let mut streamed = Vec::new();
        for index in 0..meta.manifest.chunk_count() {
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
        assert!(store.has_chunk(&chunk_digest(&streamed[..chunk])));
    }

    #[test]
    fn only_a_consistent_and_unique_state_is_stored_per_sequence_number() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let snapshot = snapshot_bytes(3000, 2);
        let manifest = Manifest::of(&snapshot, CHUNK);
        let table = client_table(Seq(5));
        let wrong = store.put_checkpoint(Seq(5), fixture::digest(1), &table, &manifest, &snapshot);
        assert!(matches!(wrong, Err(StoreError::StateDigestMismatch { .. })));
        let digest = state_digest(Seq(5), &manifest);
        let short = store.put_checkpoint(Seq(5), digest, &table, &manifest, &snapshot[1..]);
        assert!(matches!(
            short,
            Err(StoreError::SnapshotLengthMismatch { .. })
        ));
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
        let other = snapshot_bytes(3000, 3);
        let other_manifest = Manifest::of(&other, CHUNK);
        let conflicting = store.put_checkpoint(
            Seq(5),
            state_digest(Seq(5), &other_manifest),
            &table,
            &other_manifest,
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
        let snapshot = snapshot_bytes(CHUNK as usize + 10, 4);
        let meta = put(&mut store, Seq(5), &snapshot);
        let key = layout::chunk_key(&meta.manifest.chunk_digests()[1]);
        let mut value = store.get_raw(SNAPSHOTS, &key).expect("chunk");
        value[9] ^= 0x80;
        store.put_raw(SNAPSHOTS, &key, value);
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

    /// Consecutive checkpoints of a large state differ in a few chunks: each new one writes
    /// only those, and garbage collection keeps the chunks the kept state still uses.
    #[test]
    fn states_share_the_chunks_they_have_in_common() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let first = snapshot_bytes(4 * CHUNK as usize, 5);
        let mut second = first.clone();
        second[CHUNK as usize + 3] ^= 1;
        put(&mut store, Seq(4), &first);
        put(&mut store, Seq(8), &second);
        assert_eq!(fixture::count(&store, SNAPSHOTS), 5, "one chunk changed");
        store
            .commit(&[PersistOp::PruneBelow { seq: Seq(8) }], &[])
            .expect("commits");
        assert_eq!(fixture::count(&store, SNAPSHOTS), 4);
        assert_eq!(store.read_snapshot(Seq(8)).expect("reads"), Some(second));
        assert!(store.read_snapshot(Seq(4)).expect("reads").is_none());
    }

    #[test]
    fn a_removed_state_takes_only_its_own_chunks_with_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let first = snapshot_bytes(3 * CHUNK as usize, 6);
        let mut second = first.clone();
        second[0] ^= 1;
        put(&mut store, Seq(4), &first);
        let removed = put(&mut store, Seq(8), &second);
        store.remove_checkpoint(Seq(8)).expect("removes");
        assert_eq!(store.checkpoint_meta(Seq(8)).expect("reads"), None);
        assert_eq!(fixture::count(&store, SNAPSHOTS), 3);
        assert!(!store.has_chunk(&removed.manifest.chunk_digests()[0]));
        assert_eq!(store.read_snapshot(Seq(4)).expect("reads"), Some(first));
        drop(store);
        let store = fixture::open(dir.path(), StoreOptions::default());
        assert_eq!(
            store.latest_checkpoint().expect("reads").map(|m| m.seq),
            Some(Seq(4))
        );
    }

    #[test]
    fn pruning_keeps_the_newest_checkpoint_state_at_or_below_the_stable_one() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        for seq in [10, 20, 30, 40].map(Seq) {
            put(&mut store, seq, &snapshot_bytes(CHUNK as usize + 1, seq.0));
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
