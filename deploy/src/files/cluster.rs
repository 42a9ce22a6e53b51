//! `cluster.toml`: the description every replica and client of one cluster shares.
//!
//! ```toml
//! cluster_id = "5f1c0e9a7d3b2a41"
//! application = "interlock"
//!
//! [[replicas]]
//! key = "8a3d…"                 # 64 hex characters
//! address = "127.0.0.1:7100"
//! metrics = "127.0.0.1:9100"    # optional: its HTTP endpoints, for `rampart status`
//! # ... one entry per replica, in replica-id order
//!
//! [protocol]                    # optional; every field has a default
//! checkpoint_interval = 128
//! log_window = 256
//! batch_size_max = 256
//! client_window = 64
//! operation_bytes_max = 1048576
//!
//! [clients]                     # which clients the replicas admit; see `clients`
//! admission = "listed"          # the default: only `keys`; or "open"
//! keys = ["c41e…", "…"]
//!
//! [interlock]                   # only with application = "interlock"
//! registered_agents = ["c41e…", "…"]
//! units = ["reactor-1"]
//! shutdown_quorum = 5
//! faulty_agents_tolerated = 2
//! min_confidence_percent = 50
//! ```
//!
//! The `[protocol]` table holds the protocol tunables that every replica must share: with
//! different checkpoint intervals no checkpoint would become stable, with different log
//! windows or batch limits replicas would refuse each other's PRE-PREPAREs, and the client
//! window sizes the reply cache, which is part of every checkpoint's digest (and clients
//! must use it too). Each replica's own timings stay in its `replica-<i>.toml`.
//!
//! The replicas' keys in order, `[protocol]` and `application` are the cluster settings
//! ([`ClusterSettings`]), and `cluster_id` is their digest: `rampart init` derives it, and
//! loading the file checks it, so a setting edited by hand on one host is refused there at
//! once ("re-run `rampart init`") instead of making that replica disagree with the others.
//! Replicas also exchange their settings when they connect, so two hosts holding different
//! files refuse each other, naming the settings that differ. Addresses, `[clients]` and
//! `[interlock]` are not settings: a replica may move, and clients are added over time.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use rampart_replica::apps::interlock::Policy;
use rampart_replica::cluster::{ClientAdmission, Cluster};
use rampart_replica::core;
use rampart_replica::message::ClientId;
use rampart_replica::settings::ClusterSettings;

use crate::address::HostPort;
use crate::failure::Failure;
use crate::files::clients::ClientsTable;
use crate::files::document::{Document, Fields, RenderError};
use crate::files::encoding::{ClusterIdHex, KeyHex};

/// The file as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub cluster_id: ClusterIdHex,
    pub application: ApplicationKind,
    pub replicas: Vec<ReplicaEntry>,
    /// The protocol tunables every replica shares.
    #[serde(default)]
    pub protocol: ClusterProtocol,
    /// Which clients the replicas admit; without the table, none.
    #[serde(default)]
    pub clients: ClientsTable,
    /// The interlock's genesis policy; present exactly when `application` is `interlock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interlock: Option<InterlockGenesis>,
}

/// The applications a cluster can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationKind {
    /// The key-value store.
    Kv,
    /// The safety-shutdown interlock.
    Interlock,
}

impl ApplicationKind {
    pub fn name(self) -> &'static str {
        match self {
            ApplicationKind::Kv => "kv",
            ApplicationKind::Interlock => "interlock",
        }
    }
}

/// One replica: its identity and where it can be reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaEntry {
    pub key: KeyHex,
    pub address: String,
    /// Where its HTTP endpoints (`/metrics`, `/health`, `/ready`, `/status`) are reached,
    /// as `host:port`. Not part of the protocol: only `rampart status` reads it, so that
    /// it works from any client's or replica's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

/// The protocol tunables of [`core::Config`] that must be equal on every replica of the
/// cluster (see the module documentation). A missing field takes the library's default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterProtocol {
    pub checkpoint_interval: u64,
    pub log_window: u64,
    pub batch_size_max: usize,
    pub client_window: u64,
    pub operation_bytes_max: usize,
}

