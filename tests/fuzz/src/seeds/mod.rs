//! Seed inputs: valid encodings of everything each target decodes, so that fuzzing starts
//! from deep inputs rather than from bytes that fail on the first field.
//!
//! `cargo run -p rampart-fuzz --bin seed-corpus` writes them to `corpus/<target>/seed-*`;
//! `tests/replay.rs` checks that every seed is still accepted by its target, so a change of
//! format that leaves the seeds behind fails a test.

mod app;
mod config;
mod core;
mod protocol;
mod store;

use rampart_replica::message::encode;
use serde::Serialize;

use app::app_operations;
use config::{client_toml, cluster_toml, key_files, replica_toml};
use core::core;
use protocol::{
    certificate_file, client_frames, frame, messages, peer_frames, replica_frames, state_transfer,
};
use store::store_records;

/// A named seed input.
pub type Seed = (String, Vec<u8>);

/// The seeds of the target called `name`.
pub fn seeds(name: &str) -> Vec<Seed> {
    match name {
        "frame" => frame(),
        "peer_frame" => peer_frames()
            .into_iter()
            .map(|(n, f)| (n, encode(&f)))
            .collect(),
        "client_frame" => client_frames(),
        "message" => messages(),
        "replica_frame" => replica_frames(),
        "certificate_file" => certificate_file(),
        "state_transfer" => state_transfer(),
        "store_record" => store_records(),
        "cluster_toml" => cluster_toml(),
        "replica_toml" => replica_toml(),
        "client_toml" => client_toml(),
        "key_file" => key_files(),
        "app_operation" => app_operations(),
        "core" => core(),
        _ => Vec::new(),
    }
}

fn named<T: Serialize>(name: impl Into<String>, value: &T) -> Seed {
    (name.into(), encode(value))
}

/// Every seed of every target, for the seed writer.
pub fn all() -> Vec<(&'static str, Seed)> {
    crate::TARGETS
        .iter()
        .flat_map(|target| {
            seeds(target.name)
                .into_iter()
                .map(move |seed| (target.name, seed))
        })
        .collect()
}
