//! How the store configures RocksDB; the reasons are in the [module docs](super).

use rocksdb::{ColumnFamilyDescriptor, DBRecoveryMode, Options};

use super::layout::{COLUMN_FAMILIES, SNAPSHOTS};

/// Choices of the store's user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Sync the write-ahead log to disk (fsync) on every commit. On by default: without it
    /// a power failure can lose writes the replica already acted on, which may make it
    /// contradict itself after restart. Turn it off only for tests and benchmarks, or on
    /// storage with a non-volatile write cache.
    pub sync: bool,
    /// The size of one column family's in-memory write buffer. It sets the scale of the
    /// disk footprint: the write-ahead log is capped at 16 of them (RocksDB then flushes
    /// the oldest buffers so it can drop old log files), the snapshot column family uses 4.
    /// What the replica keeps is bounded by the watermark window; the files around it are
    /// bounded by these caps.
    pub memtable_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            sync: true,
            memtable_bytes: 4 * MIB,
        }
    }
}

const MIB: usize = 1 << 20;

/// The database-wide options.
pub fn database_options(store: &StoreOptions) -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    options.set_paranoid_checks(true);
    options.set_db_write_buffer_size(16 * store.memtable_bytes);
    options.set_max_total_wal_size(16 * store.memtable_bytes as u64);
    options.set_max_background_jobs(2);
    // RocksDB's own log of flushes and compactions: warnings and errors only, in at most
    // two files of 1 MiB, so it does not grow with the run.
    options.set_log_level(rocksdb::LogLevel::Warn);
    options.set_keep_log_file_num(2);
    options.set_max_log_file_size(MIB);
    options
}

fn column_family_options(name: &str, store: &StoreOptions) -> Options {
    let mut options = Options::default();
    let write_buffer_size = if name == SNAPSHOTS {
        4 * store.memtable_bytes
    } else {
        store.memtable_bytes
    };
    options.set_write_buffer_size(write_buffer_size);
    options.set_max_write_buffer_number(2);
    options.set_target_file_size_base(write_buffer_size as u64 * 2);
    options.set_level_compaction_dynamic_level_bytes(true);
    options.set_compression_type(rocksdb::DBCompressionType::None);
    options
}

/// The column families to open.
pub fn column_families(store: &StoreOptions) -> Vec<ColumnFamilyDescriptor> {
    COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, column_family_options(name, store)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::path::{Path, PathBuf};

    use super::super::fixture::{self, REPLICA_COUNT};
    use super::*;
    use crate::core::{PersistOp, PersistedState};
    use crate::message::{Seq, View};

    /// The write-ahead log file with the highest number: the one written last.
    fn newest_wal(dir: &Path) -> PathBuf {
        std::fs::read_dir(dir)
            .expect("lists directory")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "log"))
            .max()
            .expect("a write-ahead log")
    }

    #[test]
    fn a_torn_final_write_is_dropped_on_reopen_and_earlier_ones_kept() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let mut model = PersistedState::default();
        for seq in (1..=3).map(Seq) {
            let batch = fixture::batch(2, 32);
            let ops = vec![
                PersistOp::Message(fixture::pre_prepare(View(0), seq, batch.clone())),
                PersistOp::Decided(fixture::commit_certificate(View(0), seq, &batch)),
            ];
            for op in &ops {
                model.apply(op, REPLICA_COUNT);
            }
            store.commit(&ops, &[]).expect("commits");
        }
        let intact = model.clone();
        // The last batch carries a large PRE-PREPARE, so cutting 200 bytes off the log
        // tears that batch and nothing before it.
        let batch = fixture::batch(8, 128);
        let torn = PersistOp::Message(fixture::pre_prepare(View(0), Seq(4), batch));
        store.commit(&[torn], &[]).expect("commits");
        drop(store);

        let wal = newest_wal(dir.path());
        let file = OpenOptions::new()
            .write(true)
            .open(&wal)
            .expect("opens log");
        let len = file.metadata().expect("metadata").len();
        file.set_len(len - 200).expect("truncates");
        drop(file);

        let store = fixture::open(dir.path(), StoreOptions::default());
        assert_eq!(store.load().expect("loads"), intact);
    }
}
