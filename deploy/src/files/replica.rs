//! `replica-<i>.toml`: the settings of one replica process.
//!
//! ```toml
//! replica = 2
//! cluster = "cluster.toml"        # relative to this file
//! key = "replica-2.key"
//! data_dir = "data/replica-2"
//! listen = "127.0.0.1:7102"
//! sync = true
//! tick_ms = 10
//! verify_threads = 0
//! max_frame_bytes = 16777216
//!
//! [protocol]
//! view_change_timeout_ticks = 100
//! # ... this replica's timings; the shared tunables are in cluster.toml
//!
//! [metrics]                          # optional: no HTTP endpoints without it
//! listen = "127.0.0.1:9102"          # /metrics, /health, /ready, /status
//!
//! [limits]
//! client_bytes_in_flight_max = 16777216
//! client_requests_in_flight_max = 32   # optional; the cluster's client_window if absent
//! connections_max = 128
//! # ... caps on client connections and handshakes in progress
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use rampart_crypto::ClusterId;
use rampart_replica::cluster::Cluster;
use rampart_replica::core;
use rampart_replica::net::{ConnectionLimits, DEFAULT_MAX_FRAME_BYTES};

use crate::files::cluster::ClusterProtocol;
use crate::files::document::{Document, Fields, RenderError};

/// A replica's settings as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaFile {
    /// The replica's index in `cluster.toml`'s `[[replicas]]`.
    pub replica: u32,
    /// The cluster description.
    pub cluster: PathBuf,
    /// The replica's private key file.
    pub key: PathBuf,
    /// The RocksDB data directory.
    pub data_dir: PathBuf,
    /// The UDP address to listen on.
    #[serde(deserialize_with = "socket_address")]
    pub listen: SocketAddr,
    #[serde(default = "default_sync")]
    pub sync: bool,
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    #[serde(default)]
    pub verify_threads: usize,
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    #[serde(default)]
    pub protocol: Protocol,
    /// Where to serve the HTTP endpoints; none without the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsTable>,
    #[serde(default)]
    pub limits: ReplicaLimits,
}

/// The replica's HTTP endpoints: `/metrics` (Prometheus), `/health`, `/ready`, `/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsTable {
    /// The TCP address to listen on.
    #[serde(deserialize_with = "socket_address")]
    pub listen: SocketAddr,
}

impl MetricsTable {
    /// Comments the `[metrics]` table of a document, when it has one.
    fn describe(parent: &mut Fields<'_>) {
        parent.table(
            "metrics",
            "The replica's HTTP endpoints: /metrics (Prometheus' text format), /health\n\
             (200 while it runs), /ready (200 when normal in the current view and\n\
             caught up, else 503) and /status (JSON, what `rampart status` shows).\n\
             Without this table, none are served.",
            |metrics| {
                metrics.describe(
                    "listen",
                    "The TCP address to listen on; 0.0.0.0:PORT listens on every interface.\n\
                     Anyone who reaches it can read the metrics: keep it on a private network.",
                );
            },
        );
    }
}

/// What one client may hold of this replica: the requests it has waiting here, sent
/// straight to this replica, in bytes and in number. The number is bounded by the cluster
/// file's `client_window` in any case (it also sizes the reply cache, so every replica
/// shares it); these limits are this replica's own. And what clients and strangers
/// together may hold of its transport: connections and handshakes (see
/// [`ConnectionLimits`]); replica peers are not counted. A missing field takes the
/// default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicaLimits {
    pub client_bytes_in_flight_max: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_requests_in_flight_max: Option<u64>,
    pub connections_max: usize,
    pub connections_per_ip_max: usize,
    pub handshakes_max: usize,
    pub handshakes_per_ip_max: usize,
    pub handshakes_before_retry: usize,
}

impl Default for ReplicaLimits {
    fn default() -> ReplicaLimits {
        let connections = ConnectionLimits::default();
        ReplicaLimits {
            client_bytes_in_flight_max: core::CLIENT_BYTES_IN_FLIGHT_MAX_DEFAULT,
            client_requests_in_flight_max: None,
            connections_max: connections.connections_max,
            connections_per_ip_max: connections.connections_per_ip_max,
            handshakes_max: connections.handshakes_max,
            handshakes_per_ip_max: connections.handshakes_per_ip_max,
            handshakes_before_retry: connections.handshakes_before_retry,
        }
    }
}

