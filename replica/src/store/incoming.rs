//! Receiving a checkpoint state by transfer (PBFT §5.3.2, TOCS §6.2), a chunk at a time:
//! memory stays at one chunk whatever the snapshot's size, and the state becomes visible
//! only once every chunk is stored and the whole checks against the digest a quorum
//! signed.
//!
//! The incoming state is described by its manifest from the start, and chunks arrive in
//! any order, each already checked against the manifest ([`CheckedChunk`]). Chunks the
//! store holds already (from its own checkpoints or an earlier transfer) are not written
//! again. When the target moves, the next incoming state keeps the chunks of the last one
//! that it lists too.

use super::disk::WriteBatch;

use rampart_crypto::Digest;

use crate::core::ClientTable;
use crate::message::Seq;
use crate::transfer::{CheckedChunk, Manifest};

use super::layout::{self, META};
use super::{CheckpointMeta, Store, StoreError};

/// A snapshot being received. The store's marker for it (in `meta`, holding the manifest)
/// lets the next open remove its chunks if a crash interrupts the transfer.
#[derive(Debug)]
pub(super) struct Incoming {
    pub seq: Seq,
    pub manifest: Manifest,
}

impl Store {
    /// Starts receiving the checkpoint state at `seq`, whose snapshot `manifest` describes
    /// (checked by the caller against the digest a quorum signed). A transfer under way
    /// for another state is superseded: of its chunks, those `manifest` lists stay, the
    /// others go unless a stored state uses them. A state stored at `seq` already is not
    /// received again ([`StoreError::CheckpointExists`]).
    pub fn begin_incoming(&mut self, seq: Seq, manifest: &Manifest) -> Result<(), StoreError> {
        if self.summary(seq)?.is_some() {
            return Err(StoreError::CheckpointExists { seq });
        }
        if let Some(incoming) = &self.incoming
            && incoming.seq == seq
            && incoming.manifest == *manifest
        {
            return Ok(());
        }
        let previous = self.incoming.replace(Incoming {
            seq,
            manifest: manifest.clone(),
        });
        // The new marker lists the chunks to keep, so it goes in the same write as the
        // removal of the superseded transfer's other chunks.
        let mut batch = WriteBatch::default();
        let unused = match &previous {
            Some(previous) => {
                let unused = self.delete_unused_chunks(&previous.manifest, None, &mut batch)?;
                if previous.seq != seq {
                    batch.delete_cf(META, layout::partial_key(previous.seq));
                }
                unused
            }
            None => Vec::new(),
        };
        if let Err(error) = self.mark_partial(seq, manifest, batch) {
            self.incoming = None;
            return Err(error);
        }
        self.forget_chunks(&unused);
        Ok(())
    }

    /// Stores a chunk of the incoming snapshot, unless the store holds it already.
    pub fn write_incoming_chunk(&mut self, chunk: &CheckedChunk) -> Result<(), StoreError> {
        let incoming = self
            .incoming
            .as_ref()
            .ok_or(StoreError::NoIncomingSnapshot)?;
        if incoming.manifest.chunk_digest(chunk.index()) != Some(chunk.digest()) {
            return Err(StoreError::ChunkNotInManifest {
                seq: incoming.seq,
                index: chunk.index(),
            });
        }
        self.put_chunk(chunk.digest(), chunk.data())
    }

    /// Whether every chunk of the incoming snapshot is stored.
    pub fn incoming_complete(&self) -> bool {
        self.incoming.as_ref().is_some_and(|incoming| {
            incoming
                .manifest
                .chunk_digests()
                .iter()
                .all(|digest| self.chunks.contains(digest))
        })
    }

    /// Completes the incoming snapshot and makes the checkpoint state visible, with the
    /// reply cache that came with it, if every chunk is stored and the manifest and reply
    /// cache hash to `state_digest` (the digest a quorum signed). Otherwise the transfer is
    /// abandoned and the error says why.
    pub fn finish_incoming(
        &mut self,
        state_digest: Digest,
        client_table: &ClientTable,
    ) -> Result<CheckpointMeta, StoreError> {
        let complete = self.incoming_complete();
        let incoming = self.incoming.take().ok_or(StoreError::NoIncomingSnapshot)?;
        let (seq, manifest) = (incoming.seq, incoming.manifest);
        let checked = if complete {
            self.check_state_digest(seq, &manifest, client_table, state_digest)
        } else {
            Err(StoreError::IncompleteSnapshot { seq })
        };
        if let Err(error) = checked {
            self.discard_unused_chunks(seq, &manifest, false, WriteBatch::default())?;
            return Err(error);
        }
        self.complete_state(seq, state_digest, &manifest, client_table)
    }

