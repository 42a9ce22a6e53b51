//! The cluster settings: everything every replica of one cluster must run with, and the
//! cluster id, which is their digest.
//!
//! Replicas that disagree on one of these settings cannot form a cluster, and would fail
//! in ways that are hard to read: with different checkpoint intervals no checkpoint
//! becomes stable, with different log windows or batch limits replicas refuse each
//! other's PRE-PREPAREs, with a different client window their checkpoint digests differ
//! (the reply cache is part of them), with a different application their states do. The
//! settings are therefore one value with one canonical encoding, the cluster id is the
//! first 8 bytes of its SHA-256 digest (so a changed setting is a new cluster, whose
//! signatures are worthless in the old one), and replicas exchange their settings when
//! they connect (`rampart-net`'s HELLO), so that a replica with different settings is
//! refused with a line that names each setting that differs.
//!
//! What is *not* a setting may differ between replicas, or change without a new cluster:
//! addresses (a replica may move), the clients admitted (they are added over time), and
//! each replica's own timings and limits.

use std::fmt;

use serde::{Deserialize, Serialize};

use rampart_crypto::{ClusterId, Digest, PublicKey};

/// The most bytes of an application's name; enough for any sensible name, and a bound on
/// what a peer's HELLO may carry.
pub const APPLICATION_NAME_BYTES_MAX: usize = 128;

/// Prefix of the canonical encoding, versioned so that a future set of settings cannot
/// give the id of this one.
const SETTINGS_DOMAIN: &[u8] = b"rampart cluster settings v1";

/// What every replica of one cluster must run with (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The replicas' public keys, in replica-id order. n is their number, and so is f,
    /// the number of faulty replicas tolerated: ⌊(n - 1) / 3⌋.
    pub replicas: Vec<PublicKey>,
    /// K: a checkpoint is taken every K sequence numbers (PBFT §4.3).
    pub checkpoint_interval: u64,
    /// L: the high watermark is the low watermark plus L (PBFT §4.3).
    pub log_window: u64,
    /// The most requests in one batch.
    pub batch_size_max: u64,
    /// Replies cached per client; the reply cache is part of every checkpoint's digest.
    pub client_window: u64,
    /// The largest operation a request may carry, in bytes.
    pub operation_bytes_max: u64,
    /// The replicated application's name (`kv`, `interlock`, or an embedder's own).
    pub application: String,
}

/// One setting on which two replicas differ, in words: `setting` is what an operator
/// finds in `cluster.toml` (or the nearest thing to it), the values as they would read
/// them there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingDifference {
    pub setting: String,
    pub theirs: String,
    pub ours: String,
}

/// How many differing replica keys a description lists one by one; more are counted.
const KEY_DIFFERENCES_LISTED_MAX: usize = 3;

impl ClusterSettings {
    /// f, the number of faulty replicas the cluster tolerates.
    pub fn faults_tolerated(&self) -> usize {
        self.replicas.len().saturating_sub(1) / 3
    }

