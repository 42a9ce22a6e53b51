//! Watches the correct replicas' published statuses and puts their view changes on the
//! timeline (PBFT §4.4): when the first of them leaves a view, and when all of them have
//! entered the new one.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use rampart_replica::message::{ReplicaId, View};
use rampart_replica::node::NodeStatus;

use super::timeline::{Timeline, replicas};

/// How often the watcher looks at the statuses; a view change takes many ticks.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Starts watching; abort the task to stop.
pub fn watch_view_changes(
    timeline: Timeline,
    replica_count: usize,
    statuses: Vec<watch::Receiver<NodeStatus>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut started = View(0);
        let mut installed = View(0);
        loop {
            let current: Vec<NodeStatus> = statuses.iter().map(|s| s.borrow().clone()).collect();
            let highest = current.iter().map(|s| s.view).max().unwrap_or(View(0));
            if highest > started && highest > installed {
                let leaving: Vec<ReplicaId> = current
                    .iter()
                    .filter(|s| s.view == highest && !s.normal)
                    .map(|s| s.replica)
                    .collect();
                if !leaving.is_empty() {
                    let old = View(highest.0 - 1);
                    timeline.event(format!(
                        "view change to view {} started ({} left view {}, whose primary is \
                         replica {})",
                        highest.0,
                        replicas(&leaving),
                        old.0,
                        old.primary(replica_count).0
                    ));
                    started = highest;
                }
            }
            let lowest = current.iter().map(|s| s.view).min().unwrap_or(View(0));
            if lowest > installed && current.iter().all(|s| s.normal) {
                let all: Vec<ReplicaId> = current.iter().map(|s| s.replica).collect();
                timeline.event(format!(
                    "view change done: {} are in view {}, whose primary is replica {}",
                    replicas(&all),
                    lowest.0,
                    lowest.primary(replica_count).0
                ));
                installed = lowest;
                started = started.max(lowest);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    })
}