    /// Abandons the incoming snapshot, if any, and deletes its chunks no stored state uses.
    pub fn abort_incoming(&mut self) -> Result<(), StoreError> {
        match self.incoming.take() {
            Some(incoming) => self.discard_unused_chunks(
                incoming.seq,
                &incoming.manifest,
                false,
                WriteBatch::default(),
            ),
            None => Ok(()),
        }
    }

    /// The sequence number of the snapshot being received, if any.
    pub fn incoming_seq(&self) -> Option<Seq> {
        self.incoming.as_ref().map(|incoming| incoming.seq)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::StoreOptions;
    use super::super::fixture::{self, client_table, snapshot_bytes};
    use super::super::layout::SNAPSHOTS;
    use super::*;
    use crate::core::{PersistOp, checkpoint_digest};

    const CHUNK: u32 = 1024;

    fn state_digest(seq: Seq, manifest: &Manifest) -> Digest {
        checkpoint_digest(seq, manifest.root(), &client_table(seq))
    }

    fn checked(manifest: &Manifest, snapshot: &[u8], index: u32) -> CheckedChunk {
        let bytes = manifest.chunk_of(snapshot, index).expect("in range");
        manifest
            .check_chunk(index, Bytes::copy_from_slice(bytes))
            .expect("checks out")
    }

    /// Receives the chunks `indexes` of `snapshot`, in that order.
    fn receive(store: &mut Store, seq: Seq, snapshot: &[u8], indexes: &[u32]) -> Manifest {
        let manifest = Manifest::of(snapshot, CHUNK);
        store.begin_incoming(seq, &manifest).expect("begins");
        for &index in indexes {
            store
                .write_incoming_chunk(&checked(&manifest, snapshot, index))
                .expect("writes");
        }
        manifest
    }

    #[test]
    fn an_incoming_snapshot_becomes_visible_only_when_complete() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), fixture::unsynced());
        let seq = Seq(20);
        let snapshot = snapshot_bytes(3 * CHUNK as usize + 7, 9);
        // Chunks arrive in any order.
        let manifest = receive(&mut store, seq, &snapshot, &[2, 0, 3]);
        assert!(!store.incoming_complete());
        assert_eq!(fixture::count(&store, SNAPSHOTS), 3);
        assert_eq!(store.checkpoint_meta(seq).expect("reads"), None);
        assert_eq!(store.read_snapshot_chunk(seq, 0).expect("reads"), None);
        assert_eq!(store.latest_checkpoint().expect("reads"), None);
        store
            .write_incoming_chunk(&checked(&manifest, &snapshot, 1))
            .expect("writes");
        assert!(store.incoming_complete());

        let meta = store
            .finish_incoming(state_digest(seq, &manifest), &client_table(seq))
            .expect("finishes");
        assert_eq!(meta.manifest, manifest);
        assert_eq!(store.latest_checkpoint().expect("reads"), Some(meta));
        assert_eq!(
            store.read_snapshot(seq).expect("reads"),
            Some(snapshot.clone())
        );
        assert!(matches!(
            store.begin_incoming(seq, &manifest),
            Err(StoreError::CheckpointExists { .. })
        ));
        assert!(matches!(
            store.write_incoming_chunk(&checked(&manifest, &snapshot, 0)),
            Err(StoreError::NoIncomingSnapshot)
        ));
    }

    #[test]
    fn a_wrong_or_incomplete_incoming_snapshot_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let seq = Seq(30);
        let snapshot = snapshot_bytes(2 * CHUNK as usize + 1, 5);

        receive(&mut store, seq, &snapshot, &[0, 1, 2]);
        let wrong = store.finish_incoming(fixture::digest(7), &client_table(seq));
        assert!(matches!(wrong, Err(StoreError::StateDigestMismatch { .. })));

        let manifest = receive(&mut store, seq, &snapshot, &[1]);
        let short = store.finish_incoming(state_digest(seq, &manifest), &client_table(seq));
        assert!(matches!(short, Err(StoreError::IncompleteSnapshot { .. })));

        // A chunk of another snapshot has no place in this one.
        let other = snapshot_bytes(CHUNK as usize, 6);
        let other_manifest = Manifest::of(&other, CHUNK);
        receive(&mut store, seq, &snapshot, &[]);
        assert!(matches!(
            store.write_incoming_chunk(&checked(&other_manifest, &other, 0)),
            Err(StoreError::ChunkNotInManifest { .. })
        ));
        store.abort_incoming().expect("aborts");

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
        let snapshot = snapshot_bytes(2 * CHUNK as usize + 1, 6);
        receive(&mut store, Seq(40), &snapshot, &[0, 2]);
        assert_eq!(fixture::count(&store, SNAPSHOTS), 2);
        drop(store);

        let mut store = fixture::open(dir.path(), StoreOptions::default());
        assert_eq!(fixture::count(&store, SNAPSHOTS), 0);
        assert_eq!(
            fixture::count(&store, layout::META),
            1,
            "the marker is gone"
        );
        // The transfer can start over and complete.
        let manifest = receive(&mut store, Seq(40), &snapshot, &[0, 1, 2]);
        store
            .finish_incoming(state_digest(Seq(40), &manifest), &client_table(Seq(40)))
            .expect("finishes");
        assert_eq!(store.read_snapshot(Seq(40)).expect("reads"), Some(snapshot));
    }

    /// A newer checkpoint became stable mid-transfer: the chunks of the abandoned state
    /// that the new one lists stay, the others go.
    #[test]
    fn when_the_target_moves_the_chunks_still_wanted_stay() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let old = snapshot_bytes(4 * CHUNK as usize, 7);
        let mut new = old.clone();
        new[10] ^= 1;
        let old_manifest = receive(&mut store, Seq(8), &old, &[0, 1, 2]);
        let new_manifest = Manifest::of(&new, CHUNK);
        store.begin_incoming(Seq(16), &new_manifest).expect("moves");
        assert!(!store.has_chunk(&old_manifest.chunk_digests()[0]));
        assert!(store.has_chunk(&new_manifest.chunk_digests()[1]));
        assert!(store.has_chunk(&new_manifest.chunk_digests()[2]));
        assert_eq!(fixture::count(&store, SNAPSHOTS), 2);
        for index in [0, 3] {
            store
                .write_incoming_chunk(&checked(&new_manifest, &new, index))
                .expect("writes");
        }
        store
            .finish_incoming(state_digest(Seq(16), &new_manifest), &client_table(Seq(16)))
            .expect("finishes");
        assert_eq!(store.read_snapshot(Seq(16)).expect("reads"), Some(new));
        assert_eq!(fixture::count(&store, layout::META), 1, "no marker is left");
    }

    /// A replica that has an older checkpoint of its own needs only the chunks that
    /// changed since.
    #[test]
    fn chunks_of_a_stored_state_need_no_transfer() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let own = snapshot_bytes(3 * CHUNK as usize, 8);
        let own_manifest = Manifest::of(&own, CHUNK);
        store
            .put_checkpoint(
                Seq(4),
                state_digest(Seq(4), &own_manifest),
                &client_table(Seq(4)),
                &own_manifest,
                &own,
            )
            .expect("stores");
        let mut newer = own.clone();
        newer[2 * CHUNK as usize] ^= 1;
        let manifest = receive(&mut store, Seq(12), &newer, &[]);
        let missing: Vec<usize> = (0..3)
            .filter(|&i| !store.has_chunk(&manifest.chunk_digests()[i]))
            .collect();
        assert_eq!(missing, [2]);
        store
            .write_incoming_chunk(&checked(&manifest, &newer, 2))
            .expect("writes");
        store
            .finish_incoming(state_digest(Seq(12), &manifest), &client_table(Seq(12)))
            .expect("finishes");
        assert_eq!(store.read_snapshot(Seq(12)).expect("reads"), Some(newer));
        assert_eq!(store.read_snapshot(Seq(4)).expect("reads"), Some(own));
    }

    #[test]
    fn garbage_collection_abandons_a_transfer_older_than_the_state_kept() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let old = snapshot_bytes(2 * CHUNK as usize, 7);
        let old_manifest = receive(&mut store, Seq(5), &old, &[0]);
        let new = snapshot_bytes(100, 8);
        let new_manifest = Manifest::of(&new, CHUNK);
        store
            .put_checkpoint(
                Seq(10),
                state_digest(Seq(10), &new_manifest),
                &client_table(Seq(10)),
                &new_manifest,
                &new,
            )
            .expect("stores");
        let prune = PersistOp::PruneBelow { seq: Seq(10) };
        store.commit(&[prune], &[]).expect("commits");
        assert!(matches!(
            store.write_incoming_chunk(&checked(&old_manifest, &old, 1)),
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
