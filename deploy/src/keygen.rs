//! `rampart keygen`: one private key, made on the host that will use it.
//!
//! Each replica's (and client's) host runs `keygen`, keeps the private key, and hands only
//! the public key it prints to whoever runs `rampart init --public-keys`. No private key
//! then ever leaves its host.
//!
//! `rampart install-key` copies a key that a platform hands in with permissions of its own
//! into an owner-only file: Kubernetes mounts a Secret readable by the pod's group, which
//! `rampart replica` refuses, so an init container copies it first.

use std::path::PathBuf;

use rampart_crypto::{
    CryptoError, KeyPair, create_key_pair, load_key_pair, load_key_pair_any_mode,
};

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

/// Copies a private key into a new owner-only file, and prints its public key.
#[derive(Debug, clap::Args)]
pub struct InstallKeyArgs {
    /// The key as the platform hands it in (a mounted Secret), whatever its permissions.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The owner-only copy to create (mode 0600). An existing file is kept if it holds
    /// the same key, and refused otherwise.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `rampart install-key`: the public key, 64 hex characters, is the only line on
/// stdout.
pub fn install(args: &InstallKeyArgs) -> Result<(), Failure> {
    let key = load_key_pair_any_mode(&args.from).map_err(|error| match error {
        CryptoError::KeyFileIo { .. } => {
            Failure::config(format_args!("{error}; check the path given to --from"))
        }
        other => Failure::config(format_args!(
            "{other}; --from must be a key file written by `rampart keygen` or `rampart init`"
        )),
    })?;
    match create_key_pair(&args.out, &key) {
        Ok(()) => {}
        // A restarted init container finds its earlier copy: the same key is fine.
        Err(CryptoError::KeyFileExists { .. })
            if load_key_pair(&args.out)
                .is_ok_and(|installed| installed.public_key() == key.public_key()) => {}
        Err(error @ CryptoError::KeyFileExists { .. }) => {
            return Err(Failure::config(format_args!(
                "{error} and holds another key, or is not owner-only; remove it, or choose \
                 another --out"
            )));
        }
        Err(other) => {
            return Err(Failure::runtime(format_args!(
                "{other}; check that the directory exists and is writable"
            )));
        }
    }
    println!("{}", key.public_key());
    Ok(())
}