impl Default for ClusterProtocol {
    fn default() -> ClusterProtocol {
        // The defaults do not depend on the cluster; an empty one stands in for it.
        let defaults = core::Config::new(Cluster {
            id: rampart_crypto::ClusterId(0),
            replicas: Vec::new(),
        });
        ClusterProtocol {
            checkpoint_interval: defaults.checkpoint_interval,
            log_window: defaults.log_window,
            batch_size_max: defaults.batch_size_max,
            client_window: defaults.client_window,
            operation_bytes_max: defaults.operation_bytes_max,
        }
    }
}

impl ClusterProtocol {
    /// The protocol configuration for `cluster` with these tunables and the library's
    /// defaults for the others (not yet validated).
    pub fn config(&self, cluster: Cluster) -> core::Config {
        core::Config {
            checkpoint_interval: self.checkpoint_interval,
            log_window: self.log_window,
            batch_size_max: self.batch_size_max,
            client_window: self.client_window,
            operation_bytes_max: self.operation_bytes_max,
            ..core::Config::new(cluster)
        }
    }

    /// Comments the `[protocol]` table of a document.
    fn describe(parent: &mut Fields<'_>) {
        parent.table(
            "protocol",
            "Protocol tunables every replica must share; clients use client_window too.\n\
             They are cluster settings: cluster_id is derived from them, so change them\n\
             with `rampart init`, not here. Each replica's own timings are in its\n\
             replica-<i>.toml.",
            |protocol| {
                protocol
                    .describe(
                        "checkpoint_interval",
                        "K: a checkpoint is taken every K sequence numbers (PBFT 4.3).",
                    )
                    .describe(
                        "log_window",
                        "L: the high watermark is the low watermark plus L; a multiple of K, at\n\
                         least 2K (PBFT 4.3).",
                    )
                    .describe("batch_size_max", "The most requests in one batch.")
                    .describe(
                        "client_window",
                        "Replies cached per client, and requests per client that may wait for\n\
                         execution at once.",
                    )
                    .describe(
                        "operation_bytes_max",
                        "The largest operation a request may carry, in bytes.",
                    );
            },
        );
    }
}

/// The interlock's policy, in the file's words (see `rampart_replica::apps::interlock`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterlockGenesis {
    pub registered_agents: Vec<KeyHex>,
    pub units: Vec<String>,
    pub shutdown_quorum: u32,
    pub faulty_agents_tolerated: u32,
    pub min_confidence_percent: u8,
}

/// A checked cluster description, ready to start replicas and clients with.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub cluster: Cluster,
    /// Every replica's address, by replica id.
    pub addresses: Vec<HostPort>,
    /// Where each replica's HTTP endpoints are reached, by replica id, if the file says.
    pub metrics: Vec<Option<HostPort>>,
    /// The protocol tunables every replica shares.
    pub protocol: ClusterProtocol,
    /// Which clients the replicas admit.
    pub clients: ClientAdmission,
    pub application: Application,
}

/// The application and its genesis state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Application {
    Kv,
    Interlock(Policy),
}

impl Application {
    /// Its name, as `application` gives it in the file and the cluster settings.
    pub fn name(&self) -> &'static str {
        match self {
            Application::Kv => ApplicationKind::Kv.name(),
            Application::Interlock(_) => ApplicationKind::Interlock.name(),
        }
    }
}

/// Whether `replicas` is n = 3f + 1 with f ≥ 1, the sizes PBFT is built for: one more
/// replica than that adds no fault tolerance but enlarges every quorum.
pub fn is_three_f_plus_one(replicas: usize) -> bool {
    replicas >= 4 && replicas % 3 == 1
}

impl ClusterFile {
    /// Reads and checks `cluster.toml`; errors name the file.
    pub fn load(path: &Path) -> Result<ClusterSpec, Failure> {
        let file: ClusterFile = super::load(path, "the cluster file")?;
        file.check()
            .map_err(|message| Failure::config(format_args!("{}: {message}", path.display())))
    }

    /// The cluster settings this file describes (see [`ClusterSettings`]): its replicas'
    /// keys in order, its `[protocol]` and its application. The cluster id must be their
    /// digest.
    pub fn settings(&self) -> ClusterSettings {
        ClusterSettings {
            replicas: self.replicas.iter().map(|entry| entry.key.0).collect(),
            checkpoint_interval: self.protocol.checkpoint_interval,
            log_window: self.protocol.log_window,
            batch_size_max: self.protocol.batch_size_max as u64,
            client_window: self.protocol.client_window,
            operation_bytes_max: self.protocol.operation_bytes_max as u64,
            application: self.application.name().to_string(),
        }
    }

