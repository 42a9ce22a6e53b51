//! The store's port to the medium it writes on: ordered key-value column families with
//! atomic write batches.
//!
//! [`Store`](super::Store) keeps every rule of durable storage (record checksums, the
//! index, pruning, checkpoint states in chunks) above this trait, so that the same code
//! runs on RocksDB in a replica process ([`RocksDisk`]) and on memory in the deterministic
//! simulator ([`MemoryDisk`]), where a seeded adversary can lose unsynced writes, tear the
//! last one and corrupt records: the checksums and recovery that catch such damage in
//! production are the ones the simulator exercises.
//!
//! A [`Disk`] makes these promises, as RocksDB's write-ahead log does:
//! - a [`WriteBatch`] is applied whole or not at all, also across a crash;
//! - once `write` with `sync` returns, the batch survives a crash;
//! - reads see every batch written before them.

mod memory;
mod rocks;

use std::fmt;

pub use memory::{DiskFault, MemoryDisk};
pub use rocks::RocksDisk;

/// Why the medium failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DiskError(pub String);

/// Writes to apply together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<WriteOp>,
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    Put {
        cf: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        cf: &'static str,
        key: Vec<u8>,
    },
    /// Deletes every key in `from..to`.
    DeleteRange {
        cf: &'static str,
        from: Vec<u8>,
        to: Vec<u8>,
    },
}

impl WriteBatch {
    pub fn put_cf(&mut self, cf: &'static str, key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Put {
            cf,
            key: key.as_ref().to_vec(),
            value: value.into(),
        });
    }

    pub fn delete_cf(&mut self, cf: &'static str, key: impl AsRef<[u8]>) {
        self.ops.push(WriteOp::Delete {
            cf,
            key: key.as_ref().to_vec(),
        });
    }

    pub fn delete_range_cf(&mut self, cf: &'static str, from: &[u8], to: &[u8]) {
        self.ops.push(WriteOp::DeleteRange {
            cf,
            from: from.to_vec(),
            to: to.to_vec(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The bytes of keys and values the batch writes.
    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { key, value, .. } => key.len() + value.len(),
                WriteOp::Delete { key, .. } => key.len(),
                WriteOp::DeleteRange { from, to, .. } => from.len() + to.len(),
            })
            .sum()
    }
}

/// Whether a scan goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    Continue,
    Stop,
}

/// What [`Disk::scan`] calls with each key and value.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<Visit, super::StoreError> + 'a;

/// Ordered key-value column families with atomic batches (see the module docs).
pub trait Disk: fmt::Debug + Send {
    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, DiskError>;

    /// Applies `batch` atomically; with `sync`, durably before returning.
    fn write(&mut self, batch: WriteBatch, sync: bool) -> Result<(), DiskError>;

    /// Calls `visit` with every key and value of `cf` from `from` on, in key order, until
    /// it says stop. An error of `visit` ends the scan and is returned as is.
    fn scan(
        &self,
        cf: &'static str,
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), super::StoreError>;

    /// The greatest key of `cf`.
    fn last_key(&self, cf: &'static str) -> Result<Option<Vec<u8>>, DiskError>;

    /// The space the data takes on the medium.
    fn usage_bytes(&self) -> Result<u64, DiskError>;

    /// Drops deleted records now (RocksDB compacts by itself over time).
    fn compact(&self) -> Result<(), DiskError>;
}
