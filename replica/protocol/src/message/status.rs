//! STATUS: where a replica is, so that its peers can send what it lacks.

use serde::{Deserialize, Serialize};

use rampart_crypto::Signable;

use super::ids::{ReplicaId, Seq, View};

/// STATUS (after PBFT's status messages, TOCS §5.2): a replica's summary of where it is,
/// sent periodically; peers answer with what it lacks. This makes progress independent
/// of whether any one message is lost.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Status {
    pub replica: ReplicaId,
    pub view: View,
    /// false while the replica is changing views to `view`.
    pub normal: bool,
    pub last_executed: Seq,
    pub stable_seq: Seq,
}

impl Signable for Status {
    const KIND: &'static str = "status";
}
