//! Durable storage on RocksDB (design §5): the protocol state a replica must not forget,
//! and the checkpoint states it restores from and serves to peers.
//!
//! # Layout
//!
//! One column family per kind of record (`layout.rs`): `meta` (identity, view state, stable
//! checkpoint), `messages` (by [`MessageKey`](crate::core::MessageKey), encoded so that
//! byte order is key order), `prepared`, `decided`, `batches` (each batch once, named by
//! its digest from the PRE-PREPARE, prepared certificate and decision that carry it: see
//! `batches.rs`), `evidence`, `checkpoints` (checkpoint
//! state metadata, each with its snapshot's [`Manifest`](crate::transfer::Manifest), and
//! reply caches) and `snapshots` (application snapshots in chunks, keyed by the chunk's
//! digest, so a large snapshot is never one value, streams to peers a chunk at a time, and
//! shares its unchanged chunks with the other states stored).
//!
//! # Atomicity
//!
//! [`Store::commit`] writes everything one core input produced as one RocksDB write batch,
//! synced when [`StoreOptions::sync`] is set: after a crash either all of it is there or
//! none of it. Its effect equals `PersistedState::apply` on each operation followed by
//! `PersistedState::insert_message` on each own message (see
//! [`PersistedState`](crate::core::PersistedState)), and [`Store::load`] rebuilds exactly
//! that state. An in-memory index of keys (`index.rs`) decides the conditional operations
//! (first message stays, prepared only by a higher or equal view, ...) without reads.
//!
//! # Pruning
//!
//! Garbage collection deletes from disk, so space stays bounded over a long run. Records
//! that leave in key order (everything up to a stable sequence number; VIEW-CHANGEs and
//! NEW-VIEWs below a view; old checkpoint states) go with range deletes: one tombstone,
//! whatever the number of records. An old state's chunks go one by one, those that no kept
//! state shares. Batches go with everything else up to a stable sequence number, never with
//! a view: a prepared certificate or decision may still name them. Agreement messages of old views are spread over the sequence numbers, so
//! they are deleted one by one, using the index to find them. Compaction then drops the
//! deleted records and the tombstones.
//!
//! # Checkpoint states
//!
//! [`Store::put_checkpoint`] and the incoming writer ([`Store::begin_incoming`],
//! [`Store::write_incoming_chunk`], [`Store::finish_incoming`]) write a snapshot a chunk
//! at a time and make the state visible only when it is complete and its parts hash to
//! its state digest, taking the application digest to be the root of the snapshot's
//! manifest (see `checkpoint.rs`). Garbage collection keeps the newest state at or below
//! the stable checkpoint, so the replica always has one to restore from.
//!
//! # Integrity
//!
//! Every value carries a checksum over its column family, key and payload (`record.rs`); a
//! mismatch is [`StoreError::Corrupted`], never a wrong value. An identity record
//! (`identity.rs`) ties the directory to one replica of one cluster and a format version.
//!
//! # RocksDB configuration (`options.rs`)
//!
//! - **Write-ahead log recovery: `TolerateCorruptedTailRecords`.** A crash in the middle
//!   of a write leaves an incomplete record at the end of the newest WAL file; on reopen
//!   that record is dropped and every earlier one is kept. The dropped write was never
//!   reported as done, so the replica never acted on it. Damage anywhere else in the WAL
//!   fails the open instead: `PointInTime` would silently cut the log at the damage and
//!   lose synced writes after it, and a replica that forgets a message it has sent can
//!   contradict it later, which is Byzantine behaviour.
//! - **Modest memory.** Write buffers of 4 MiB for the protocol records, 16 MiB for
//!   snapshot chunks (so a write buffer holds many chunks), two per column family, and at most 64 MiB across all of them. `max_total_wal_size` (64 MiB)
//!   makes RocksDB flush a column family that holds an old WAL file alive, so the WAL
//!   stays bounded even when the protocol column families see few writes.
//! - **No compression**: the library is linked without compression codecs; protocol
//!   records are mostly signatures and digests, which do not compress anyway.
//! - **Dynamic level sizes**, so that after pruning the tree stays small and space of
//!   deleted records is reclaimed by compaction without a large fixed level layout.
//! - **Two background jobs**: the host runs the replica's own threads too.
//!
//! Every error is fatal for the replica: the caller stops rather than continue on storage
//! it cannot trust.

