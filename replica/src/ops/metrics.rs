//! The registry that exports the metrics the shell records as things happen (histograms
//! of latencies and batch sizes, counters of ordered requests; `shell/metrics.rs`) with
//! what the collector reads at each scrape (`collect.rs`).

use std::borrow::Cow;

use prometheus_client::registry::Registry;

use crate::message::ReplicaId;
use crate::shell::ShellMetrics;

/// Every metric's name starts with this.
pub const PREFIX: &str = "rampart";

/// A registry of every metric of replica `replica`, each labelled with it: the shell's
/// and, at each scrape, the collector's.
pub(crate) fn registry(
    replica: ReplicaId,
    shell: &ShellMetrics,
    collector: super::collect::NodeCollector,
) -> Registry {
    let labels = [(Cow::Borrowed("replica"), Cow::Owned(replica.0.to_string()))];
    let mut registry = Registry::with_prefix_and_labels(PREFIX, labels.into_iter());
    shell.register(&mut registry);
    registry.register_collector(Box::new(collector));
    registry
}

/// The registry's metrics in Prometheus' text format (version 0.0.4).
pub(crate) fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail, and the metrics encode only numbers and the
    // labels above, which need no escaping that could fail.
    if let Err(error) = prometheus_client::encoding::prometheus_text::encode(&mut text, registry) {
        tracing::error!(%error, "the metrics could not be encoded");
    }
    text
}

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