impl ReplicaLimits {
    /// The transport's limits, checked for consistency.
    pub fn connection_limits(&self) -> Result<ConnectionLimits, String> {
        let limits = ConnectionLimits {
            connections_max: self.connections_max,
            connections_per_ip_max: self.connections_per_ip_max,
            handshakes_max: self.handshakes_max,
            handshakes_per_ip_max: self.handshakes_per_ip_max,
            handshakes_before_retry: self.handshakes_before_retry,
        };
        limits
            .validate()
            .map_err(|error| format!("[limits]: {error}"))?;
        Ok(limits)
    }

    /// Comments the `[limits]` table of a document. Without a per-client request limit,
    /// the comments show how to set one.
    fn describe(&self, parent: &mut Fields<'_>) {
        parent.table(
            "limits",
            "What one client may hold of this replica. Its requests in flight are\n\
             bounded by the cluster file's client_window in any case.",
            |limits| {
                limits.describe(
                    "client_bytes_in_flight_max",
                    "The most bytes of requests one client may have waiting here, sent straight\n\
                     to this replica; more are refused until some execute. One request is\n\
                     always taken when the client has none waiting.",
                );
                if self.client_requests_in_flight_max.is_some() {
                    limits.describe(
                        "client_requests_in_flight_max",
                        "The most requests one client may have waiting here, sent straight to\n\
                         this replica (at most client_window counts).",
                    );
                } else {
                    limits.describe(
                        "connections_max",
                        "To allow one client fewer waiting requests here than client_window:\n\
                         client_requests_in_flight_max = 16",
                    );
                }
                limits
                    .describe(
                        "connections_max",
                        "Caps on what clients and strangers may hold of this replica, so that no\n\
                         flood of connections or handshakes can exhaust its memory. The replicas\n\
                         of the cluster file are not counted: their connections are never refused.\n\
                         Beyond a connection cap an attempt is refused; beyond a handshake cap it\n\
                         is ignored, and the peer tries again later.\n\
                         Client connections open at once, from every address together.",
                    )
                    .describe(
                        "connections_per_ip_max",
                        "Client connections open at once from one IP address.",
                    )
                    .describe(
                        "handshakes_max",
                        "Handshakes in progress at once (replicas' aside).",
                    )
                    .describe(
                        "handshakes_per_ip_max",
                        "Handshakes in progress at once from one IP address.",
                    )
                    .describe(
                        "handshakes_before_retry",
                        "From this many handshakes in progress on, a new one must first prove that\n\
                         it receives what is sent to its address (a QUIC Retry): a flood from\n\
                         forged addresses then costs no state. 0 asks every handshake.",
                    );
            },
        );
    }
}

/// An IP address and port, with an error that shows the expected form.
fn socket_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        D::Error::custom(format_args!(
            "{text:?} is not an IP address and port; write it as 127.0.0.1:7100, or \
             0.0.0.0:7100 for every interface"
        ))
    })
}

fn default_sync() -> bool {
    true
}

/// The runtime's tick length: the protocol's timeouts are counted in ticks of this length.
pub const DEFAULT_TICK_MS: u64 = 10;

fn default_tick_ms() -> u64 {
    DEFAULT_TICK_MS
}

fn default_max_frame_bytes() -> usize {
    DEFAULT_MAX_FRAME_BYTES
}

/// The protocol tunables of [`core::Config`] that are this replica's own: timings and
/// pipelining, which may differ between replicas (a slower machine may want longer
/// timeouts). The tunables every replica must share are in `cluster.toml`'s `[protocol]`
/// ([`ClusterProtocol`]). A missing field takes the library's default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocol {
    pub batch_delay_ticks: u64,
    pub in_flight_max: u64,
    pub pipeline_batch_min: usize,
    pub view_change_timeout_ticks: u64,
    pub view_change_timeout_max_ticks: u64,
    pub status_interval_ticks: u64,
    pub state_transfer_timeout_ticks: u64,
}

impl Default for Protocol {
    fn default() -> Protocol {
        let defaults = core::Config::new(Cluster {
            id: ClusterId(0),
            replicas: Vec::new(),
        });
        Protocol {
            batch_delay_ticks: defaults.batch_delay_ticks,
            in_flight_max: defaults.in_flight_max,
            pipeline_batch_min: defaults.pipeline_batch_min,
            view_change_timeout_ticks: defaults.view_change_timeout_ticks,
            view_change_timeout_max_ticks: defaults.view_change_timeout_max_ticks,
            status_interval_ticks: defaults.status_interval_ticks,
            state_transfer_timeout_ticks: defaults.state_transfer_timeout_ticks,
        }
    }
}

