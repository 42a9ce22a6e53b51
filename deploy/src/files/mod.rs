//! The files `rampart init` writes and the other commands read:
//!
//! - [`cluster`]: `cluster.toml`, the description every replica and client shares, with
//!   [`clients`], its table of admitted clients;
//! - [`replica`]: `replica-<i>.toml`, one replica's settings;
//! - [`client`]: `client-<j>.toml`, one client's settings;
//! - [`public_keys`]: the public keys `rampart init --public-keys` builds a cluster from.
//!
//! Paths inside a file are relative to the directory of that file, so that a generated
//! directory can be moved or mounted elsewhere as a whole. Every reader refuses unknown
//! fields: a misspelt setting is an error, not a silently ignored line.

pub mod client;
pub mod clients;
pub mod cluster;
pub mod document;
pub mod encoding;
pub mod public_keys;
pub mod replica;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::failure::Failure;

/// Reads and parses a TOML file. The error names the file and the line, on one line.
pub fn load<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        Failure::config(format_args!(
            "cannot read {what} {}: {error}; check the path",
            path.display()
        ))
    })?;
    parse(&text).map_err(|message| Failure::config(format_args!("{}{message}", path.display())))
}

/// Parses TOML text; the error starts with the line and column it is about, if any
/// (`", line 3, column 5: ..."`), or with `": "`.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|error| {
        // Some messages span lines ("invalid string\nexpected ..."); a comma keeps
        // them readable on one.
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        let message = message.trim_end_matches('.');
        match error.span() {
            Some(span) => {
                let (line, column) = line_and_column(text, span.start);
                format!(", line {line}, column {column}: {message}")
            }
            None => format!(": {message}"),
        }
    })
}

/// One-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |newline| {
            before[newline + 1..].chars().count()
        })
        + 1;
    (line, column)
}

/// A path from inside `file`, resolved against the directory `file` is in.
pub fn resolve(file: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match file.parent() {
        Some(directory) => directory.join(path),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        assert_eq!(line_and_column(text, 8), (2, 3));
    }

    #[test]
    fn relative_paths_are_resolved_beside_the_file() {
        let file = Path::new("out/replica-0.toml");
        assert_eq!(
            resolve(file, Path::new("cluster.toml")),
            Path::new("out/cluster.toml")
        );
        assert_eq!(resolve(file, Path::new("/etc/x")), Path::new("/etc/x"));
        assert_eq!(
            resolve(Path::new("replica-0.toml"), Path::new("k.key")),
            Path::new("k.key")
        );
    }
}