    /// Checks the description; the error says what to change in the file.
    pub fn check(&self) -> Result<ClusterSpec, String> {
        let count = self.replicas.len();
        if !is_three_f_plus_one(count) {
            return Err(format!(
                "lists {count} replicas, but a cluster needs n = 3f+1 replicas with f ≥ 1 \
                 (4, 7, 10, …); add or remove [[replicas]] entries"
            ));
        }
        let keys = self.replicas.iter().map(|entry| entry.key.0).collect();
        let cluster = Cluster::new(self.cluster_id.0, keys)
            .map_err(|error| format!("{error}; give every replica its own key"))?;
        let mut addresses: Vec<HostPort> = Vec::with_capacity(count);
        for (index, entry) in self.replicas.iter().enumerate() {
            let address: HostPort = entry
                .address
                .parse()
                .map_err(|error| format!("the address of replica {index}: {error}"))?;
            if let Some(first) = addresses.iter().position(|other| *other == address) {
                return Err(format!(
                    "replica {first} and replica {index} share the address {address}; give \
                     every replica its own"
                ));
            }
            addresses.push(address);
        }
        let mut metrics: Vec<Option<HostPort>> = Vec::with_capacity(count);
        for (index, entry) in self.replicas.iter().enumerate() {
            let Some(text) = &entry.metrics else {
                metrics.push(None);
                continue;
            };
            let address: HostPort = text
                .parse()
                .map_err(|error| format!("the metrics address of replica {index}: {error}"))?;
            if let Some(first) = metrics
                .iter()
                .position(|other| other.as_ref() == Some(&address))
            {
                return Err(format!(
                    "replica {first} and replica {index} share the metrics address {address}; \
                     give every replica its own"
                ));
            }
            metrics.push(Some(address));
        }
        self.protocol
            .config(cluster.clone())
            .validate()
            .map_err(|error| format!("[protocol]: {error}"))?;
        let clients = self.clients.check()?;
        let application = match (self.application, &self.interlock) {
            (ApplicationKind::Kv, None) => Application::Kv,
            (ApplicationKind::Kv, Some(_)) => {
                return Err(
                    "has an [interlock] table, but application = \"kv\"; remove the \
                            table or set application = \"interlock\""
                        .to_string(),
                );
            }
            (ApplicationKind::Interlock, None) => {
                return Err(
                    "sets application = \"interlock\" but has no [interlock] table; \
                            add one with the interlock's policy"
                        .to_string(),
                );
            }
            (ApplicationKind::Interlock, Some(genesis)) => Application::Interlock(
                genesis
                    .policy()
                    .map_err(|error| format!("[interlock]: {error}"))?,
            ),
        };
        let derived = self.settings().cluster_id();
        if self.cluster_id.0 != derived {
            return Err(format!(
                "cluster_id is {}, but the settings in this file (the replicas' keys and \
                 their order, [protocol], application) give {derived}: a setting was changed \
                 after `rampart init`, or the file was written by an older `rampart init`. \
                 Every replica must run with the same settings: re-run `rampart init` (with \
                 --public-keys to keep the keys) and give every replica and client the same \
                 cluster.toml",
                self.cluster_id.0
            ));
        }
        Ok(ClusterSpec {
            cluster,
            addresses,
            metrics,
            protocol: self.protocol.clone(),
            clients,
            application,
        })
    }

