//! `rampart keygen`: one private key, made on the host that will use it.
//!
//! Each replica's (and client's) host runs `keygen`, keeps the private key, and hands only
//! the public key it prints to whoever runs `rampart init --public-keys`. No private key
//! then ever leaves its host.

use std::path::PathBuf;

use rampart_crypto::{CryptoError, KeyPair, create_key_pair};

use crate::failure::Failure;

/// Writes a new private key and prints its public key.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The private key file to create (mode 0600). An existing file is never replaced.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `rampart keygen`: the public key, 64 hex characters, is the only line on stdout.
pub fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let key = KeyPair::generate()
        .map_err(|error| Failure::runtime(format_args!("cannot generate a key: {error}")))?;
    create_key_pair(&args.out, &key).map_err(|error| match error {
        CryptoError::KeyFileExists { .. } => Failure::config(format_args!(
            "{error}: choose another --out, or delete the file first if its key is really to \
             be replaced (the cluster files list its public key, so they must change too)"
        )),
        other => Failure::runtime(format_args!(
            "{other}; check that the directory exists and is writable"
        )),
    })?;
    println!("{}", key.public_key());
    Ok(())
}