    /// The canonical encoding: the domain, then every setting as its name and its value,
    /// each length-prefixed, in a fixed order. Integers are little-endian u64, whatever
    /// the platform, so that every replica computes the same bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(256 + 40 * self.replicas.len());
        let mut field = |value: &[u8]| {
            bytes.extend_from_slice(&(value.len() as u64).to_le_bytes());
            bytes.extend_from_slice(value);
        };
        field(SETTINGS_DOMAIN);
        field(b"replicas");
        field(&(self.replicas.len() as u64).to_le_bytes());
        for key in &self.replicas {
            field(key.as_bytes());
        }
        for (name, value) in self.numbers() {
            field(name.as_bytes());
            field(&value.to_le_bytes());
        }
        field(b"application");
        field(self.application.as_bytes());
        bytes
    }

    /// The SHA-256 digest of the canonical encoding.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.canonical_bytes())
    }

    /// The cluster id: the first 8 bytes of the digest, little-endian. Every signature is
    /// bound to it (see `rampart_crypto::signing_bytes`), so a cluster whose settings
    /// changed cannot accept a message signed under the old ones.
    pub fn cluster_id(&self) -> ClusterId {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.digest().as_bytes()[..8]);
        ClusterId(u64::from_le_bytes(first))
    }

    /// The numeric settings, by the names `cluster.toml`'s `[protocol]` gives them.
    fn numbers(&self) -> [(&'static str, u64); 5] {
        [
            ("checkpoint_interval", self.checkpoint_interval),
            ("log_window", self.log_window),
            ("batch_size_max", self.batch_size_max),
            ("client_window", self.client_window),
            ("operation_bytes_max", self.operation_bytes_max),
        ]
    }

    /// Every setting on which `theirs` differs from these (ours), in the order of the
    /// canonical encoding; empty when they are equal.
    pub fn differences(&self, theirs: &ClusterSettings) -> Vec<SettingDifference> {
        let mut differences = Vec::new();
        if theirs.replicas.len() != self.replicas.len() {
            let count = |settings: &ClusterSettings| {
                format!(
                    "{} (f = {})",
                    settings.replicas.len(),
                    settings.faults_tolerated()
                )
            };
            differences.push(SettingDifference {
                setting: "replicas".to_string(),
                theirs: count(theirs),
                ours: count(self),
            });
        }
        let keys: Vec<(usize, &PublicKey, &PublicKey)> = theirs
            .replicas
            .iter()
            .zip(&self.replicas)
            .enumerate()
            .filter(|(_, (their_key, our_key))| their_key != our_key)
            .map(|(index, (their_key, our_key))| (index, their_key, our_key))
            .collect();
        for (index, their_key, our_key) in keys.iter().take(KEY_DIFFERENCES_LISTED_MAX) {
            differences.push(SettingDifference {
                setting: format!("replica {index}'s key"),
                theirs: format!("{}…", their_key.short()),
                ours: format!("{}…", our_key.short()),
            });
        }
        if keys.len() > KEY_DIFFERENCES_LISTED_MAX {
            differences.push(SettingDifference {
                setting: "other replica keys".to_string(),
                theirs: format!("{} more", keys.len() - KEY_DIFFERENCES_LISTED_MAX),
                ours: "others".to_string(),
            });
        }
        for ((name, their_value), (_, our_value)) in
            theirs.numbers().into_iter().zip(self.numbers())
        {
            if their_value != our_value {
                differences.push(SettingDifference {
                    setting: name.to_string(),
                    theirs: their_value.to_string(),
                    ours: our_value.to_string(),
                });
            }
        }
        if theirs.application != self.application {
            differences.push(SettingDifference {
                setting: "application".to_string(),
                theirs: format!("{:?}", theirs.application),
                ours: format!("{:?}", self.application),
            });
        }
        differences
    }
}

/// Whose view a [`Mismatch`] is told from: ours (`we run`) in our own log, the peer's
/// (`you run`) in the refusal we send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perspective {
    Ours,
    Theirs,
}

/// The settings on which a peer differs from us, as one sentence that names each of them
/// and says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch<'a> {
    /// Who the peer is, as the sentence starts: `replica 2`.
    pub peer: &'a str,
    pub differences: &'a [SettingDifference],
    pub perspective: Perspective,
}

