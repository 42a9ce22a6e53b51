//! The replica's state as `/status` answers it, in JSON: what `rampart status` shows.

use serde::{Deserialize, Serialize};

use crate::net::PeerStats;
use crate::shell::{NodeStatus, ReplicaState};

/// One replica's answer to `/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub replica: u32,
    pub state: ReplicaState,
    /// What `/ready` answers: normal in the cluster's current view and caught up.
    pub ready: bool,
    pub view: u64,
    /// The primary of `view`.
    pub primary: u32,
    pub last_executed: u64,
    pub committed: u64,
    pub stable_checkpoint: u64,
    /// The highest view and last executed sequence number f + 1 replicas reported.
    pub cluster_view: u64,
    pub cluster_executed: u64,
    /// How far `cluster_executed` is ahead of `last_executed`.
    pub lag: u64,
    /// The other replicas, and whether a connection to each is up.
    pub peers: Vec<PeerLink>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLink {
    pub replica: u32,
    pub connected: bool,
}

impl StatusReport {
    pub fn of(status: &NodeStatus, peers: &[PeerStats]) -> StatusReport {
        StatusReport {
            replica: status.replica.0,
            state: status.state(),
            ready: status.is_ready(),
            view: status.view.0,
            primary: status.primary.0,
            last_executed: status.last_executed.0,
            committed: status.committed.0,
            stable_checkpoint: status.stable_checkpoint.0,
            cluster_view: status.cluster_view.0,
            cluster_executed: status.cluster_executed.0,
            lag: status.lag(),
            peers: peers
                .iter()
                .filter(|peer| peer.replica != status.replica)
                .map(|peer| PeerLink {
                    replica: peer.replica.0,
                    connected: peer.connected,
                })
                .collect(),
        }
    }
}
