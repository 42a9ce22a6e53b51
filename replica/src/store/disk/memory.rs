//! [`Disk`] in memory, for the deterministic simulator: the real store's code runs on it,
//! and a crash applies a seeded storage fault (see [`DiskFault`]).

use std::collections::BTreeMap;

use super::super::StoreError;
use super::{Disk, DiskError, Visit, Visitor, WriteBatch, WriteOp};

type Table = BTreeMap<Vec<u8>, Vec<u8>>;
type Tables = BTreeMap<&'static str, Table>;
/// A key's value before a write: what undoing the write puts back.
type Undo = Vec<(&'static str, Vec<u8>, Option<Vec<u8>>)>;

/// What a crash does to the disk besides losing what was never synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFault {
    /// The unsynced writes go, a seeded prefix of them excepted (the part the operating
    /// system had written when the power went).
    None,
    /// The last write reported done is torn and dropped on recovery, as a write-ahead log
    /// drops a torn tail record: a device that acknowledged a write it had not made
    /// durable. The replica may have acted on it.
    TornLastWrite,
    /// One bit of one stored value flips; `pick` chooses the value among all of them.
    Corrupt { pick: u64 },
}

/// Ordered tables in memory, with the part that survives a crash kept apart.
#[derive(Debug, Default)]
pub struct MemoryDisk {
    /// What reads see.
    live: Tables,
    /// What a crash keeps: every synced write.
    durable: Tables,
    /// Written without sync since the last synced write, oldest first.
    unsynced: Vec<WriteBatch>,
    /// How to undo the last write applied to `durable`: each key's earlier value.
    last_undo: Undo,
    writes: u64,
}

/// Applies `op` to `tables`, recording what it replaced in `undo` if given.
fn apply(tables: &mut Tables, op: &WriteOp, mut undo: Option<&mut Undo>) {
    match op {
        WriteOp::Put { cf, key, value } => {
            let before = tables
                .entry(cf)
                .or_default()
                .insert(key.clone(), value.clone());
            if let Some(undo) = undo.as_mut() {
                undo.push((cf, key.clone(), before));
            }
        }
        WriteOp::Delete { cf, key } => {
            let before = tables.entry(cf).or_default().remove(key);
            if let Some(undo) = undo.as_mut() {
                undo.push((cf, key.clone(), before));
            }
        }
        WriteOp::DeleteRange { cf, from, to } => {
            let table = tables.entry(cf).or_default();
            if from >= to {
                return;
            }
            let keys: Vec<Vec<u8>> = table
                .range(from.clone()..to.clone())
                .map(|(key, _)| key.clone())
                .collect();
            for key in keys {
                let before = table.remove(&key);
                if let Some(undo) = undo.as_mut() {
                    undo.push((cf, key, before));
                }
            }
        }
    }
}

impl MemoryDisk {
    pub fn new() -> MemoryDisk {
        MemoryDisk::default()
    }

    /// Writes applied so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Bytes of keys and values stored.
    pub fn stored_bytes(&self) -> usize {
        self.live
            .values()
            .flat_map(|table| table.iter())
            .map(|(key, value)| key.len() + value.len())
            .sum()
    }

    /// Whether nothing at all is stored.
    pub fn is_empty(&self) -> bool {
        self.live.values().all(BTreeMap::is_empty)
    }

    /// The power goes: of the unsynced writes, the first `unsynced_kept` survive (they
    /// reached the medium), the others are lost; then `fault` strikes. Returns what the
    /// fault damaged, for the report.
    pub fn crash(&mut self, unsynced_kept: usize, fault: DiskFault) -> Option<String> {
        let unsynced = std::mem::take(&mut self.unsynced);
        for batch in unsynced.iter().take(unsynced_kept) {
            self.make_durable(batch);
        }
        let damage = match fault {
            DiskFault::None => None,
            DiskFault::TornLastWrite => {
                let undone = self.last_undo.len();
                for (cf, key, before) in std::mem::take(&mut self.last_undo).into_iter().rev() {
                    let table = self.durable.entry(cf).or_default();
                    match before {
                        Some(value) => table.insert(key, value),
                        None => table.remove(&key),
                    };
                }
                (undone > 0).then(|| format!("the last write ({undone} records) torn"))
            }
            DiskFault::Corrupt { pick } => {
                let count: usize = self.durable.values().map(BTreeMap::len).sum();
                if count == 0 {
                    None
                } else {
                    let mut index = (pick % count as u64) as usize;
                    let mut damaged = None;
                    for (cf, table) in self.durable.iter_mut() {
                        if index >= table.len() {
                            index -= table.len();
                            continue;
                        }
                        if let Some((key, value)) = table.iter_mut().nth(index) {
                            let at = (pick as usize / 7) % value.len().max(1);
                            if let Some(byte) = value.get_mut(at) {
                                *byte ^= 1 << (pick % 8);
                            }
                            damaged = Some(format!(
                                "a bit of record {} in `{cf}` flipped",
                                hex::encode(key)
                            ));
                        }
                        break;
                    }
                    damaged
                }
            }
        };
        self.last_undo.clear();
        self.live = self.durable.clone();
        damage
    }

