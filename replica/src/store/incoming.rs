//! Writing a snapshot piece by piece: a state received by transfer (PBFT §4.3 / TOCS §6.2),
//! or this replica's own checkpoint. Memory stays at one chunk whatever the snapshot's
//! size; the state becomes visible only once complete and checked against its digest.

use rocksdb::WriteBatch;

use rampart_crypto::{Digest, DigestBuilder};

use crate::core::{ClientTable, checkpoint_digest};
use crate::message::Seq;

use super::checkpoint::SnapshotSummary;
use super::layout::{self, CHECKPOINTS, META, SNAPSHOTS};
use super::{CheckpointMeta, SNAPSHOT_CHUNK_BYTES, Store, StoreError, record};

impl Store {
    /// Starts receiving the snapshot of the checkpoint state at `seq`, `total_len` bytes
    /// long. A transfer already under way is abandoned: the newer request supersedes it.
    pub fn begin_incoming(&mut self, seq: Seq, total_len: u64) -> Result<(), StoreError> {
        if self.summary(seq)?.is_some() {
            return Err(StoreError::CheckpointExists { seq });
        }
        self.abort_incoming()?;
        self.incoming = Some(SnapshotWriter::begin(self, seq, total_len)?);
        Ok(())
    }

    /// Appends the next piece of the incoming snapshot. Pieces may have any size; they are
    /// stored in chunks of [`SNAPSHOT_CHUNK_BYTES`]. On error the transfer is abandoned.
    /// Garbage collection abandons it too, once the store keeps a newer checkpoint state
    /// than the one arriving ([`StoreError::NoIncomingSnapshot`] from then on).
    pub fn write_incoming_chunk(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let mut writer = self.incoming.take().ok_or(StoreError::NoIncomingSnapshot)?;
        match writer.write(self, bytes) {
            Ok(()) => {
                self.incoming = Some(writer);
                Ok(())
            }
            Err(error) => {
                // The write error is what the caller must see; if removing the partial
                // chunks fails too, the next open removes them.
                let _ = writer.abort(self);
                Err(error)
            }
        }
    }

    /// Completes the incoming snapshot and makes the checkpoint state visible, with the
    /// reply cache that came with it, if the snapshot has the announced length and the
    /// parts hash to `state_digest` (the digest a quorum signed). Otherwise the received
    /// chunks are deleted and the error says why.
    pub fn finish_incoming(
        &mut self,
        state_digest: Digest,
        client_table: &ClientTable,
    ) -> Result<CheckpointMeta, StoreError> {
        let writer = self.incoming.take().ok_or(StoreError::NoIncomingSnapshot)?;
        writer.finish(self, state_digest, client_table)
    }

    /// Abandons the incoming snapshot, if any, and deletes what was received of it.
    pub fn abort_incoming(&mut self) -> Result<(), StoreError> {
        match self.incoming.take() {
            Some(writer) => writer.abort(self),
            None => Ok(()),
        }
    }
}

/// A snapshot being written. The store's marker for it (in `meta`) lets the next open
/// remove its chunks if a crash interrupts the writing.
#[derive(Debug)]
pub(super) struct SnapshotWriter {
    seq: Seq,
    total_len: u64,
    received_len: u64,
    next_index: u32,
    /// The bytes of the chunk being filled.
    buffer: Vec<u8>,
    digest: DigestBuilder,
}

impl SnapshotWriter {
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// Removes leftovers of an earlier attempt at `seq` and sets the marker.
    pub fn begin(
        store: &mut Store,
        seq: Seq,
        total_len: u64,
    ) -> Result<SnapshotWriter, StoreError> {
        let mut batch = WriteBatch::default();
        let (from, to) = layout::chunk_range_of(seq);
        batch.delete_range_cf(store.cf(SNAPSHOTS)?, from, to);
        let marker = layout::partial_key(seq);
        batch.put_cf(
            store.cf(META)?,
            &marker,
            record::seal(META, &marker, &total_len),
        );
        store.write(batch, "starting to write a snapshot")?;
        Ok(SnapshotWriter {
            seq,
            total_len,
            received_len: 0,
            next_index: 0,
            buffer: Vec::new(),
            digest: DigestBuilder::new(),
        })
    }

