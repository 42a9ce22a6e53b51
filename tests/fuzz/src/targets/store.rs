//! `store/`: the records a replica reads back from RocksDB when it opens its store, each
//! decoded as opening decodes it ([`check_value`]).
//!
//! Input: a byte choosing the column family (its high bit: take the value as is, without
//! a valid checksum), a u16-prefixed key, then the payload. With a valid checksum the
//! fuzzer reaches the record decoders, which a checksum it cannot forge would hide.

use rampart_replica::store::inspect::{check_value, seal_value};

use super::outcome;
use crate::fixture::REPLICA_COUNT;
use crate::{Choices, Outcome};

/// The column families, in the order of the selector byte.
pub const COLUMN_FAMILIES: [&str; 9] = [
    "meta",
    "messages",
    "prepared",
    "decided",
    "batches",
    "evidence",
    "checkpoints",
    "snapshots",
    "default",
];

/// The selector bit for a value taken as is.
pub const RAW_VALUE: u8 = 0x80;

pub fn run(data: &[u8]) -> Outcome {
    let mut choices = Choices::new(data);
    let selector = choices.byte();
    let cf = COLUMN_FAMILIES[usize::from(selector & !RAW_VALUE) % COLUMN_FAMILIES.len()];
    let key = choices.slice();
    let payload = choices.rest();
    let value = if selector & RAW_VALUE != 0 {
        payload.to_vec()
    } else {
        seal_value(cf, key, payload)
    };
    outcome(check_value(cf, key, &value, REPLICA_COUNT))
}
