//! The public keys file `rampart init --public-keys` reads: one line per replica and per
//! client, so that a cluster's files can be written from public keys alone while every
//! private key stays on the host that generated it (`rampart keygen`).
//!
//! ```text
//! # role index public-key (the 64 hex characters `rampart keygen` prints)
//! replica 0 bb924d9a4ae0b2330e84bcd0f24ce9dfb2fb017c4f33b2b3bc39d066dc3d4255
//! replica 1 …
//! replica 2 …
//! replica 3 …
//! client 0 …
//! ```
//!
//! Fields are separated by spaces or tabs. Blank lines and lines starting with `#` are
//! ignored, and the lines may come in any order, but the replicas must be numbered 0 to
//! n-1 and the clients 0 to m-1, each once. No two lines may hold the same key: a replica
//! or client that shared a key could sign as the other.

use std::collections::HashMap;
use std::path::Path;

use rampart_crypto::PublicKey;

use crate::failure::Failure;

/// Who a public key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Replica,
    Client,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Replica => "replica",
            Role::Client => "client",
        }
    }
}

/// Every replica's and client's public key, by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeys {
    pub replicas: Vec<PublicKey>,
    pub clients: Vec<PublicKey>,
}

impl PublicKeys {
    /// Reads and checks a public keys file; an error names the file and, for a line, its
    /// number.
    pub fn load(path: &Path) -> Result<PublicKeys, Failure> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Failure::config(format_args!(
                "cannot read the public keys file {}: {error}; check the path given to \
                 --public-keys",
                path.display()
            ))
        })?;
        PublicKeys::parse(&text)
            .map_err(|message| Failure::config(format_args!("{}{message}", path.display())))
    }

    /// Parses the file's text. The error starts with `", line N: "` when a line is to
    /// blame, or with `": "`.
    pub fn parse(text: &str) -> Result<PublicKeys, String> {
        // Where each (role, index) and each key was first seen, by line number.
        let mut entries: HashMap<(Role, usize), (PublicKey, usize)> = HashMap::new();
        let mut keys: HashMap<PublicKey, (Role, usize, usize)> = HashMap::new();
        for (number, line) in (1..).zip(text.lines()) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at_line = |message: String| format!(", line {number}: {message}");
            let (role, index, key) = parse_line(line).map_err(at_line)?;
            if let Some((_, first)) = entries.get(&(role, index)) {
                return Err(at_line(format!(
                    "{} {index} is listed again (first on line {first}); list each {} once",
                    role.name(),
                    role.name()
                )));
            }
            if let Some((owner, owner_index, first)) = keys.get(&key) {
                return Err(at_line(format!(
                    "{} {index} has the same public key as {} {owner_index} on line {first}; \
                     every replica and client needs its own key: run `rampart keygen` on \
                     each host",
                    role.name(),
                    owner.name()
                )));
            }
            entries.insert((role, index), (key, number));
            keys.insert(key, (role, index, number));
        }
        Ok(PublicKeys {
            replicas: numbered(&entries, Role::Replica)?,
            clients: numbered(&entries, Role::Client)?,
        })
    }
}

/// One line's role, index and key.
fn parse_line(line: &str) -> Result<(Role, usize, PublicKey), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [role, index, key] = fields[..] else {
        return Err(format!(
            "expected `replica <i> <public key>` or `client <j> <public key>`, found {line:?}"
        ));
    };
    let role = match role {
        "replica" => Role::Replica,
        "client" => Role::Client,
        other => {
            return Err(format!(
                "{other:?} is not a role; write `replica` or `client`"
            ));
        }
    };
    let index: usize = index.parse().map_err(|_| {
        format!(
            "{index:?} is not an index; number the {}s 0, 1, 2, …",
            role.name()
        )
    })?;
    let key: PublicKey = key.parse().map_err(|error| {
        format!(
            "the public key of {} {index}: {error}; copy the line `rampart keygen` printed",
            role.name()
        )
    })?;
    Ok((role, index, key))
}

/// The keys of one role in index order; every index from 0 up must be present.
fn numbered(
    entries: &HashMap<(Role, usize), (PublicKey, usize)>,
    role: Role,
) -> Result<Vec<PublicKey>, String> {
    let count = entries.keys().filter(|(other, _)| *other == role).count();
    (0..count)
        .map(|index| {
            entries
                .get(&(role, index))
                .map(|(key, _)| *key)
                .ok_or_else(|| {
                    let name = role.name();
                    let highest = entries
                        .keys()
                        .filter(|(other, _)| *other == role)
                        .map(|(_, index)| *index)
                        .max()
                        .unwrap_or(0);
                    format!(
                        ": {name} {index} is missing (the file lists {name}s up to {highest}); \
                         number the {name}s 0 to {}",
                        count - 1
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    fn key(seed: u64) -> PublicKey {
        KeyPair::from_seed(seed).public_key()
    }

    #[test]
    fn lines_in_any_order_with_comments_give_keys_by_index() {
        let text = format!(
            "# keys\n\nclient 0 {}\nreplica 1 {}\n\treplica  0\t{}  \n# done\n",
            key(3),
            key(2),
            key(1)
        );
        let keys = PublicKeys::parse(&text).expect("parses");
        assert_eq!(keys.replicas, [key(1), key(2)]);
        assert_eq!(keys.clients, [key(3)]);
        assert_eq!(
            PublicKeys::parse("").expect("parses"),
            PublicKeys {
                replicas: Vec::new(),
                clients: Vec::new()
            }
        );
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let cases = [
            (
                format!("replica 0 {}\nreplica 1", key(1)),
                "line 2: expected",
            ),
            (
                format!("node 0 {}", key(1)),
                "line 1: \"node\" is not a role",
            ),
            (
                format!("client -1 {}", key(1)),
                "line 1: \"-1\" is not an index",
            ),
            (
                "client 0 00".to_string(),
                "line 1: the public key of client 0",
            ),
            (
                format!("replica 0 {}\n\nreplica 0 {}", key(1), key(2)),
                "line 3: replica 0 is listed again (first on line 1)",
            ),
            (
                format!("replica 0 {}\nclient 0 {}", key(1), key(1)),
                "line 2: client 0 has the same public key as replica 0 on line 1",
            ),
            (
                format!("replica 0 {}\nreplica 2 {}", key(1), key(2)),
                ": replica 1 is missing",
            ),
        ];
        for (text, expected) in cases {
            let error = PublicKeys::parse(&text).expect_err(&text);
            assert!(error.contains(expected), "{error}");
            assert!(
                error.starts_with(", line") || error.starts_with(": "),
                "{error}"
            );
        }
    }
}
