//! What a running replica reports about itself.

use rampart_crypto::Digest;

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
    /// false while changing views.
    pub normal: bool,
    pub primary: ReplicaId,
    pub last_executed: Seq,
    pub stable_checkpoint: Seq,
    pub transferring: bool,
    /// Inputs the core refused, all reasons together.
    pub rejects: u64,
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