impl Protocol {
    /// The protocol configuration for `cluster`, with the cluster's shared tunables and
    /// these (not yet validated).
    pub fn config(&self, cluster: Cluster, shared: &ClusterProtocol) -> core::Config {
        core::Config {
            batch_delay_ticks: self.batch_delay_ticks,
            in_flight_max: self.in_flight_max,
            pipeline_batch_min: self.pipeline_batch_min,
            view_change_timeout_ticks: self.view_change_timeout_ticks,
            view_change_timeout_max_ticks: self.view_change_timeout_max_ticks,
            status_interval_ticks: self.status_interval_ticks,
            state_transfer_timeout_ticks: self.state_transfer_timeout_ticks,
            ..shared.config(cluster)
        }
    }

    /// Comments the `[protocol]` table of a document.
    fn describe(parent: &mut Fields<'_>) {
        parent.table(
            "protocol",
            "This replica's protocol timings. Durations are in ticks (tick_ms each).\n\
             The tunables every replica must share (checkpoint interval, log window,\n\
             batch size, client window) are in the cluster file's protocol table.",
            |protocol| {
                protocol
                    .describe(
                        "batch_delay_ticks",
                        "How long the primary waits to fill a batch; 0 sends a batch at once.",
                    )
                    .describe(
                        "in_flight_max",
                        "The most sequence numbers assigned but not yet executed (pipelining).",
                    )
                    .describe(
                        "pipeline_batch_min",
                        "The fewest waiting requests worth a batch of their own while other batches\n\
                         are in flight; fewer wait for the pipeline to drain, so batches grow under load.",
                    )
                    .describe(
                        "view_change_timeout_ticks",
                        "The base view-change timeout; it doubles with each view change in a row.",
                    )
                    .describe(
                        "view_change_timeout_max_ticks",
                        "The ceiling on the doubled view-change timeout.",
                    )
                    .describe(
                        "status_interval_ticks",
                        "How often a replica tells its peers how far it got, so that lost messages\n\
                         are sent again.",
                    )
                    .describe(
                        "state_transfer_timeout_ticks",
                        "How long a state transfer may go without a chunk arriving before it asks\n\
                         its sources again; a request unanswered this long goes to another peer.",
                    );
            },
        );
    }
}

impl ReplicaFile {
    /// The settings `rampart init` writes for replica `replica`, with every default.
    pub fn new(replica: u32, listen: SocketAddr) -> ReplicaFile {
        ReplicaFile {
            replica,
            cluster: PathBuf::from("cluster.toml"),
            key: PathBuf::from(format!("replica-{replica}.key")),
            data_dir: PathBuf::from(format!("data/replica-{replica}")),
            listen,
            sync: default_sync(),
            tick_ms: DEFAULT_TICK_MS,
            verify_threads: 0,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            protocol: Protocol::default(),
            metrics: None,
            limits: ReplicaLimits::default(),
        }
    }

    /// The tick length; zero is refused.
    pub fn tick(&self) -> Result<Duration, String> {
        if self.tick_ms == 0 {
            return Err("tick_ms must be at least 1; the default is 10".to_string());
        }
        Ok(Duration::from_millis(self.tick_ms))
    }

