//! Whose data a directory holds. The first open writes an identity record; every later
//! open checks it, so a replica never starts from another replica's (or another
//! cluster's) protocol state, which would make it send messages in another's name, nor
//! from a format this version does not understand.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use rampart_crypto::{ClusterId, PublicKey};

use crate::message::ReplicaId;

use super::StoreError;

/// The on-disk format this version writes. Bump it when a record's encoding changes.
///
/// - 1: every record carried its batch whole.
/// - 2: batches are stored once, apart, and records name them by digest (`batches.rs`).
/// - 3: snapshot chunks are stored by digest, and a checkpoint state's summary holds its
///   manifest, whose root is the application digest (`checkpoint.rs`).
pub const FORMAT_VERSION: u32 = 3;

/// The replica a store belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreIdentity {
    pub cluster: ClusterId,
    pub replica: ReplicaId,
    /// The replica's public key: a replica that was re-keyed (and so is, to its peers, a
    /// new member) must not reuse the old key's protocol state.
    pub key: PublicKey,
}

/// The identity record as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    pub format_version: u32,
    pub cluster: ClusterId,
    pub replica: ReplicaId,
    pub key: PublicKey,
}

impl IdentityRecord {
    pub fn current(identity: &StoreIdentity) -> IdentityRecord {
        IdentityRecord {
            format_version: FORMAT_VERSION,
            cluster: identity.cluster,
            replica: identity.replica,
            key: identity.key,
        }
    }

    /// Refuses a record that is not this replica's, in this version's format.
    pub fn check(&self, expected: &StoreIdentity, path: &Path) -> Result<(), StoreError> {
        let wanted = IdentityRecord::current(expected);
        if *self == wanted {
            return Ok(());
        }
        let mut found = self.to_string();
        if self.format_version > FORMAT_VERSION {
            found.push_str(" (a newer format: run a newer version of Rampart on it)");
        } else if self.format_version < FORMAT_VERSION {
            found.push_str(
                " (an older format: start the replica on an empty directory, and state \
                 transfer brings it up to date)",
            );
        }
        Err(StoreError::ForeignDirectory {
            path: path.to_owned(),
            expected: wanted.to_string(),
            found,
        })
    }
}

impl fmt::Display for IdentityRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cluster {}, replica {} with key {} (store format {})",
            self.cluster, self.replica, self.key, self.format_version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{self, REPLICA_COUNT};
    use super::super::layout::{IDENTITY_KEY, META};
    use super::super::{Store, StoreOptions, record};
    use super::*;
    use crate::core::PersistOp;
    use crate::message::View;

    fn reopen(path: &Path, identity: &StoreIdentity) -> Result<Store, StoreError> {
        Store::open(path, identity, StoreOptions::default(), REPLICA_COUNT)
    }

    #[test]
    fn a_directory_of_another_cluster_or_replica_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut store = fixture::open(dir.path(), StoreOptions::default());
        let op = PersistOp::ViewState {
            view: View(2),
            normal: true,
        };
        store.commit(&[op], &[]).expect("commits");
        drop(store);

        let ours = fixture::identity(0);
        let strangers = [
            StoreIdentity {
                cluster: ClusterId(8),
                ..ours
            },
            fixture::identity(1),
            StoreIdentity {
                key: fixture::key(9).public_key(),
                ..ours
            },
        ];
        for stranger in strangers {
            let error = reopen(dir.path(), &stranger).expect_err("refused");
            assert!(
                matches!(error, StoreError::ForeignDirectory { .. }),
                "{error}"
            );
            let message = error.to_string();
            assert!(message.contains("own data directory"), "{message}");
        }
        let store = reopen(dir.path(), &ours).expect("its own directory opens");
        assert_eq!(store.load().expect("loads").view, View(2));
    }

    #[test]
    fn another_format_is_refused_with_advice() {
        for (format_version, advice) in [
            (FORMAT_VERSION + 1, "newer version"),
            (
                FORMAT_VERSION - 1,
                "start the replica on an empty directory",
            ),
        ] {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut store = fixture::open(dir.path(), StoreOptions::default());
            let other = IdentityRecord {
                format_version,
                ..IdentityRecord::current(&fixture::identity(0))
            };
            let value = record::seal(META, IDENTITY_KEY, &other);
            store.put_raw(META, IDENTITY_KEY, value);
            drop(store);
            let error = reopen(dir.path(), &fixture::identity(0)).expect_err("refused");
            assert!(error.to_string().contains(advice), "{error}");
        }
    }

    #[test]
    fn a_database_that_is_not_a_store_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let other = rocksdb::DB::open_cf(&options, dir.path(), ["accounts"]).expect("opens");
        drop(other);
        let error = reopen(dir.path(), &fixture::identity(0)).expect_err("refused");
        assert!(
            matches!(error, StoreError::ForeignDirectory { .. }),
            "{error}"
        );

        // A database with Rampart's column families but no identity is refused too.
        let dir = tempfile::tempdir().expect("temporary directory");
        let other = rocksdb::DB::open_cf(&options, dir.path(), ["messages"]).expect("opens");
        other
            .put_cf(other.cf_handle("messages").expect("cf"), b"k", b"v")
            .expect("writes");
        drop(other);
        let error = reopen(dir.path(), &fixture::identity(0)).expect_err("refused");
        assert!(
            matches!(error, StoreError::ForeignDirectory { .. }),
            "{error}"
        );
    }
}
