//! The manifest of a snapshot: its length, the chunk size, and the digest of every chunk.
//!
//! The application digest a checkpoint's state digest covers ([`checkpoint_digest`]) is
//! the manifest's [`root`](Manifest::root), not the digest of the snapshot's bytes in one
//! piece. So the digest 2f + 1 replicas sign in their CHECKPOINT messages binds every
//! chunk: a replica fetching the state first gets the manifest and the reply cache from a
//! peer and checks them against the signed digest, then checks each chunk against the
//! manifest the moment it arrives (PBFT's partition tree, TOCS §6.2, with one level). A
//! bad chunk costs one chunk, not the transfer, and names the replica that sent it.
//!
//! [`checkpoint_digest`]: crate::core::checkpoint_digest

use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use rampart_crypto::Digest;

use crate::core::{ClientTable, checkpoint_digest};
use crate::message::Seq;

/// The largest snapshot a peer may announce: a guard against a faulty peer filling the disk.
pub const SNAPSHOT_BYTES_MAX: u64 = 64 << 30;

/// The digest of one chunk's bytes.
pub fn chunk_digest(bytes: &[u8]) -> Digest {
    let mut builder = Digest::builder();
    builder.update(b"rampart/snapshot/chunk/v1").update(bytes);
    builder.finish()
}

/// A snapshot's length, chunk size and chunk digests, in chunk order. Every chunk but the
/// last is `chunk_bytes` long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    snapshot_len: u64,
    chunk_bytes: u32,
    chunk_digests: Vec<Digest>,
}

/// Why a manifest or a chunk from a peer was refused. Each one is the sender's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferFault {
    #[error("the manifest announces chunks of {announced} bytes, but this cluster uses {expected}")]
    ChunkSizeMismatch { announced: u32, expected: u32 },
    #[error("the manifest lists {listed} chunks for a snapshot of {snapshot_len} bytes")]
    ChunkCountMismatch { listed: usize, snapshot_len: u64 },
    #[error("the manifest announces {snapshot_len} bytes, more than the {max} allowed")]
    SnapshotTooLarge { snapshot_len: u64, max: u64 },
    #[error("the manifest and reply cache do not hash to the state digest a quorum signed")]
    StateDigestMismatch,
    #[error("chunk {index} is not in the manifest")]
    NoSuchChunk { index: u32 },
    #[error("chunk {index} has {received} bytes instead of {expected}")]
    ChunkLengthMismatch {
        index: u32,
        received: u64,
        expected: u64,
    },
    #[error("chunk {index} does not match its digest in the manifest")]
    ChunkDigestMismatch { index: u32 },
}

/// A chunk whose length and digest were checked against its manifest: the only way to
/// hand received bytes to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedChunk {
    index: u32,
    digest: Digest,
    data: Bytes,
}

impl CheckedChunk {
    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn data(&self) -> &Bytes {
        &self.data
    }
}

impl Manifest {
    /// The manifest of `snapshot` cut into chunks of `chunk_bytes`.
    pub fn of(snapshot: &[u8], chunk_bytes: u32) -> Manifest {
        assert!(chunk_bytes > 0, "chunks of no bytes");
        Manifest {
            snapshot_len: snapshot.len() as u64,
            chunk_bytes,
            chunk_digests: snapshot
                .chunks(chunk_bytes as usize)
                .map(chunk_digest)
                .collect(),
        }
    }

    /// The application digest of the snapshot: what [`checkpoint_digest`] covers. It
    /// binds the length, the chunk size and every chunk digest in order.
    pub fn root(&self) -> Digest {
        let mut builder = Digest::builder();
        builder
            .update(b"rampart/snapshot/manifest/v1")
            .update(&self.snapshot_len.to_le_bytes())
            .update(&self.chunk_bytes.to_le_bytes())
            .update(&(self.chunk_digests.len() as u64).to_le_bytes());
        for digest in &self.chunk_digests {
            builder.update(digest.as_bytes());
        }
        builder.finish()
    }

    /// Whether this manifest and `client_table` are the state a quorum signed as
    /// `state_digest` for checkpoint `seq`.
    pub fn matches(&self, seq: Seq, client_table: &ClientTable, state_digest: Digest) -> bool {
        checkpoint_digest(seq, self.root(), client_table) == state_digest
    }

    pub fn snapshot_len(&self) -> u64 {
        self.snapshot_len
    }

    pub fn chunk_bytes(&self) -> u32 {
        self.chunk_bytes
    }

    pub fn chunk_count(&self) -> u32 {
        self.chunk_digests.len() as u32
    }

    pub fn chunk_digests(&self) -> &[Digest] {
        &self.chunk_digests
    }

    pub fn chunk_digest(&self, index: u32) -> Option<Digest> {
        self.chunk_digests.get(index as usize).copied()
    }

    /// Where chunk `index` lies in the snapshot (empty past the end).
    pub fn chunk_range(&self, index: u32) -> Range<u64> {
        let start = (u64::from(index) * u64::from(self.chunk_bytes)).min(self.snapshot_len);
        let end = (start + u64::from(self.chunk_bytes)).min(self.snapshot_len);
        start..end
    }

