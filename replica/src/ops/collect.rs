//! The metrics read at each scrape from what the replica already keeps: its published
//! status, the inbound pipeline's and the transport's counters, and its data directory.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use tokio::sync::watch;

use crate::core::ViewChangeCause;
use crate::net::StatsHandle;
use crate::shell::{InboundCounters, NodeStatus, ReplicaState};

use super::refusals::refusal_counts;

/// Reads the replica's state at each scrape.
pub(crate) struct NodeCollector {
    pub(crate) status: watch::Receiver<NodeStatus>,
    pub(crate) inbound: Arc<InboundCounters>,
    pub(crate) transport: StatsHandle,
    pub(crate) data_dir: PathBuf,
}

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCollector")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Writes metrics through one descriptor encoder.
struct Writer<'a> {
    encoder: DescriptorEncoder<'a>,
}

impl Writer<'_> {
    fn one(&mut self, name: &str, help: &str, metric: &impl EncodeMetric) -> fmt::Result {
        let encoder = self
            .encoder
            .encode_descriptor(name, help, None, metric.metric_type())?;
        metric.encode(encoder)
    }

    fn gauge(&mut self, name: &str, help: &str, value: i64) -> fmt::Result {
        self.one(name, help, &ConstGauge::new(value))
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        self.one(name, help, &ConstCounter::new(value))
    }

    /// One metric with a value per label set.
    fn family<S: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        metric_type: MetricType,
        values: &[(S, u64)],
    ) -> fmt::Result {
        let mut encoder = self
            .encoder
            .encode_descriptor(name, help, None, metric_type)?;
        for (labels, value) in values {
            let family = encoder.encode_family(labels)?;
            match metric_type {
                MetricType::Counter => ConstCounter::new(*value).encode(family)?,
                _ => ConstGauge::new(*value as i64).encode(family)?,
            }
        }
        Ok(())
    }
}

/// Numbers that do not fit a gauge are shown as the largest that does.
fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The bytes of the files under `path`, two levels deep (RocksDB keeps its files in one
/// directory); what cannot be read counts as nothing.
fn directory_bytes(path: &Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_file() => metadata.len(),
            Ok(metadata) if metadata.is_dir() && depth > 0 => {
                directory_bytes(&entry.path(), depth - 1)
            }
            _ => 0,
        })
        .sum()
}

impl Collector for NodeCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let status = self.status.borrow().clone();
        let transport = self.transport.stats();
        let mut w = Writer { encoder };
        self.protocol(&mut w, &status)?;
        self.refusals(&mut w, &status, &transport)?;
        self.network(&mut w, &transport)?;
        self.transfer_and_storage(&mut w, &status)
    }
}

impl NodeCollector {
    fn protocol(&self, w: &mut Writer, status: &NodeStatus) -> fmt::Result {
        w.gauge(
            "view",
            "The view this replica is in, or changing to",
            status.view.0 as i64,
        )?;
        let state = status.state();
        let states: Vec<_> = ReplicaState::ALL
            .iter()
            .map(|each| ([("state", each.name())], u64::from(*each == state)))
            .collect();
        w.family(
            "state",
            "1 for what the replica is doing: normal, view_change, recovering (behind the \
             cluster, catching up), transferring (fetching a checkpoint's state) or stopped",
            MetricType::Gauge,
            &states,
        )?;
        w.gauge(
            "ready",
            "1 when the replica is normal in the cluster's current view and caught up, as \
             /ready answers",
            i64::from(status.is_ready()),
        )?;
        w.gauge(
            "primary",
            "The id of the primary of the replica's view",
            i64::from(status.primary.0),
        )?;
        for (name, help, value) in [
            (
                "last_executed_seq",
                "The last sequence number this replica executed",
                status.last_executed,
            ),
            (
                "committed_seq",
                "The highest sequence number this replica saw committed",
                status.committed,
            ),
            (
                "stable_checkpoint_seq",
                "The sequence number of the replica's stable checkpoint (its low watermark)",
                status.stable_checkpoint,
            ),
            (
                "cluster_executed_seq",
                "The highest last executed sequence number f + 1 replicas reported",
                status.cluster_executed,
            ),
        ] {
            w.gauge(name, help, gauge_value(value.0))?;
        }
        w.gauge(
            "lag",
            "Sequence numbers the cluster (f + 1 replicas) executed beyond this replica",
            gauge_value(status.lag()),
        )?;
        let started: Vec<_> = ViewChangeCause::ALL
            .iter()
            .map(|cause| {
                let count = status.view_changes.started.get(cause).copied();
                ([("cause", cause.name())], count.unwrap_or(0))
            })
            .collect();
        w.family(
            "view_changes_started",
            "View changes this replica started, by cause",
            MetricType::Counter,
            &started,
        )?;
        w.counter(
            "view_changes_completed",
            "View changes this replica completed by entering the new view",
            status.view_changes.completed,
        )?;
        w.gauge(
            "clients",
            "Clients in the reply cache: those whose requests the replica executed",
            gauge_value(status.clients as u64),
        )?;
        w.gauge(
            "evidence",
            "Pieces of evidence of faulty replicas held",
            gauge_value(status.evidence as u64),
        )?;
        w.counter(
            "rollbacks",
            "Tentative executions rolled back",
            status.rollbacks,
        )?;
        w.counter(
            "messages_too_large",
            "Messages not sent because they exceeded the frame cap",
            status.messages_too_large,
        )
    }

