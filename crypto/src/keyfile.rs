//! Key files: one line naming the format, one line of hex.
//!
//! A private key file is written with mode 0600 and refused at load time when anyone but
//! its owner (its group included) can read, write or execute it, as ssh does.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::{CryptoError, KeyPair, PublicKey};

const SECRET_HEADER: &str = "rampart-ed25519-secret-key-v1";
const PUBLIC_HEADER: &str = "rampart-ed25519-public-key-v1";

/// Permission bits that must be clear on a private key file: any access by the file's
/// group or by other users.
const GROUP_AND_OTHERS_MASK: u32 = 0o077;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CryptoError + '_ {
    move |source| CryptoError::KeyFileIo {
        path: path.to_path_buf(),
        source,
    }
}

fn format_error(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFileFormat {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn secret_contents(key_pair: &KeyPair) -> String {
    format!(
        "{SECRET_HEADER}\n{}\n",
        hex::encode(key_pair.secret_bytes())
    )
}

/// Writes the key pair's secret to `path` with mode 0600, replacing any file there.
pub fn save_key_pair(path: &Path, key_pair: &KeyPair) -> Result<(), CryptoError> {
    let contents = secret_contents(key_pair);
    let temporary = path.with_extension("tmp");
    let _ = fs::remove_file(&temporary);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io_error(&temporary))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))
}

/// Writes the key pair's secret to a new file at `path` with mode 0600. An existing file
/// is never replaced ([`CryptoError::KeyFileExists`]): it may be the only copy of a key a
/// cluster lists. A write that fails halfway removes what it wrote.
pub fn create_key_pair(path: &Path, key_pair: &KeyPair) -> Result<(), CryptoError> {
    // `create_new` checks and creates in one step, so no other process can slip a file
    // in between, and the mode applies from the first byte.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => CryptoError::KeyFileExists {
                path: path.to_path_buf(),
            },
            _ => io_error(path)(source),
        })?;
    let written = file
        .write_all(secret_contents(key_pair).as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(source) = written {
        let _ = fs::remove_file(path);
        return Err(io_error(path)(source));
    }
    Ok(())
}

