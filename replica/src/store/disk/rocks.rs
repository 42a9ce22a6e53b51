//! [`Disk`] on RocksDB: what a replica process writes on. The options and the reasons for
//! them are in `options.rs` and the store's module docs.

use std::fmt;
use std::path::{Path, PathBuf};

use rocksdb::{ColumnFamily, DB, Direction, IteratorMode, WriteOptions};

use super::super::layout::COLUMN_FAMILIES;
use super::super::{StoreError, StoreOptions, options};
use super::{Disk, DiskError, Visit, Visitor, WriteBatch, WriteOp};

/// A RocksDB database with the store's column families.
pub struct RocksDisk {
    db: DB,
    path: PathBuf,
}

impl fmt::Debug for RocksDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksDisk")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn error(error: rocksdb::Error) -> DiskError {
    DiskError(error.into_string())
}

impl RocksDisk {
    /// Opens (creating if missing) the database in `path`.
    pub fn open(path: &Path, store: &StoreOptions) -> Result<RocksDisk, DiskError> {
        let db = DB::open_cf_descriptors(
            &options::database_options(store),
            path,
            options::column_families(store),
        )
        .map_err(error)?;
        Ok(RocksDisk {
            db,
            path: path.to_owned(),
        })
    }

    /// The column families of the RocksDB database in `path`, if there is one.
    pub fn column_families_in(path: &Path) -> Result<Option<Vec<String>>, DiskError> {
        if !path.join("CURRENT").exists() {
            return Ok(None);
        }
        DB::list_cf(&rocksdb::Options::default(), path)
            .map(Some)
            .map_err(error)
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, DiskError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| DiskError(format!("column family `{name}` is missing")))
    }
}

impl Disk for RocksDisk {
    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, DiskError> {
        self.db
            .get_pinned_cf(self.cf(cf)?, key)
            .map(|value| value.map(|value| value.to_vec()))
            .map_err(error)
    }

    fn write(&mut self, batch: WriteBatch, sync: bool) -> Result<(), DiskError> {
        let mut rocks = rocksdb::WriteBatch::default();
        for op in batch.ops {
            match op {
                WriteOp::Put { cf, key, value } => rocks.put_cf(self.cf(cf)?, key, value),
                WriteOp::Delete { cf, key } => rocks.delete_cf(self.cf(cf)?, key),
                WriteOp::DeleteRange { cf, from, to } => {
                    rocks.delete_range_cf(self.cf(cf)?, from, to)
                }
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(rocks, &options).map_err(error)
    }

    fn scan(
        &self,
        cf: &'static str,
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let io = |source: DiskError| StoreError::Io {
            operation: "reading records",
            source,
        };
        let mode = IteratorMode::From(from, Direction::Forward);
        for entry in self.db.iterator_cf(self.cf(cf).map_err(io)?, mode) {
            let (key, value) = entry.map_err(|e| io(error(e)))?;
            if visit(&key, &value)? == Visit::Stop {
                break;
            }
        }
        Ok(())
    }

    fn last_key(&self, cf: &'static str) -> Result<Option<Vec<u8>>, DiskError> {
        let mut last = self.db.iterator_cf(self.cf(cf)?, IteratorMode::End);
        match last.next() {
            Some(entry) => Ok(Some(entry.map_err(error)?.0.to_vec())),
            None => Ok(None),
        }
    }

    fn usage_bytes(&self) -> Result<u64, DiskError> {
        let tables: u64 = self
            .db
            .live_files()
            .map_err(error)?
            .iter()
            .map(|file| file.size as u64)
            .sum();
        let read_error = |source: std::io::Error| {
            DiskError(format!(
                "measuring the write-ahead log in {}: {source}",
                self.path.display()
            ))
        };
        let mut wal = 0;
        for entry in std::fs::read_dir(&self.path).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            if entry.file_name().to_string_lossy().ends_with(".log") {
                wal += entry.metadata().map_err(read_error)?.len();
            }
        }
        Ok(tables + wal)
    }

    fn compact(&self) -> Result<(), DiskError> {
        for name in COLUMN_FAMILIES {
            let cf = self.cf(name)?;
            self.db.flush_cf(cf).map_err(error)?;
            self.db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}