    /// The file's text, with every field explained.
    pub fn render(&self) -> Result<String, RenderError> {
        let mut document = Document::of(self, "replica file")?;
        let mut root = document
            .header(&format!(
                "The settings of replica {}. Run it with:\n    \
                 rampart replica --config replica-{}.toml\n\
                 Relative paths are relative to the directory of this file.",
                self.replica, self.replica
            ))
            .root();
        root.describe(
            "replica",
            "This replica's id: its index in the cluster file's [[replicas]] list.",
        )
        .describe(
            "cluster",
            "The cluster description, shared by every replica and client.",
        )
        .describe(
            "key",
            "This replica's private key. It must be readable by its owner only (mode\n\
             0600), and its public key must be this replica's key in the cluster file.\n\
             `rampart replica --key PATH` overrides it.",
        )
        .describe(
            "data_dir",
            "Where the replica keeps its log, checkpoints and application state\n\
             (RocksDB). One directory per replica; it is created if missing.\n\
             `rampart replica --data-dir PATH` overrides it.",
        )
        .describe(
            "listen",
            "The UDP address to listen on for peers and clients (QUIC), usually this\n\
             replica's address in the cluster file; 0.0.0.0:PORT listens on every\n\
             interface.",
        )
        .describe(
            "sync",
            "Sync every write to disk before sending anything that depends on it. Turn\n\
             it off only for tests: a machine crash could lose the last writes, and\n\
             the replica could then contradict what it said before.",
        )
        .describe(
            "tick_ms",
            "The length of one protocol tick, in milliseconds; the protocol's timeouts\n\
             below are counted in ticks.",
        )
        .describe(
            "verify_threads",
            "Threads that verify signatures; 0 means one per core.",
        )
        .describe(
            "max_frame_bytes",
            "The largest frame accepted from a peer or client, in bytes.",
        );
        Protocol::describe(&mut root);
        MetricsTable::describe(&mut root);
        self.limits.describe(&mut root);
        Ok(document.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_file_parses_back() {
        let mut file = ReplicaFile::new(2, "127.0.0.1:7102".parse().expect("address"));
        let text = file.render().expect("renders");
        assert_eq!(crate::files::parse::<ReplicaFile>(&text), Ok(file.clone()));
        crate::files::document::assert_every_field_is_commented(&text);
        assert!(text.starts_with("# The settings of replica 2."), "{text}");
        assert!(
            text.contains("# client_requests_in_flight_max = 16\n"),
            "the optional limit is shown as an example: {text}"
        );
        file.protocol.view_change_timeout_ticks = 300;
        file.limits.client_bytes_in_flight_max = 1 << 20;
        file.limits.client_requests_in_flight_max = Some(8);
        assert_eq!(
            crate::files::parse::<ReplicaFile>(&file.render().expect("renders")),
            Ok(file.clone())
        );
        file.metrics = Some(MetricsTable {
            listen: "0.0.0.0:9102".parse().expect("address"),
        });
        let text = file.render().expect("renders");
        assert!(text.contains("\n[metrics]\n"), "{text}");
        assert!(
            text.contains("client_requests_in_flight_max = 8\n"),
            "{text}"
        );
        crate::files::document::assert_every_field_is_commented(&text);
        assert_eq!(crate::files::parse::<ReplicaFile>(&text), Ok(file));
    }

    #[test]
    fn omitted_settings_take_the_defaults() {
        let text = "replica = 0\ncluster = \"c.toml\"\nkey = \"k\"\ndata_dir = \"d\"\n\
                    listen = \"127.0.0.1:1\"\n[protocol]\nin_flight_max = 4\n";
        let file: ReplicaFile = crate::files::parse(text).expect("parses");
        assert!(file.sync);
        assert_eq!(file.tick_ms, DEFAULT_TICK_MS);
        assert_eq!(file.protocol.in_flight_max, 4);
        assert_eq!(
            file.protocol.view_change_timeout_ticks,
            Protocol::default().view_change_timeout_ticks
        );
    }

    #[test]
    fn limits_are_read_and_checked() {
        let base = ReplicaFile::new(0, "127.0.0.1:7100".parse().expect("address"))
            .render()
            .expect("renders");
        let file: ReplicaFile = crate::files::parse(&base).expect("parses");
        assert_eq!(
            file.limits.connection_limits(),
            Ok(ConnectionLimits::default())
        );
        let text = base.replace("connections_max = 128", "connections_max = 8");
        let file: ReplicaFile = crate::files::parse(&text).expect("parses");
        let error = file.limits.connection_limits().expect_err("refused");
        assert!(
            error.contains("connections_per_ip_max must be at most connections_max"),
            "{error}"
        );
        let text = base.replace("[limits]", "[limits]\nstreams_max = 3");
        let error = crate::files::parse::<ReplicaFile>(&text).expect_err("refused");
        assert!(error.contains("unknown field `streams_max`"), "{error}");
    }

    #[test]
    fn bad_values_are_refused_with_their_line() {
        let base = ReplicaFile::new(0, "127.0.0.1:7100".parse().expect("address"))
            .render()
            .expect("renders");
        let bad_listen = base.replace("listen = \"127.0.0.1:7100\"", "listen = \"nowhere\"");
        let error = crate::files::parse::<ReplicaFile>(&bad_listen).expect_err("refused");
        assert!(error.contains("line"), "{error}");
        let unknown = base.replace("[protocol]", "[protocol]\nspeed = 3");
        let error = crate::files::parse::<ReplicaFile>(&unknown).expect_err("refused");
        assert!(error.contains("unknown field `speed`"), "{error}");
    }

    #[test]
    fn shared_tunables_are_refused_here_so_they_cannot_drift_apart() {
        let base = ReplicaFile::new(0, "127.0.0.1:7100".parse().expect("address"))
            .render()
            .expect("renders");
        for shared in ["checkpoint_interval", "log_window", "client_window"] {
            let text = base.replace("[protocol]", &format!("[protocol]\n{shared} = 64"));
            let error = crate::files::parse::<ReplicaFile>(&text).expect_err("refused");
            assert!(
                error.contains(&format!("unknown field `{shared}`")),
                "{error}"
            );
        }
    }
}