impl fmt::Display for Mismatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let we = match self.perspective {
            Perspective::Ours => "we",
            Perspective::Theirs => "you",
        };
        write!(f, "{} runs with ", self.peer)?;
        for (index, difference) in self.differences.iter().enumerate() {
            if index > 0 {
                write!(f, "; with ")?;
            }
            write!(
                f,
                "{} {}, {we} run {}",
                difference.setting, difference.theirs, difference.ours
            )?;
        }
        write!(
            f,
            ": re-run `rampart init` and give every replica the same cluster.toml"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            replicas: (0..4).map(|i| KeyPair::from_seed(i).public_key()).collect(),
            checkpoint_interval: 128,
            log_window: 256,
            batch_size_max: 256,
            client_window: 64,
            operation_bytes_max: 1 << 20,
            application: "kv".to_string(),
        }
    }

    /// A change to one setting.
    type Change = fn(&mut ClusterSettings);

    /// Every way to change one setting, with its name.
    fn changes() -> Vec<(&'static str, Change)> {
        vec![
            ("another replica key", |s| {
                s.replicas[2] = KeyPair::from_seed(99).public_key()
            }),
            ("a replica more (f too)", |s| {
                s.replicas
                    .extend((4..7).map(|i| KeyPair::from_seed(i).public_key()))
            }),
            ("a replica fewer", |s| {
                s.replicas.pop();
            }),
            ("checkpoint_interval", |s| s.checkpoint_interval = 64),
            ("log_window", |s| s.log_window = 512),
            ("batch_size_max", |s| s.batch_size_max = 255),
            ("client_window", |s| s.client_window = 65),
            ("operation_bytes_max", |s| s.operation_bytes_max = 1 << 21),
            ("application", |s| s.application = "interlock".to_string()),
        ]
    }

    #[test]
    fn every_setting_changes_the_cluster_id() {
        let base = settings().cluster_id();
        assert_eq!(
            settings().cluster_id(),
            base,
            "the id is a function of the settings"
        );
        for (name, change) in changes() {
            let mut changed = settings();
            change(&mut changed);
            assert_ne!(changed.cluster_id(), base, "changing {name} keeps the id");
        }
    }

    #[test]
    fn the_order_of_the_replica_keys_matters() {
        let mut swapped = settings();
        swapped.replicas.swap(0, 1);
        assert_ne!(swapped.cluster_id(), settings().cluster_id());
    }

    #[test]
    fn adjacent_fields_cannot_be_confused() {
        // Moving bytes from the application's name into nothing else must still differ:
        // every field is length-prefixed.
        let mut first = settings();
        first.application = "ab".to_string();
        let mut second = settings();
        second.application = "a".to_string();
        assert_ne!(first.canonical_bytes(), second.canonical_bytes());
        assert_ne!(first.cluster_id(), second.cluster_id());
    }

    #[test]
    fn the_cluster_id_of_given_settings_never_changes() {
        // Every signature and every data directory of a cluster is bound to its id: a
        // change to the encoding would strand them. A new encoding needs a new domain, and
        // its clusters a new `rampart init`.
        assert_eq!(settings().cluster_id().to_string(), "55a3df3938399d99");
    }

    #[test]
    fn every_setting_that_differs_is_named() {
        for (name, change) in changes() {
            let mut theirs = settings();
            change(&mut theirs);
            let differences = settings().differences(&theirs);
            assert!(!differences.is_empty(), "{name} makes no difference");
        }
        let mut theirs = settings();
        theirs.checkpoint_interval = 128;
        theirs.log_window = 1024;
        theirs.application = "interlock".to_string();
        let mut ours = settings();
        ours.checkpoint_interval = 64;
        let differences = ours.differences(&theirs);
        let named: Vec<&str> = differences.iter().map(|d| d.setting.as_str()).collect();
        assert_eq!(named, ["checkpoint_interval", "log_window", "application"]);
        assert!(ours.differences(&ours.clone()).is_empty());
    }

    #[test]
    fn the_mismatch_reads_as_one_sentence_with_the_fix() {
        let mut theirs = settings();
        theirs.checkpoint_interval = 128;
        let mut ours = settings();
        ours.checkpoint_interval = 64;
        ours.log_window = 128;
        theirs.log_window = 256;
        let differences = ours.differences(&theirs);
        let ours_told = Mismatch {
            peer: "replica 2",
            differences: &differences,
            perspective: Perspective::Ours,
        }
        .to_string();
        assert_eq!(
            ours_told,
            "replica 2 runs with checkpoint_interval 128, we run 64; with log_window 256, we \
             run 128: re-run `rampart init` and give every replica the same cluster.toml"
        );
        let theirs_told = Mismatch {
            peer: "replica 2",
            differences: &differences,
            perspective: Perspective::Theirs,
        }
        .to_string();
        assert!(theirs_told.starts_with("replica 2 runs with checkpoint_interval 128, you run 64"));
    }

    #[test]
    fn replica_counts_and_keys_are_named_with_f_and_short_keys() {
        let mut theirs = settings();
        theirs
            .replicas
            .extend((4..7).map(|i| KeyPair::from_seed(i).public_key()));
        theirs.replicas[1] = KeyPair::from_seed(50).public_key();
        let differences = settings().differences(&theirs);
        assert_eq!(differences[0].setting, "replicas");
        assert_eq!(differences[0].theirs, "7 (f = 2)");
        assert_eq!(differences[0].ours, "4 (f = 1)");
        assert_eq!(differences[1].setting, "replica 1's key");
        assert!(
            differences[1]
                .theirs
                .starts_with(&KeyPair::from_seed(50).public_key().short())
        );
        let mut all_keys = settings();
        for (index, key) in all_keys.replicas.iter_mut().enumerate() {
            *key = KeyPair::from_seed(200 + index as u64).public_key();
        }
        let differences = settings().differences(&all_keys);
        assert_eq!(differences.len(), KEY_DIFFERENCES_LISTED_MAX + 1);
        assert_eq!(differences[KEY_DIFFERENCES_LISTED_MAX].theirs, "1 more");
    }
}
