//! Why the store failed. Every variant is fatal for the replica: it stops rather than run
//! on storage it cannot trust, because a replica that forgets what it signed may later
//! contradict itself (equivocate).

use std::path::PathBuf;

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
        source: rocksdb::Error,
    },

    /// A file beside the database (a WAL file, when measuring disk use) could not be read.
    #[error("storage failed while {operation} at {path}: {source}")]
    File {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
}

impl StoreError {
    /// Wraps a RocksDB error with what the store was doing.
    pub(crate) fn io(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError {
        move |source| StoreError::Io { operation, source }
    }
}