    pub fn write(&mut self, store: &mut Store, mut bytes: &[u8]) -> Result<(), StoreError> {
        let received_len = self.received_len + bytes.len() as u64;
        if received_len > self.total_len {
            return Err(StoreError::SnapshotLengthMismatch {
                seq: self.seq,
                expected_len: self.total_len,
                received_len,
            });
        }
        self.received_len = received_len;
        self.digest.update(bytes);
        while !bytes.is_empty() {
            let room = SNAPSHOT_CHUNK_BYTES - self.buffer.len();
            let (head, rest) = bytes.split_at(room.min(bytes.len()));
            self.buffer.extend_from_slice(head);
            bytes = rest;
            if self.buffer.len() == SNAPSHOT_CHUNK_BYTES {
                self.write_chunk(store)?;
            }
        }
        Ok(())
    }

    /// Stores the buffered chunk. Each chunk is its own write, so memory stays at one
    /// chunk; the chunks are invisible until `finish`.
    fn write_chunk(&mut self, store: &mut Store) -> Result<(), StoreError> {
        let key = layout::chunk_key(self.seq, self.next_index);
        let mut batch = WriteBatch::default();
        batch.put_cf(
            store.cf(SNAPSHOTS)?,
            key,
            record::seal_bytes(SNAPSHOTS, &key, &self.buffer),
        );
        store.write(batch, "writing a snapshot chunk")?;
        self.buffer.clear();
        self.next_index += 1;
        Ok(())
    }

    pub fn finish(
        mut self,
        store: &mut Store,
        state_digest: Digest,
        client_table: &ClientTable,
    ) -> Result<CheckpointMeta, StoreError> {
        if self.received_len != self.total_len {
            let error = StoreError::SnapshotLengthMismatch {
                seq: self.seq,
                expected_len: self.total_len,
                received_len: self.received_len,
            };
            self.abort(store)?;
            return Err(error);
        }
        let snapshot_digest = std::mem::take(&mut self.digest).finish();
        let computed = checkpoint_digest(self.seq, snapshot_digest, client_table);
        if computed != state_digest {
            let error = StoreError::StateDigestMismatch {
                seq: self.seq,
                expected: state_digest,
                computed,
            };
            self.abort(store)?;
            return Err(error);
        }
        if !self.buffer.is_empty() {
            self.write_chunk(store)?;
        }
        let summary = SnapshotSummary {
            seq: self.seq,
            state_digest,
            snapshot_digest,
            snapshot_len: self.total_len,
            chunk_bytes: SNAPSHOT_CHUNK_BYTES as u32,
            chunk_count: self.next_index,
        };
        // The summary, the reply cache and the removal of the marker go in one write: the
        // state becomes visible complete or not at all.
        let mut batch = WriteBatch::default();
        let checkpoints = store.cf(CHECKPOINTS)?;
        let summary_key = layout::summary_key(self.seq);
        batch.put_cf(
            checkpoints,
            summary_key,
            record::seal(CHECKPOINTS, &summary_key, &summary),
        );
        let table_key = layout::client_table_key(self.seq);
        batch.put_cf(
            checkpoints,
            table_key,
            record::seal(CHECKPOINTS, &table_key, client_table),
        );
        batch.delete_cf(store.cf(META)?, layout::partial_key(self.seq));
        store.write(batch, "completing a checkpoint state")?;
        if let Some(index) = store.index.as_mut() {
            index.checkpoints.insert(self.seq);
        }
        Ok(summary.with_client_table(client_table.clone()))
    }

    /// Deletes what was written and the marker.
    pub fn abort(self, store: &mut Store) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        let (from, to) = layout::chunk_range_of(self.seq);
        batch.delete_range_cf(store.cf(SNAPSHOTS)?, from, to);
        batch.delete_cf(store.cf(META)?, layout::partial_key(self.seq));
        store.write(batch, "discarding a partly written snapshot")
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::super::fixture::{self, client_table, snapshot_bytes};
    use super::*;

    fn state_digest(seq: Seq, snapshot: &[u8]) -> Digest {
        checkpoint_digest(seq, Digest::of(snapshot), &client_table(seq))
    }

    /// Feeds the snapshot in pieces of an awkward size, as a network might deliver it.
    fn receive(store: &mut Store, seq: Seq, snapshot: &[u8]) {
        store
            .begin_incoming(seq, snapshot.len() as u64)
            .expect("begins");
        for piece in snapshot.chunks(300_001) {
            store.write_incoming_chunk(piece).expect("writes");
        }
    }