mod batches;
mod checkpoint;
mod commit;
pub mod disk;
mod error;
#[cfg(test)]
pub(crate) mod fixture;
mod identity;
mod incoming;
mod index;
pub mod inspect;
mod layout;
mod load;
mod options;
mod record;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use disk::{Disk, RocksDisk, Visit, WriteBatch};

pub use checkpoint::CheckpointMeta;
pub use error::StoreError;
pub use identity::{FORMAT_VERSION, StoreIdentity};
pub use options::StoreOptions;

use identity::IdentityRecord;
use incoming::Incoming;
use index::Index;
use layout::{COLUMN_FAMILIES, IDENTITY_KEY, META};

/// A replica's durable storage.
pub struct Store {
    disk: Box<dyn Disk>,
    /// Where the store lives, for messages: a directory, or a name for a disk in memory.
    path: PathBuf,
    options: StoreOptions,
    replica_count: usize,
    /// What is on disk, in brief. `None` after a failed write, when the store no longer
    /// knows what RocksDB kept; the next commit rebuilds it from disk.
    index: Option<Index>,
    /// A snapshot arriving by state transfer, not yet complete.
    incoming: Option<Incoming>,
    /// The digests of the snapshot chunks on disk: those the stored states use, and those
    /// written for the incoming one.
    chunks: BTreeSet<rampart_crypto::Digest>,
    observer: Option<Arc<dyn WriteObserver>>,
}

/// Told of every write batch the store wrote: its size and how long the disk took to write
/// it (and sync it, when writes are synced). For metrics.
pub trait WriteObserver: Send + Sync {
    fn written(&self, bytes: usize, elapsed: Duration);
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("replica_count", &self.replica_count)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `path`, creating it on first use for `identity`. Refuses a
    /// directory written for another replica or cluster, or in a newer format
    /// ([`StoreError::ForeignDirectory`]), and a store whose records fail their checksums
    /// ([`StoreError::Corrupted`]): opening reads every protocol record once.
    pub fn open(
        path: &Path,
        identity: &StoreIdentity,
        options: StoreOptions,
        replica_count: usize,
    ) -> Result<Store, StoreError> {
        refuse_other_databases(path, identity)?;
        let disk =
            RocksDisk::open(path, &options).map_err(StoreError::io("opening the database"))?;
        Store::on_disk(Box::new(disk), path, identity, options, replica_count)
    }

    /// Opens the store on `disk` (see [`disk`]), which `path` names in messages; checks
    /// as [`Store::open`] does.
    pub fn on_disk(
        disk: Box<dyn Disk>,
        path: &Path,
        identity: &StoreIdentity,
        options: StoreOptions,
        replica_count: usize,
    ) -> Result<Store, StoreError> {
        let mut store = Store {
            disk,
            path: path.to_owned(),
            options,
            replica_count,
            index: None,
            incoming: None,
            chunks: BTreeSet::new(),
            observer: None,
        };
        store.check_identity(identity)?;
        store.discard_partial_snapshots()?;
        store.chunks = store.stored_chunks()?;
        store.index = Some(store.read_index()?);
        Ok(store)
    }

