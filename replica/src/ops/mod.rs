//! Operations: what a running replica tells the people who run it.
//!
//! - Over HTTP, on the address of its configuration (`http.rs`, bounded against strangers):
//!   `/metrics` in Prometheus' text format (`metrics.rs`, `collect.rs`), `/health` (200
//!   while the replica runs), `/ready` (200 when it is normal in the cluster's current view
//!   and caught up, 503 otherwise) and `/status` in JSON (`report.rs`).
//! - In the log, from a watch that looks every second: each refusal reason once, then at
//!   most once a minute with a count (`refusals.rs`), and replica peers that cannot be
//!   reached, and when they are back (`reachability.rs`).

pub(crate) mod collect;
mod http;
pub(crate) mod metrics;
mod reachability;
mod refusals;
mod report;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::net::StatsHandle;
use crate::shell::{InboundCounters, NodeStatus};

pub use http::{Handler, HttpLimits, HttpServer, Response};
pub use metrics::{CONTENT_TYPE, PREFIX};
pub use reachability::UNREACHABLE_AFTER;
pub use refusals::REFUSAL_LOG_INTERVAL;
pub use report::{PeerLink, StatusReport};

/// What the endpoints answer from.
pub(crate) struct Endpoints {
    pub(crate) registry: Registry,
    pub(crate) status: watch::Receiver<NodeStatus>,
    pub(crate) transport: StatsHandle,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoints").finish_non_exhaustive()
    }
}

const INDEX: &str = "Rampart replica\n\
    /metrics  Prometheus metrics\n\
    /health   200 while the replica runs\n\
    /ready    200 when normal in the current view and caught up, else 503\n\
    /status   the replica's state in JSON\n";

impl Endpoints {
    pub(crate) fn answer(&self, path: &str) -> Response {
        let status = self.status.borrow().clone();
        match path {
            "/metrics" => Response {
                status: 200,
                content_type: CONTENT_TYPE,
                body: self.metrics_text().into_bytes(),
            },
            "/health" if status.running => Response::text(200, "ok\n"),
            "/health" => Response::text(503, "stopped\n"),
            "/ready" if status.is_ready() => Response::text(200, "ready\n"),
            "/ready" => Response::text(503, format!("not ready: {}\n", status.state())),
            "/status" => {
                let report = StatusReport::of(&status, &self.transport.peer_stats());
                match serde_json::to_vec_pretty(&report) {
                    Ok(mut body) => {
                        body.push(b'\n');
                        Response {
                            status: 200,
                            content_type: "application/json",
                            body,
                        }
                    }
                    Err(error) => Response::text(500, format!("{error}\n")),
                }
            }
            "/" => Response::text(200, INDEX),
            _ => Response::text(404, format!("no such endpoint\n\n{INDEX}")),
        }
    }

    pub(crate) fn metrics_text(&self) -> String {
        metrics::encode(&self.registry)
    }

    /// The endpoints as an HTTP handler.
    pub(crate) fn handler(self: &Arc<Endpoints>) -> Handler {
        let endpoints = Arc::clone(self);
        Arc::new(move |path: &str| endpoints.answer(path))
    }
}

/// How often the watch looks at the counters.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the watch that logs refusals and unreachable peers; it ends when the replica
/// stops or is dropped, or when the task is aborted.
pub(crate) fn spawn_watch(
    status: watch::Receiver<NodeStatus>,
    inbound: Arc<InboundCounters>,
    transport: StatsHandle,
    replicas: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let me = status.borrow().replica;
        let mut refusals = refusals::RefusalLog::default();
        let mut reachability = reachability::Reachability::new(me, replicas, Instant::now());
        let mut interval = tokio::time::interval(WATCH_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = Instant::now();
            // The shell holds the sender: gone, the replica is gone too.
            if status.has_changed().is_err() {
                return;
            }
            let current = status.borrow().clone();
            if !current.running {
                return;
            }
            let counts = refusals::refusal_counts(&current, &inbound, &transport.stats());
            refusals.update(me.0, &counts, now);
            reachability.update(&transport.peer_stats(), now);
        }
    })
}
