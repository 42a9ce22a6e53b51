//! Key files (`crypto/src/keyfile.rs`): a replica's or client's private key, and public
//! keys, read from disk as `rampart` reads them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;

use rampart_crypto::{load_key_pair, load_public_key};

use crate::Outcome;

pub fn run(data: &[u8]) -> Outcome {
    static DIRECTORY: OnceLock<tempfile::TempDir> = OnceLock::new();
    let directory = DIRECTORY.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let path = directory.path().join("fuzz.key");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .expect("a temporary file");
    file.write_all(data).expect("written");
    drop(file);
    let secret = load_key_pair(&path);
    let public = load_public_key(&path);
    if let Ok(key_pair) = &secret {
        key_pair.public_key();
    }
    match (secret, public) {
        (Err(_), Err(_)) => Outcome::Refused,
        _ => Outcome::Accepted,
    }
}