    /// Checks that a manifest from a peer is well formed for a cluster whose chunks are
    /// `chunk_bytes` long: the chunk size, a plausible length, and one digest per chunk.
    pub fn check(&self, chunk_bytes: u32) -> Result<(), TransferFault> {
        if self.chunk_bytes != chunk_bytes {
            return Err(TransferFault::ChunkSizeMismatch {
                announced: self.chunk_bytes,
                expected: chunk_bytes,
            });
        }
        if self.snapshot_len > SNAPSHOT_BYTES_MAX {
            return Err(TransferFault::SnapshotTooLarge {
                snapshot_len: self.snapshot_len,
                max: SNAPSHOT_BYTES_MAX,
            });
        }
        let expected = self.snapshot_len.div_ceil(u64::from(chunk_bytes.max(1)));
        if self.chunk_digests.len() as u64 != expected {
            return Err(TransferFault::ChunkCountMismatch {
                listed: self.chunk_digests.len(),
                snapshot_len: self.snapshot_len,
            });
        }
        Ok(())
    }

    /// Checks chunk `index` as received against this manifest.
    pub fn check_chunk(&self, index: u32, data: Bytes) -> Result<CheckedChunk, TransferFault> {
        let digest = self
            .chunk_digest(index)
            .ok_or(TransferFault::NoSuchChunk { index })?;
        let range = self.chunk_range(index);
        let expected = range.end - range.start;
        if data.len() as u64 != expected {
            return Err(TransferFault::ChunkLengthMismatch {
                index,
                received: data.len() as u64,
                expected,
            });
        }
        if chunk_digest(&data) != digest {
            return Err(TransferFault::ChunkDigestMismatch { index });
        }
        Ok(CheckedChunk {
            index,
            digest,
            data,
        })
    }

    /// Chunk `index` of `snapshot`, which this manifest describes.
    pub fn chunk_of<'a>(&self, snapshot: &'a [u8], index: u32) -> Option<&'a [u8]> {
        if index >= self.chunk_count() {
            return None;
        }
        let range = self.chunk_range(index);
        snapshot.get(range.start as usize..range.end as usize)
    }

    /// A manifest that differs from this one in one chunk digest: what a faulty replica
    /// serves to make a fetcher waste its time.
    pub(crate) fn falsified(&self) -> Manifest {
        let mut false_manifest = self.clone();
        match false_manifest.chunk_digests.first_mut() {
            Some(digest) => digest.0[0] ^= 0xff,
            None => false_manifest.snapshot_len += 1,
        }
        false_manifest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_snapshot_is_cut_into_chunks_each_with_its_digest() {
        let bytes = snapshot(25);
        let manifest = Manifest::of(&bytes, 10);
        assert_eq!(manifest.chunk_count(), 3);
        assert_eq!(manifest.snapshot_len(), 25);
        assert_eq!(manifest.chunk_range(2), 20..25);
        assert_eq!(manifest.chunk_of(&bytes, 2), Some(&bytes[20..]));
        assert_eq!(manifest.chunk_of(&bytes, 3), None);
        assert_eq!(manifest.check(10), Ok(()));
        for index in 0..3 {
            let chunk = manifest.chunk_of(&bytes, index).expect("in range");
            let checked = manifest
                .check_chunk(index, Bytes::copy_from_slice(chunk))
                .expect("checks out");
            assert_eq!(checked.digest(), chunk_digest(chunk));
        }
        let empty = Manifest::of(&[], 10);
        assert_eq!(empty.chunk_count(), 0);
        assert_eq!(empty.check(10), Ok(()));
        assert_ne!(empty.root(), manifest.root());
    }

    #[test]
    fn the_root_binds_every_chunk_the_length_and_the_chunk_size() {
        let bytes = snapshot(40);
        let root = Manifest::of(&bytes, 10).root();
        let mut changed = bytes.clone();
        changed[33] ^= 1;
        assert_ne!(Manifest::of(&changed, 10).root(), root);
        assert_ne!(Manifest::of(&bytes, 8).root(), root);
        assert_ne!(Manifest::of(&bytes[..39], 10).root(), root);
        assert_ne!(Manifest::of(&bytes, 10).falsified().root(), root);
        let table = ClientTable::default();
        let signed = checkpoint_digest(Seq(8), root, &table);
        assert!(Manifest::of(&bytes, 10).matches(Seq(8), &table, signed));
        assert!(!Manifest::of(&changed, 10).matches(Seq(8), &table, signed));
        assert!(!Manifest::of(&bytes, 10).matches(Seq(16), &table, signed));
    }

    #[test]
    fn a_wrong_chunk_or_an_inconsistent_manifest_is_refused_with_its_reason() {
        let bytes = snapshot(25);
        let manifest = Manifest::of(&bytes, 10);
        let mut corrupt = bytes[..10].to_vec();
        corrupt[4] ^= 0x10;
        assert_eq!(
            manifest.check_chunk(0, Bytes::from(corrupt)),
            Err(TransferFault::ChunkDigestMismatch { index: 0 })
        );
        assert_eq!(
            manifest.check_chunk(2, Bytes::copy_from_slice(&bytes[..10])),
            Err(TransferFault::ChunkLengthMismatch {
                index: 2,
                received: 10,
                expected: 5
            })
        );
        assert_eq!(
            manifest.check_chunk(3, Bytes::new()),
            Err(TransferFault::NoSuchChunk { index: 3 })
        );
        assert!(matches!(
            manifest.check(16),
            Err(TransferFault::ChunkSizeMismatch { .. })
        ));
        let mut short = manifest.clone();
        short.chunk_digests.pop();
        assert!(matches!(
            short.check(10),
            Err(TransferFault::ChunkCountMismatch { .. })
        ));
        let mut huge = manifest;
        huge.snapshot_len = SNAPSHOT_BYTES_MAX + 1;
        assert!(matches!(
            huge.check(10),
            Err(TransferFault::SnapshotTooLarge { .. })
        ));
    }
}
