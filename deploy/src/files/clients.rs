//! `cluster.toml`'s `[clients]` table: which clients the replicas admit.
//!
//! ```toml
//! [clients]
//! admission = "listed"          # the default; or "open" to admit any key
//! keys = ["c41e…", "…"]         # the admitted clients' public keys (client-<j>.key)
//! ```
//!
//! Admission is closed by default: a file without the table, or with an empty `keys`,
//! admits no client. `rampart init` lists the clients it makes; an operator adds the
//! public keys of others. Every replica should use the same list (it is in the file they
//! share): a replica also refuses a PRE-PREPARE that holds a request of a client it does
//! not admit, so add a key on every replica before that client starts sending.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use rampart_replica::cluster::ClientAdmission;

use crate::files::document::Fields;
use crate::files::encoding::KeyHex;

/// The table as written. A missing field takes its default: listed admission, no keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientsTable {
    pub admission: AdmissionKind,
    pub keys: Vec<KeyHex>,
}

/// Whether the replicas admit only listed clients or anyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdmissionKind {
    /// Only the keys in `keys`.
    #[default]
    Listed,
    /// Any client with a valid ed25519 key.
    Open,
}

impl ClientsTable {
    /// Admission for exactly `keys`.
    pub fn listed(keys: impl IntoIterator<Item = rampart_crypto::PublicKey>) -> ClientsTable {
        ClientsTable {
            admission: AdmissionKind::Listed,
            keys: keys.into_iter().map(KeyHex).collect(),
        }
    }

    /// Open admission.
    pub fn open() -> ClientsTable {
        ClientsTable {
            admission: AdmissionKind::Open,
            keys: Vec::new(),
        }
    }

    /// Checks the table; the error says what to change in the file.
    pub fn check(&self) -> Result<ClientAdmission, String> {
        match self.admission {
            AdmissionKind::Open if !self.keys.is_empty() => Err(
                "[clients] sets admission = \"open\" and also lists keys, which open \
                 admission would ignore; remove `keys`, or set admission = \"listed\""
                    .to_string(),
            ),
            AdmissionKind::Open => Ok(ClientAdmission::Open),
            AdmissionKind::Listed => {
                let mut keys = BTreeSet::new();
                for (index, key) in self.keys.iter().enumerate() {
                    key.0.validate().map_err(|error| {
                        format!(
                            "[clients] keys[{index}] ({}) is not a usable ed25519 public \
                             key: {error}; copy the client's public key again",
                            key.0
                        )
                    })?;
                    if !keys.insert(key.0) {
                        return Err(format!(
                            "[clients] keys[{index}] ({}) is listed twice; list each client \
                             once",
                            key.0
                        ));
                    }
                }
                Ok(ClientAdmission::Listed(keys.into()))
            }
        }
    }

    /// Comments the `[clients]` table of a document.
    pub(crate) fn describe(parent: &mut Fields<'_>) {
        parent.table(
            "clients",
            "Which clients the replicas admit. A client whose key is not admitted is\n\
             disconnected right after the handshake and gets a \"not admitted\" error.",
            |clients| {
                clients
                    .describe(
                        "admission",
                        "\"listed\": only the keys below (none if the list is empty).\n\
                         \"open\": any client with a valid key, strangers included.",
                    )
                    .describe(
                        "keys",
                        "The admitted clients' ed25519 public keys, 64 hex characters each. To\n\
                         admit another client, add its public key here on every replica and\n\
                         restart them.",
                    );
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    fn key(seed: u64) -> rampart_crypto::PublicKey {
        KeyPair::from_seed(seed).public_key()
    }

    #[test]
    fn a_missing_table_admits_no_client() {
        let admission = ClientsTable::default().check().expect("valid");
        assert_eq!(admission.listed_count(), Some(0));
        assert!(!admission.admits(&key(1)));
    }

    #[test]
    fn listed_and_open_admission() {
        let admission = ClientsTable::listed([key(1)]).check().expect("valid");
        assert!(admission.admits(&key(1)));
        assert!(!admission.admits(&key(2)));
        assert_eq!(ClientsTable::open().check(), Ok(ClientAdmission::Open));
    }

    #[test]
    fn contradictions_and_duplicates_are_refused_naming_the_key() {
        let mut open_with_keys = ClientsTable::listed([key(1)]);
        open_with_keys.admission = AdmissionKind::Open;
        let error = open_with_keys.check().expect_err("refused");
        assert!(error.contains("remove `keys`"), "{error}");
        let error = ClientsTable::listed([key(1), key(2), key(1)])
            .check()
            .expect_err("refused");
        assert!(error.contains("keys[2]"), "{error}");
        assert!(error.contains(&key(1).to_string()), "{error}");
    }
}