    #[test]
    fn an_incoming_snapshot_becomes_visible_only_when_complete() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), fixture::unsynced());
        let seq = Seq(20);
        let snapshot = snapshot_bytes(3 * SNAPSHOT_CHUNK_BYTES + 7, 9);
        receive(&mut store, seq, &snapshot);
        assert_eq!(
            fixture::count(&store, SNAPSHOTS),
            3,
            "full chunks are on disk"
        );
        assert_eq!(store.checkpoint_meta(seq).expect("reads"), None);
        assert_eq!(store.read_snapshot_chunk(seq, 0).expect("reads"), None);
        assert_eq!(store.latest_checkpoint().expect("reads"), None);

        let meta = store
            .finish_incoming(state_digest(seq, &snapshot), &client_table(seq))
            .expect("finishes");
        assert_eq!(meta.chunk_count, 4);
        assert_eq!(store.latest_checkpoint().expect("reads"), Some(meta));
        assert_eq!(
            store.read_snapshot(seq).expect("reads"),
            Some(snapshot.clone())
        );
        assert!(matches!(
            store.begin_incoming(seq, 1),
            Err(StoreError::CheckpointExists { .. })
        ));
        assert!(matches!(
            store.write_incoming_chunk(b"x"),
            Err(StoreError::NoIncomingSnapshot)
        ));
    }

    #[test]
    fn a_wrong_or_incomplete_incoming_snapshot_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let seq = Seq(30);
        let snapshot = snapshot_bytes(2 * SNAPSHOT_CHUNK_BYTES + 1, 5);

        receive(&mut store, seq, &snapshot);
        let wrong = store.finish_incoming(fixture::digest(7), &client_table(seq));
        assert!(matches!(wrong, Err(StoreError::StateDigestMismatch { .. })));

        store
            .begin_incoming(seq, snapshot.len() as u64)
            .expect("begins");
        store
            .write_incoming_chunk(&snapshot[..1000])
            .expect("writes");
        let short = store.finish_incoming(state_digest(seq, &snapshot), &client_table(seq));
        assert!(matches!(
            short,
            Err(StoreError::SnapshotLengthMismatch { .. })
        ));

        store.begin_incoming(seq, 10).expect("begins");
        let long = store.write_incoming_chunk(&snapshot[..11]);
        assert!(matches!(
            long,
            Err(StoreError::SnapshotLengthMismatch { .. })
        ));

        assert_eq!(fixture::count(&store, SNAPSHOTS), 0);
        assert_eq!(store.checkpoint_meta(seq).expect("reads"), None);
        assert_eq!(
            fixture::count(&store, layout::META),
            1,
            "only the identity is left"
        );
    }

    #[test]
    fn a_transfer_cut_short_by_a_crash_is_removed_on_reopen() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let snapshot = snapshot_bytes(2 * SNAPSHOT_CHUNK_BYTES + 1, 6);
        store
            .begin_incoming(Seq(40), snapshot.len() as u64)
            .expect("begins");
        store
            .write_incoming_chunk(&snapshot[..SNAPSHOT_CHUNK_BYTES + 5])
            .expect("writes");
        assert_eq!(fixture::count(&store, SNAPSHOTS), 1);
        drop(store);

        let mut store = fixture::open(dir.path(), StoreOptions::default());
        assert_eq!(fixture::count(&store, SNAPSHOTS), 0);
        assert_eq!(
            fixture::count(&store, layout::META),
            1,
            "the marker is gone"
        );
        // The transfer can start over and complete.
        receive(&mut store, Seq(40), &snapshot);
        store
            .finish_incoming(state_digest(Seq(40), &snapshot), &client_table(Seq(40)))
            .expect("finishes");
        assert_eq!(store.read_snapshot(Seq(40)).expect("reads"), Some(snapshot));
    }

    #[test]
    fn garbage_collection_abandons_a_transfer_older_than_the_state_kept() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let old = snapshot_bytes(2 * SNAPSHOT_CHUNK_BYTES, 7);
        store
            .begin_incoming(Seq(5), old.len() as u64)
            .expect("begins");
        store
            .write_incoming_chunk(&old[..SNAPSHOT_CHUNK_BYTES])
            .expect("writes");
        let new = snapshot_bytes(100, 8);
        let digest = state_digest(Seq(10), &new);
        store
            .put_checkpoint(Seq(10), digest, &client_table(Seq(10)), &new)
            .expect("stores");
        let prune = crate::core::PersistOp::PruneBelow { seq: Seq(10) };
        store.commit(&[prune], &[]).expect("commits");
        assert!(matches!(
            store.write_incoming_chunk(&old[SNAPSHOT_CHUNK_BYTES..]),
            Err(StoreError::NoIncomingSnapshot)
        ));
        assert_eq!(
            fixture::count(&store, SNAPSHOTS),
            1,
            "only the kept state's chunk"
        );
        assert_eq!(
            fixture::count(&store, layout::META),
            1,
            "the marker is gone"
        );
    }
}