    /// `batch` reaches the medium. Its undo record replaces the previous one, so a torn
    /// last write undoes exactly this batch, whole.
    fn make_durable(&mut self, batch: &WriteBatch) {
        self.last_undo.clear();
        for op in &batch.ops {
            apply(&mut self.durable, op, Some(&mut self.last_undo));
        }
    }

    /// Everything is gone: the replica is re-provisioned on an empty disk.
    pub fn wipe(&mut self) {
        *self = MemoryDisk::default();
    }
}

impl Disk for MemoryDisk {
    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, DiskError> {
        Ok(self.live.get(cf).and_then(|table| table.get(key)).cloned())
    }

    fn write(&mut self, batch: WriteBatch, sync: bool) -> Result<(), DiskError> {
        self.writes += 1;
        for op in &batch.ops {
            apply(&mut self.live, op, None);
        }
        self.unsynced.push(batch);
        if sync {
            for batch in std::mem::take(&mut self.unsynced) {
                self.make_durable(&batch);
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        cf: &'static str,
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        let Some(table) = self.live.get(cf) else {
            return Ok(());
        };
        for (key, value) in table.range(from.to_vec()..) {
            if visit(key, value)? == Visit::Stop {
                break;
            }
        }
        Ok(())
    }

    fn last_key(&self, cf: &'static str) -> Result<Option<Vec<u8>>, DiskError> {
        Ok(self
            .live
            .get(cf)
            .and_then(|table| table.keys().next_back())
            .cloned())
    }

    fn usage_bytes(&self) -> Result<u64, DiskError> {
        Ok(self.stored_bytes() as u64)
    }

    fn compact(&self) -> Result<(), DiskError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(disk: &mut MemoryDisk, key: u8, sync: bool) {
        let mut batch = WriteBatch::default();
        batch.put_cf("t", [key], vec![key; 4]);
        disk.write(batch, sync).expect("writes");
    }

    fn keys(disk: &MemoryDisk) -> Vec<u8> {
        let mut keys = Vec::new();
        disk.scan("t", &[], &mut |key, _| {
            keys.push(key[0]);
            Ok(Visit::Continue)
        })
        .expect("scans");
        keys
    }

    #[test]
    fn a_crash_keeps_synced_writes_and_a_prefix_of_the_unsynced_ones() {
        let mut disk = MemoryDisk::new();
        put(&mut disk, 1, true);
        put(&mut disk, 2, false);
        put(&mut disk, 3, false);
        put(&mut disk, 4, false);
        assert_eq!(keys(&disk), [1, 2, 3, 4]);
        assert_eq!(disk.crash(1, DiskFault::None), None);
        assert_eq!(keys(&disk), [1, 2]);
    }

    #[test]
    fn a_torn_last_write_is_undone_whole() {
        let mut disk = MemoryDisk::new();
        put(&mut disk, 1, true);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf("t", &[0], &[9]);
        batch.put_cf("t", [5], vec![5]);
        disk.write(batch, true).expect("writes");
        assert_eq!(keys(&disk), [5]);
        assert!(disk.crash(0, DiskFault::TornLastWrite).is_some());
        assert_eq!(keys(&disk), [1]);
    }

    #[test]
    fn corruption_flips_one_bit_of_one_value() {
        let mut disk = MemoryDisk::new();
        put(&mut disk, 1, true);
        put(&mut disk, 2, true);
        assert!(disk.crash(0, DiskFault::Corrupt { pick: 9 }).is_some());
        let changed: usize = [1u8, 2]
            .iter()
            .map(|key| {
                let value = disk.get("t", &[*key]).expect("reads").expect("present");
                value
                    .iter()
                    .zip([*key; 4])
                    .filter(|(a, b)| **a != *b)
                    .count()
            })
            .sum();
        assert_eq!(changed, 1);
    }
}