    /// The file's text, with every field explained.
    pub fn render(&self) -> Result<String, RenderError> {
        let replicas = self.replicas.len();
        let faults = replicas.saturating_sub(1) / 3;
        let mut document = Document::of(self, "cluster file")?;
        let mut root = document
            .header(
                "The description of one Rampart cluster, shared by every replica and client.\n\
                 Written by `rampart init`. Every replica and client must use the same copy:\n\
                 a change here is a new cluster.",
            )
            .root();
        root.describe(
            "cluster_id",
            "The cluster's id, 16 hex characters: the digest of the cluster settings, the\n\
             replicas' keys in order, [protocol] and application. Every signature is bound\n\
             to it, so messages of one cluster are never valid in another. Edit one of\n\
             those settings and the file is refused: re-run `rampart init` instead.",
        )
        .describe(
            "application",
            "The replicated application: \"kv\" (a key-value store) or \"interlock\"\n\
             (the safety-shutdown interlock, configured in [interlock] below).",
        )
        .entries(
            "replicas",
            |index| {
                if index == 0 {
                    format!(
                        "The replicas, in replica-id order: the first entry is replica 0. There are\n\
                         n = {replicas} of them: n = 3f+1, where f = {faults} is how many may be faulty.\n\
                         \n\
                         Replica {index}."
                    )
                } else {
                    format!("Replica {index}.")
                }
            },
            |entry| {
                entry
                    .describe("key", "Its ed25519 public key, 64 hex characters.")
                    .describe(
                        "address",
                        "Where peers and clients reach it (UDP, QUIC): host:port, with an IP\n\
                         address or a name (looked up again before every dial by its peers,\n\
                         once on connecting by a client).",
                    )
                    .describe(
                        "metrics",
                        "Where its HTTP endpoints (/metrics, /health, /ready, /status) are\n\
                         reached: host:port. Only `rampart status` reads it.",
                    );
            },
        );
        ClusterProtocol::describe(&mut root);
        ClientsTable::describe(&mut root);
        InterlockGenesis::describe(&mut root);
        Ok(document.finish())
    }
}

impl InterlockGenesis {
    /// The policy, checked as the interlock checks it at genesis.
    pub fn policy(&self) -> Result<Policy, String> {
        let mut registered_agents = BTreeSet::new();
        for (index, agent) in self.registered_agents.iter().enumerate() {
            if !registered_agents.insert(ClientId(agent.0)) {
                return Err(format!(
                    "registered agent {index} ({}) is listed twice; list each agent once",
                    agent.0.short()
                ));
            }
        }
        let mut units = BTreeSet::new();
        for unit in &self.units {
            if !units.insert(unit.clone()) {
                return Err(format!(
                    "unit {unit:?} is listed twice; list each unit once"
                ));
            }
        }
        let policy = Policy {
            registered_agents,
            units,
            shutdown_quorum: self.shutdown_quorum,
            faulty_agents_tolerated: self.faulty_agents_tolerated,
            min_confidence_percent: self.min_confidence_percent,
        };
        policy.validate().map_err(|error| error.to_string())?;
        Ok(policy)
    }