/// Reads a key pair written by [`save_key_pair`], refusing a file anyone but its owner can
/// access.
pub fn load_key_pair(path: &Path) -> Result<KeyPair, CryptoError> {
    let metadata = fs::metadata(path).map_err(io_error(path))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & GROUP_AND_OTHERS_MASK != 0 {
        return Err(CryptoError::KeyFilePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    read_key_pair(path)
}

/// Reads a key pair written by [`save_key_pair`] whatever the file's permissions: for
/// copying a key that a platform stores with permissions of its own (Kubernetes mounts a
/// Secret readable by the pod's group) into an owner-only file with [`create_key_pair`].
/// A replica or client loads its key with [`load_key_pair`] only.
pub fn load_key_pair_any_mode(path: &Path) -> Result<KeyPair, CryptoError> {
    read_key_pair(path)
}

fn read_key_pair(path: &Path) -> Result<KeyPair, CryptoError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    let hex_text = body(path, &text, SECRET_HEADER)?;
    let bytes = hex::decode(hex_text).map_err(|e| format_error(path, e.to_string()))?;
    let secret: [u8; 32] = bytes
        .try_into()
        .map_err(|_| format_error(path, "the secret key must be 32 bytes"))?;
    Ok(KeyPair::from_secret(secret))
}

/// Writes a public key to `path` (mode 0644).
pub fn save_public_key(path: &Path, key: &PublicKey) -> Result<(), CryptoError> {
    fs::write(path, format!("{PUBLIC_HEADER}\n{key}\n")).map_err(io_error(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(io_error(path))
}

/// Reads a public key written by [`save_public_key`].
pub fn load_public_key(path: &Path) -> Result<PublicKey, CryptoError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    body(path, &text, PUBLIC_HEADER)?
        .parse()
        .map_err(|e: CryptoError| format_error(path, e.to_string()))
}

fn body<'a>(path: &Path, text: &'a str, header: &str) -> Result<&'a str, CryptoError> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(header) {
        return Err(format_error(
            path,
            format!("the first line must be `{header}`"),
        ));
    }
    let body = lines
        .next()
        .map(str::trim)
        .ok_or_else(|| format_error(path, "the key line is missing"))?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(format_error(path, "unexpected lines after the key"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer;

    #[test]
    fn key_pairs_round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("replica.key");
        let key_pair = KeyPair::from_seed(5);
        save_key_pair(&path, &key_pair).expect("saves");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load_key_pair(&path).expect("loads");
        assert_eq!(loaded.public_key(), key_pair.public_key());
        assert_eq!(loaded.sign(b"m"), key_pair.sign(b"m"));
    }

    #[test]
    fn a_created_key_file_is_private_and_never_replaces_a_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("replica.key");
        create_key_pair(&path, &KeyPair::from_seed(5)).expect("creates");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let before = fs::read(&path).expect("written");
        let error = create_key_pair(&path, &KeyPair::from_seed(6)).expect_err("refused");
        assert!(
            matches!(error, CryptoError::KeyFileExists { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("already exists"), "{error}");
        assert_eq!(fs::read(&path).expect("kept"), before);
        assert_eq!(
            load_key_pair(&path).expect("loads").public_key(),
            KeyPair::from_seed(5).public_key()
        );
        let missing = dir.path().join("missing/replica.key");
        assert!(matches!(
            create_key_pair(&missing, &KeyPair::from_seed(5)),
            Err(CryptoError::KeyFileIo { .. })
        ));
    }

    #[test]
    fn a_world_readable_private_key_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("replica.key");
        save_key_pair(&path, &KeyPair::from_seed(5)).expect("saves");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = load_key_pair(&path).expect_err("must refuse");
        assert!(matches!(
            error,
            CryptoError::KeyFilePermissions { mode: 0o644, .. }
        ));
        assert!(error.to_string().contains("chmod 600"));
    }

    #[test]
    fn a_private_key_the_group_can_access_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("replica.key");
        save_key_pair(&path, &KeyPair::from_seed(5)).expect("saves");
        for mode in [0o640, 0o660, 0o604, 0o620, 0o700 | 0o070] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            let error = load_key_pair(&path).expect_err("must refuse");
            assert!(
                matches!(error, CryptoError::KeyFilePermissions { mode: refused, .. } if refused == mode),
                "mode {mode:o}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains(&format!("{:04o}", mode)), "{message}");
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
        }
        for mode in [0o600, 0o400] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            load_key_pair(&path).expect("an owner-only key file loads");
        }
    }

    #[test]
    fn a_key_can_be_read_whatever_its_mode_only_to_copy_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("secret");
        save_key_pair(&path, &KeyPair::from_seed(5)).expect("saves");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o440)).expect("chmod");
        assert!(load_key_pair(&path).is_err());
        let key = load_key_pair_any_mode(&path).expect("reads");
        assert_eq!(key.public_key(), KeyPair::from_seed(5).public_key());
        fs::write(&path, "not a key\n").expect("write");
        assert!(matches!(
            load_key_pair_any_mode(&path),
            Err(CryptoError::KeyFileFormat { .. })
        ));
    }

    #[test]
    fn malformed_key_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("bad.key");
        for contents in [
            "",
            "not-a-header\naa\n",
            "rampart-ed25519-secret-key-v1\nxyz\n",
        ] {
            fs::write(&path, contents).expect("writes");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            assert!(matches!(
                load_key_pair(&path),
                Err(CryptoError::KeyFileFormat { .. })
            ));
        }
        assert!(matches!(
            load_key_pair(&dir.path().join("missing.key")),
            Err(CryptoError::KeyFileIo { .. })
        ));
    }

    #[test]
    fn public_keys_round_trip() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("replica.pub");
        let key = KeyPair::from_seed(6).public_key();
        save_public_key(&path, &key).expect("saves");
        assert_eq!(load_public_key(&path).expect("loads"), key);
    }
}
