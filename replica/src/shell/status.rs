//! What a running replica reports about itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use rampart_crypto::Digest;

use crate::core::{RejectCounts, Status, ViewChangeCounts};
use crate::message::{ReplicaId, Seq, View};
use crate::transfer::TransferStats;

/// A snapshot of a replica's state, published after every round of inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    pub replica: ReplicaId,
    /// false once the replica stopped (shut down or failed).
    pub running: bool,
    /// Why the replica stopped on its own (for example a storage error).
    pub failed: Option<String>,
    pub view: View,
    /// What the replica is doing: normal operation, a view change, a state transfer or
    /// recovery (see [`Status`]).
    pub status: Status,
    /// false while changing views.
    pub normal: bool,
    pub primary: ReplicaId,
    pub last_executed: Seq,
    /// The highest sequence number this replica saw committed (PBFT §4.2, committed-local).
    pub committed: Seq,
    pub stable_checkpoint: Seq,
    pub transferring: bool,
    /// Where the cluster is as far as this replica can tell: the highest view, and the
    /// highest last executed sequence number, that f + 1 replicas reached by their latest
    /// STATUS (see `Replica::cluster_position`).
    /// This replica's own until `cluster_known`.
    pub cluster_view: View,
    pub cluster_executed: Seq,
    /// Whether f peers have sent a STATUS yet, so that the above say where the cluster is.
    pub cluster_known: bool,
    /// f + 1 replicas are in a later view, or executed a checkpoint interval or more beyond
    /// this one. It catches up by retransmission (or state transfer, once a later
    /// checkpoint is stable).
    pub behind: bool,
    /// Inputs the core refused, all reasons together.
    pub rejects: u64,
    /// Inputs the core refused, by reason.
    pub reject_counts: RejectCounts,
    /// Client requests refused (the client heard why), by the refusal's kind.
    pub client_refusals: BTreeMap<&'static str, u64>,
    /// View changes started, by cause, and completed.
    pub view_changes: ViewChangeCounts,
    /// Clients in the reply cache: those whose requests this replica executed.
    pub clients: usize,
    /// Pieces of evidence of faulty replicas held.
    pub evidence: usize,
    /// The newest checkpoint this replica took or installed, with its state digest:
    /// correct replicas agree on the digest of every sequence number.
    pub last_checkpoint: Option<(Seq, Digest)>,
    /// Tentative executions rolled back because their batch committed with another digest.
    pub rollbacks: u64,
    /// Checkpoint states installed by state transfer.
    pub state_installs: u64,
    /// Messages not sent because they exceeded the frame cap: always 0 in a configuration
    /// that passed validation; anything else is logged as an error.
    pub messages_too_large: u64,
    /// What state transfer fetched, refused and fetched again, and from whom it refused.
    pub transfer: TransferStats,
}

/// What a replica is doing, in one word, for operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// Taking part in the protocol in the cluster's current view, caught up.
    Normal,
    /// Changing views (PBFT §4.4): it orders nothing until the new view starts.
    ViewChange,
    /// In a normal view, but behind the cluster and catching up (see
    /// [`NodeStatus::behind`]), or not yet sure it is not: f peers have not told it where
    /// they are (see [`NodeStatus::cluster_known`]), as just after a start; or rebuilding
    /// from its durable state ([`Status::Recovering`]).
    Recovering,
    /// Fetching the state of a stable checkpoint from its peers (PBFT §5.3.2).
    Transferring,
    /// Shut down, or stopped by a failure.
    Stopped,
}

impl ReplicaState {
    pub const ALL: [ReplicaState; 5] = [
        ReplicaState::Normal,
        ReplicaState::ViewChange,
        ReplicaState::Recovering,
        ReplicaState::Transferring,
        ReplicaState::Stopped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::Normal => "normal",
            ReplicaState::ViewChange => "view_change",
            ReplicaState::Recovering => "recovering",
            ReplicaState::Transferring => "transferring",
            ReplicaState::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for ReplicaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl NodeStatus {
    /// What the replica is doing: the core's [`Status`], and, in normal operation, whether
    /// it has caught up with the cluster. A stopped replica is stopped whatever else it
    /// last said.
    pub fn state(&self) -> ReplicaState {
        if !self.running {
            return ReplicaState::Stopped;
        }
        match self.status {
            Status::Transferring => ReplicaState::Transferring,
            Status::ViewChange => ReplicaState::ViewChange,
            Status::Recovering => ReplicaState::Recovering,
            Status::Normal if self.behind || !self.cluster_known => ReplicaState::Recovering,
            Status::Normal => ReplicaState::Normal,
        }
    }

    /// Ready to serve: running, in the cluster's current view and caught up.
    pub fn is_ready(&self) -> bool {
        self.state() == ReplicaState::Normal
    }

    /// How far the cluster has executed beyond this replica.
    pub fn lag(&self) -> u64 {
        self.cluster_executed.0.saturating_sub(self.last_executed.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_says_the_most_pressing_thing() {
        let normal = NodeStatus {
            running: true,
            normal: true,
            cluster_known: true,
            ..NodeStatus::default()
        };
        assert_eq!(normal.state(), ReplicaState::Normal);
        assert!(normal.is_ready());
        let cases = [
            (
                NodeStatus {
                    behind: true,
                    ..normal.clone()
                },
                ReplicaState::Recovering,
            ),
            (
                NodeStatus {
                    cluster_known: false,
                    ..normal.clone()
                },
                ReplicaState::Recovering,
            ),
            (
                NodeStatus {
                    status: Status::ViewChange,
                    normal: false,
                    behind: true,
                    ..normal.clone()
                },
                ReplicaState::ViewChange,
            ),
            (
                NodeStatus {
                    status: Status::Transferring,
                    normal: false,
                    transferring: true,
                    ..normal.clone()
                },
                ReplicaState::Transferring,
            ),
            (
                NodeStatus {
                    status: Status::Recovering,
                    normal: false,
                    ..normal.clone()
                },
                ReplicaState::Recovering,
            ),
            (
                NodeStatus {
                    running: false,
                    ..normal.clone()
                },
                ReplicaState::Stopped,
            ),
        ];
        for (status, state) in cases {
            assert_eq!(status.state(), state);
            assert!(!status.is_ready(), "{state}");
        }
    }
}