    /// Tells `observer` of every write batch from now on.
    pub fn observe_writes(&mut self, observer: Arc<dyn WriteObserver>) {
        self.observer = Some(observer);
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The space the store takes on disk: its live table files and write-ahead log.
    pub fn disk_usage_bytes(&self) -> Result<u64, StoreError> {
        self.disk
            .usage_bytes()
            .map_err(StoreError::io("measuring the disk space used"))
    }

    /// Flushes and compacts every column family now, so deleted records stop taking space.
    /// RocksDB does this by itself over time; this is for tests and maintenance.
    pub fn compact(&self) -> Result<(), StoreError> {
        self.disk
            .compact()
            .map_err(StoreError::io("flushing before compaction"))
    }

    /// Writes a batch atomically (synced if so configured). After a failure the index is
    /// dropped: what the disk kept of the batch is then known only to the disk.
    fn write(&mut self, batch: WriteBatch, operation: &'static str) -> Result<(), StoreError> {
        let bytes = batch.bytes();
        let started = Instant::now();
        let result = self
            .disk
            .write(batch, self.options.sync)
            .map_err(StoreError::io(operation));
        match (&result, &self.observer) {
            (Err(_), _) => self.index = None,
            (Ok(()), Some(observer)) => observer.written(bytes, started.elapsed()),
            (Ok(()), None) => {}
        }
        result
    }

    /// Reads one record, checking its checksum.
    fn get<T: serde::de::DeserializeOwned>(
        &self,
        cf_name: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let value = self
            .disk
            .get(cf_name, key)
            .map_err(StoreError::io("reading a record"))?;
        value
            .map(|value| record::open(cf_name, key, &value))
            .transpose()
    }

    /// Calls `visit` with every key and value of a column family, in key order, starting
    /// at `from`.
    fn for_each(
        &self,
        cf_name: &'static str,
        from: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<Visit, StoreError>,
    ) -> Result<(), StoreError> {
        self.disk.scan(cf_name, from, &mut visit)
    }

    fn is_empty(&self) -> Result<bool, StoreError> {
        for name in COLUMN_FAMILIES {
            let mut empty = true;
            self.for_each(name, &[], |_, _| {
                empty = false;
                Ok(Visit::Stop)
            })?;
            if !empty {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the identity record into a new store, or checks the one there.
    fn check_identity(&mut self, identity: &StoreIdentity) -> Result<(), StoreError> {
        if let Some(found) = self.get::<IdentityRecord>(META, IDENTITY_KEY)? {
            return found.check(identity, &self.path);
        }
        if !self.is_empty()? {
            return Err(StoreError::ForeignDirectory {
                path: self.path.clone(),
                expected: IdentityRecord::current(identity).to_string(),
                found: "a store with records but no identity record".to_owned(),
            });
        }
        let mut batch = WriteBatch::default();
        let record = IdentityRecord::current(identity);
        batch.put_cf(
            META,
            IDENTITY_KEY,
            record::seal(META, IDENTITY_KEY, &record),
        );
        self.write(batch, "writing the identity record")
    }

    /// The index of what is on disk, read from disk.
    fn read_index(&self) -> Result<Index, StoreError> {
        let (state, batches) = self.load_with_batch_keys()?;
        Ok(Index::of(&state, self.checkpoint_seqs()?, batches))
    }
}

/// Refuses a RocksDB database that is not a Rampart store before opening it: opening would
/// add Rampart's column families to it.
fn refuse_other_databases(path: &Path, identity: &StoreIdentity) -> Result<(), StoreError> {
    let Some(names) =
        RocksDisk::column_families_in(path).map_err(StoreError::io("listing column families"))?
    else {
        return Ok(());
    };
    let foreign: Vec<&String> = names
        .iter()
        .filter(|name| *name != "default" && !COLUMN_FAMILIES.contains(&name.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(StoreError::ForeignDirectory {
        path: path.to_owned(),
        expected: IdentityRecord::current(identity).to_string(),
        found: format!("a RocksDB database with other column families {foreign:?}"),
    })
}

#[cfg(test)]
impl Store {
    /// Writes a raw value under `key`, past the checksums: for tests that damage records.
    pub(crate) fn put_raw(&mut self, cf: &'static str, key: &[u8], value: Vec<u8>) {
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, key, value);
        self.disk.write(batch, false).expect("writes");
    }

    /// Flips a bit of the stored snapshot chunk whose digest is `digest`, as a failing
    /// medium would.
    pub(crate) fn damage_snapshot_chunk(&mut self, digest: &rampart_crypto::Digest) {
        let key = layout::chunk_key(digest);
        let mut value = self
            .get_raw(layout::SNAPSHOTS, &key)
            .expect("a stored chunk");
        let last = value.len() - 1;
        value[last] ^= 0x01;
        self.put_raw(layout::SNAPSHOTS, &key, value);
    }

    pub(crate) fn delete_raw(&mut self, cf: &'static str, key: &[u8]) {
        let mut batch = WriteBatch::default();
        batch.delete_cf(cf, key);
        self.disk.write(batch, false).expect("deletes");
    }

    pub(crate) fn get_raw(&self, cf: &'static str, key: &[u8]) -> Option<Vec<u8>> {
        self.disk.get(cf, key).expect("reads")
    }

    /// Every key and value of a column family, in key order.
    pub(crate) fn raw_entries(&self, cf: &'static str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries = Vec::new();
        self.for_each(cf, &[], |key, value| {
            entries.push((key.to_vec(), value.to_vec()));
            Ok(Visit::Continue)
        })
        .expect("reads");
        entries
    }
}