    fn refusals(
        &self,
        w: &mut Writer,
        status: &NodeStatus,
        transport: &crate::net::TransportStats,
    ) -> fmt::Result {
        let refusals = refusal_counts(status, &self.inbound, transport);
        let values: Vec<_> = refusals
            .iter()
            .map(|refusal| {
                (
                    [
                        ("stage", refusal.stage),
                        ("reason", refusal.reason.as_str()),
                    ],
                    refusal.count,
                )
            })
            .collect();
        w.family(
            "messages_rejected",
            "Inputs refused or dropped, by stage (core, inbound, transport, client) and reason",
            MetricType::Counter,
            &values,
        )?;
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        w.counter(
            "signatures_verified",
            "Signatures checked by the verifier threads, in batches",
            load(&self.inbound.verify_batch_signatures),
        )?;
        w.counter(
            "signature_batches",
            "Batch verifications the verifier threads ran",
            load(&self.inbound.verify_batches),
        )?;
        w.counter(
            "messages_verified",
            "Protocol messages from peers whose signatures checked out",
            load(&self.inbound.messages_verified),
        )
    }

    fn network(&self, w: &mut Writer, transport: &crate::net::TransportStats) -> fmt::Result {
        w.counter(
            "frames_sent",
            "Frames written to peers and clients",
            transport.frames_sent,
        )?;
        w.counter(
            "frames_received",
            "Frames read from peers and clients",
            transport.frames_received,
        )?;
        w.counter(
            "frames_dropped",
            "Frames dropped on the way out: a full queue or a lost connection",
            transport.frames_dropped,
        )?;
        w.family(
            "refused_by_peers",
            "Connections of this replica that peers refused: for other cluster settings \
             (settings_mismatch), or as a second process with this replica's key \
             (twin_identity)",
            MetricType::Counter,
            &[
                (
                    [("reason", "settings_mismatch")],
                    transport.peer_refused_settings,
                ),
                ([("reason", "twin_identity")], transport.peer_refused_twin),
            ],
        )?;
        w.gauge(
            "client_connections",
            "Client sessions: client connections open now",
            gauge_value(transport.client_connections_open),
        )?;
        w.gauge(
            "handshakes_in_progress",
            "QUIC handshakes in progress now",
            gauge_value(transport.handshakes_in_progress),
        )?;
        let me = self.status.borrow().replica;
        let peers: Vec<_> = self
            .transport
            .peer_stats()
            .into_iter()
            .filter(|peer| peer.replica != me)
            .collect();
        let labels: Vec<String> = peers
            .iter()
            .map(|peer| peer.replica.0.to_string())
            .collect();
        let per_peer = |value: fn(&crate::net::PeerStats) -> u64| -> Vec<([(&str, &str); 1], u64)> {
            peers
                .iter()
                .zip(&labels)
                .map(|(peer, label)| ([("peer", label.as_str())], value(peer)))
                .collect()
        };
        w.family(
            "peer_sent_bytes",
            "Bytes sent to each replica peer, length prefixes included",
            MetricType::Counter,
            &per_peer(|peer| peer.bytes_sent),
        )?;
        w.family(
            "peer_received_bytes",
            "Bytes received from each replica peer, length prefixes included",
            MetricType::Counter,
            &per_peer(|peer| peer.bytes_received),
        )?;
        w.family(
            "peer_connections",
            "Connections made with each replica peer",
            MetricType::Counter,
            &per_peer(|peer| peer.connections_established),
        )?;
        w.family(
            "peer_connected",
            "1 while a connection to the replica peer is up",
            MetricType::Gauge,
            &per_peer(|peer| u64::from(peer.connected)),
        )
    }

    fn transfer_and_storage(&self, w: &mut Writer, status: &NodeStatus) -> fmt::Result {
        let transfer = &status.transfer;
        w.gauge(
            "state_transfer_active",
            "1 while the replica fetches a stable checkpoint's state",
            i64::from(status.transferring),
        )?;
        w.counter(
            "state_transfers_started",
            "State transfers started (a moved target counts again)",
            transfer.fetches_started,
        )?;
        w.counter(
            "state_transfers_completed",
            "State transfers that fetched a complete state",
            transfer.fetches_completed,
        )?;
        let chunks = [
            ([("outcome", "received")], transfer.chunks_received),
            ([("outcome", "reused")], transfer.chunks_reused),
            ([("outcome", "refused")], transfer.chunks_refused),
            ([("outcome", "refetched")], transfer.chunks_refetched),
        ];
        w.family(
            "state_transfer_chunks",
            "Snapshot chunks by outcome: received and checked, reused from the store, refused \
             as not matching the manifest, asked for again",
            MetricType::Counter,
            &chunks,
        )?;
        w.counter(
            "state_transfer_received_bytes",
            "Bytes of snapshot chunks received and checked",
            transfer.bytes_received,
        )?;
        w.gauge(
            "storage_bytes",
            "Bytes of the files in the replica's data directory",
            gauge_value(directory_bytes(&self.data_dir, 2)),
        )
    }
}
