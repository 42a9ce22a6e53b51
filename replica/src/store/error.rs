//! Why the store failed. Every variant is fatal for the replica: it stops rather than run
//! on storage it cannot trust, because a replica that forgets what it signed may later
//! contradict itself (equivocate).

use std::path::PathBuf;

use rampart_crypto::Digest;

use crate::message::Seq;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB or the file system failed. A full disk shows up here too (RocksDB reports
    /// ENOSPC as an I/O error and then refuses further writes).
    #[error(
        "storage failed while {operation}: {source}; the replica must stop (check free disk \
         space, permissions and the device's health, then restart it)"
    )]
    Io {
        operation: &'static str,
        #[source]
        source: super::disk::DiskError,
    },

    /// A stored value failed its checksum or could not be decoded. Nothing of it is used.
    ///
    /// Starting the replica afresh on an empty directory under the same key is not a fix:
    /// it would have forgotten what it signed, and could contradict it.
    #[error(
        "stored record {key} in column family `{cf}` is corrupted: {reason}; the replica \
         refuses to run on damaged state (restore the data directory from a backup, or \
         re-provision this replica with a new key and an empty directory)"
    )]
    Corrupted {
        cf: &'static str,
        /// The record's key, in hex.
        key: String,
        reason: String,
    },

    /// The data directory belongs to another replica, another cluster, or a newer version.
    #[error(
        "the data directory {path} was written for {found}, but this replica is {expected}; \
         point the replica at its own data directory (a new replica needs an empty one)"
    )]
    ForeignDirectory {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// A column family the store opened is gone: a bug, not a disk problem.
    #[error("column family `{cf}` is missing from the open store")]
    MissingColumnFamily { cf: &'static str },

    /// A different checkpoint state is already stored at this sequence number. Two states
    /// for one sequence number mean the application is not deterministic.
    #[error(
        "a checkpoint state with digest {stored} is stored at {seq}, refusing another with \
         digest {offered}"
    )]
    ConflictingCheckpoint {
        seq: Seq,
        stored: Digest,
        offered: Digest,
    },

    /// The snapshot and reply cache do not hash to the state digest they are stored under.
    #[error(
        "the checkpoint state for {seq} has digest {computed}, not the expected {expected}; \
         it was not stored"
    )]
    StateDigestMismatch {
        seq: Seq,
        expected: Digest,
        computed: Digest,
    },

    /// A snapshot being written did not have the length announced for it.
    #[error(
        "the snapshot for {seq} was announced as {expected_len} bytes but {received_len} arrived"
    )]
    SnapshotLengthMismatch {
        seq: Seq,
        expected_len: u64,
        received_len: u64,
    },

    /// A transfer was begun for a checkpoint state the store already holds.
    #[error("a checkpoint state for {seq} is stored already; there is nothing to transfer")]
    CheckpointExists { seq: Seq },

    /// A chunk or the end of an incoming snapshot arrived with no transfer under way.
    #[error("no incoming snapshot is being written")]
    NoIncomingSnapshot,

    /// A chunk offered for the incoming snapshot is not the one its manifest lists there.
    #[error("chunk {index} is not the one the manifest of the incoming snapshot for {seq} lists")]
    ChunkNotInManifest { seq: Seq, index: u32 },

    /// The incoming snapshot was to be completed before every chunk arrived.
    #[error("the incoming snapshot for {seq} lacks chunks; it was not stored")]
    IncompleteSnapshot { seq: Seq },

    /// Two writers for one sequence number at once.
    #[error("a snapshot for {seq} is already being written")]
    SnapshotInProgress { seq: Seq },
}

impl StoreError {
    /// Wraps a RocksDB error with what the store was doing.
    pub(crate) fn io(operation: &'static str) -> impl FnOnce(super::disk::DiskError) -> StoreError {
        move |source| StoreError::Io { operation, source }
    }
}