    /// Comments the `[interlock]` table of a document, when it has one.
    fn describe(parent: &mut Fields<'_>) {
        parent.table(
            "interlock",
            "The interlock's policy, fixed at genesis: no command changes it. Every\n\
             replica must start with the same policy.",
            |interlock| {
                interlock
                    .describe(
                        "registered_agents",
                        "The agents whose votes count: the public keys of the clients that vote\n\
                         (client-<j>.key). Votes from any other client are ignored.",
                    )
                    .describe(
                        "units",
                        "The units (pieces of equipment) the interlock protects.",
                    )
                    .describe(
                        "shutdown_quorum",
                        "q: how many registered agents' Shutdown ballots shut a unit down, and how\n\
                         many Reset votes reset it. It must be a majority of the agents.",
                    )
                    .describe(
                        "faulty_agents_tolerated",
                        "f: how many agents may be faulty (lying, silent or crashed) without\n\
                         triggering or blocking a decision; it needs f < q and agents - f >= q.",
                    )
                    .describe(
                        "min_confidence_percent",
                        "Votes with a lower confidence (a whole percentage) count as abstentions.",
                    );
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::{ClusterId, KeyPair};

    fn key(seed: u64) -> KeyHex {
        KeyHex(KeyPair::from_seed(seed).public_key())
    }

    fn sample(replicas: usize) -> ClusterFile {
        let mut file = unsealed(replicas);
        file.cluster_id = ClusterIdHex(file.settings().cluster_id());
        file
    }

    /// [`sample`] before its cluster id is derived from its settings.
    fn unsealed(replicas: usize) -> ClusterFile {
        ClusterFile {
            cluster_id: ClusterIdHex(ClusterId(0xfeed_beef_0000_0001)),
            application: ApplicationKind::Interlock,
            replicas: (0..replicas)
                .map(|index| ReplicaEntry {
                    key: key(index as u64),
                    address: format!("127.0.0.1:{}", 7100 + index),
                    metrics: Some(format!("127.0.0.1:{}", 9100 + index)),
                })
                .collect(),
            protocol: ClusterProtocol::default(),
            clients: ClientsTable::listed((100..107).map(|seed| key(seed).0)),
            interlock: Some(InterlockGenesis {
                registered_agents: (100..107).map(key).collect(),
                units: vec!["reactor-1".to_string(), "pump \"2\"".to_string()],
                shutdown_quorum: 5,
                faulty_agents_tolerated: 2,
                min_confidence_percent: 50,
            }),
        }
    }

    #[test]
    fn the_rendered_file_parses_back_and_checks() {
        let file = sample(4);
        let text = file.render().expect("renders");
        let parsed: ClusterFile = crate::files::parse(&text).expect("parses");
        assert_eq!(parsed, file);
        let spec = parsed.check().expect("valid");
        assert_eq!(spec.cluster.size(), 4);
        assert_eq!(spec.addresses[3].to_string(), "127.0.0.1:7103");
        assert_eq!(
            spec.metrics[3].as_ref().map(ToString::to_string),
            Some("127.0.0.1:9103".to_string())
        );
        let Application::Interlock(policy) = spec.application else {
            panic!("an interlock");
        };
        assert_eq!(policy.shutdown_quorum, 5);
        assert_eq!(policy.registered_agents.len(), 7);
        assert!(text.contains("# The replicated application"));
        crate::files::document::assert_every_field_is_commented(&text);
        let mut kv = sample(7);
        kv.application = ApplicationKind::Kv;
        kv.interlock = None;
        kv.clients = ClientsTable::open();
        kv.replicas[5].metrics = None;
        let text = kv.render().expect("renders");
        crate::files::document::assert_every_field_is_commented(&text);
        assert_eq!(crate::files::parse::<ClusterFile>(&text), Ok(kv));
    }

    #[test]
    fn descriptions_that_cannot_run_are_refused_with_the_fix() {
        let refused = |file: ClusterFile, expected: &str| {
            let error = file.check().expect_err("refused");
            assert!(error.contains(expected), "{error}");
        };
        refused(sample(5), "3f+1");
        refused(sample(3), "3f+1");
        let mut duplicate_key = sample(4);
        duplicate_key.replicas[2].key = duplicate_key.replicas[0].key;
        refused(duplicate_key, "own key");
        let mut duplicate_address = sample(4);
        duplicate_address.replicas[1].address = "127.0.0.1:7100".to_string();
        refused(duplicate_address, "share the address");
        let mut bad_address = sample(4);
        bad_address.replicas[1].address = "nowhere".to_string();
        refused(bad_address, "host:port");
        let mut duplicate_metrics = sample(4);
        duplicate_metrics.replicas[3].metrics = Some("127.0.0.1:9100".to_string());
        refused(duplicate_metrics, "share the metrics address");
        let mut bad_metrics = sample(4);
        bad_metrics.replicas[0].metrics = Some("9100".to_string());
        refused(bad_metrics, "the metrics address of replica 0");
        let mut no_table = sample(4);
        no_table.interlock = None;
        refused(no_table, "no [interlock] table");
        let mut kv_with_table = sample(4);
        kv_with_table.application = ApplicationKind::Kv;
        refused(kv_with_table, "remove the table");
        let mut weak_quorum = sample(4);
        if let Some(genesis) = weak_quorum.interlock.as_mut() {
            genesis.shutdown_quorum = 2;
        }
        refused(weak_quorum, "[interlock]");
        let mut ragged_window = sample(4);
        ragged_window.protocol.log_window = ragged_window.protocol.checkpoint_interval * 2 + 1;
        refused(ragged_window, "[protocol]: log_window");
    }

    #[test]
    fn the_cluster_id_is_the_digest_of_the_settings_in_the_file() {
        let file = sample(4);
        let spec = file.check().expect("valid");
        assert_eq!(spec.cluster.id, file.settings().cluster_id());
        assert_eq!(file.settings().application, "interlock");
        assert_eq!(file.settings().replicas, spec.cluster.replicas);
        assert_eq!(
            file.settings().checkpoint_interval,
            file.protocol.checkpoint_interval
        );
        // What is not a setting may change: addresses, admitted clients, the interlock's
        // table (its agents are clients).
        let mut moved = sample(4);
        moved.replicas[1].address = "10.0.0.9:7100".to_string();
        moved.replicas[1].metrics = None;
        moved.clients = ClientsTable::open();
        assert!(moved.check().is_ok());
    }

    #[test]
    fn a_setting_edited_after_init_is_refused_with_what_to_do() {
        type Edit = fn(&mut ClusterFile);
        let edits: Vec<(&str, Edit)> = vec![
            ("checkpoint_interval", |file| {
                file.protocol.checkpoint_interval = 64
            }),
            ("log_window", |file| file.protocol.log_window = 512),
            ("batch_size_max", |file| file.protocol.batch_size_max = 100),
            ("client_window", |file| file.protocol.client_window = 32),
            ("operation_bytes_max", |file| {
                file.protocol.operation_bytes_max = 4096
            }),
            ("application", |file| {
                file.application = ApplicationKind::Kv;
                file.interlock = None;
            }),
            ("the order of the replicas", |file| file.replicas.swap(0, 1)),
            ("a replica's key", |file| file.replicas[3].key = key(77)),
        ];
        for (what, edit) in edits {
            let mut file = sample(4);
            edit(&mut file);
            let error = file.check().expect_err(what);
            for needle in [
                "cluster_id",
                "re-run `rampart init`",
                "same cluster.toml",
                "older `rampart init`",
            ] {
                assert!(
                    error.contains(needle),
                    "{what}: {needle:?} missing: {error}"
                );
            }
        }
        // A file with a cluster id of old (drawn at random) is refused the same way.
        let error = unsealed(4).check().expect_err("an id of old");
        assert!(error.contains("re-run `rampart init`"), "{error}");
    }

    #[test]
    fn the_protocol_table_is_optional_and_its_fields_default() {
        let text = sample(4).render().expect("renders");
        let start = text.find("\n[protocol]").expect("a [protocol] table");
        let end = start + 1 + text[start + 1..].find("\n[").expect("a table after it");
        let without = format!("{}{}", &text[..start], &text[end..]);
        let parsed: ClusterFile = crate::files::parse(&without).expect("parses");
        assert_eq!(parsed.protocol, ClusterProtocol::default());
        assert!(
            parsed.check().is_ok(),
            "the defaults are the settings written"
        );
        let partial = text.replace("\n[protocol]\n", "\n[protocol]\nlog_window = 1024\n");
        let partial = partial.replacen("log_window = 256\n", "", 1);
        let parsed: ClusterFile = crate::files::parse(&partial).expect("parses");
        assert_eq!(parsed.protocol.log_window, 1024);
        assert_eq!(
            parsed.protocol.checkpoint_interval,
            ClusterProtocol::default().checkpoint_interval
        );
    }

    #[test]
    fn the_clients_table_lists_admitted_keys_and_defaults_to_none() {
        let text = sample(4).render().expect("renders");
        let spec = crate::files::parse::<ClusterFile>(&text)
            .expect("parses")
            .check()
            .expect("valid");
        assert!(spec.clients.admits(&key(100).0));
        assert!(!spec.clients.admits(&key(1).0));
        let start = text.find("\n[clients]").expect("a [clients] table");
        let end = start + 1 + text[start + 1..].find("\n[").expect("a table after it");
        let without = format!("{}{}", &text[..start], &text[end..]);
        let spec = crate::files::parse::<ClusterFile>(&without)
            .expect("parses")
            .check()
            .expect("valid");
        assert_eq!(spec.clients.listed_count(), Some(0));
    }

    #[test]
    fn a_malformed_client_key_is_refused_naming_it_and_its_line() {
        let text = sample(4).render().expect("renders");
        let listed = key(103).0.to_string();
        let bad = text.replacen(&listed, "c0ffee", 1);
        let error = crate::files::parse::<ClusterFile>(&bad).expect_err("refused");
        assert!(
            error.contains("\"c0ffee\" is not an ed25519 public key"),
            "{error}"
        );
        assert!(error.contains("line"), "{error}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_line() {
        let text = sample(4).render().expect("renders") + "\nsurprise = 1\n";
        let error = crate::files::parse::<ClusterFile>(&text).expect_err("refused");
        assert!(error.contains("unknown field `surprise`"), "{error}");
        assert!(error.contains("line"), "{error}");
    }
}
