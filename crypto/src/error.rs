use std::path::PathBuf;

/// Errors from key handling, encoding and signature checks.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A signature did not verify against the claimed signer's key.
    #[error("invalid signature")]
    InvalidSignature,
    /// Bytes that should hold an ed25519 public key do not.
    #[error("invalid public key: {reason}")]
    InvalidPublicKey { reason: String },
    /// A value could not be encoded for signing.
    #[error("cannot encode {kind} for signing: {reason}")]
    Encode { kind: &'static str, reason: String },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {reason}")]
    Random { reason: String },
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFileIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key file exists but does not hold a key in Rampart's format.
    #[error("key file {path} is malformed: {reason}")]
    KeyFileFormat { path: PathBuf, reason: String },
    /// A new key file was to be created where a file already is; keys are never replaced
    /// by accident.
    #[error("{} already exists; a key file is never replaced", path.display())]
    KeyFileExists { path: PathBuf },
    /// A private key file can be accessed by users other than its owner (its group or
    /// anyone else).
    #[error(
        "private key file {} has mode {mode:04o}, which lets its group or other users access \
         it; a private key must be readable by its owner only: run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },
}
