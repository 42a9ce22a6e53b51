//! View changes (PBFT §4.4): VIEW-CHANGE and NEW-VIEW.

use serde::{Deserialize, Serialize};

use rampart_crypto::{Signable, Signed};

use super::checkpoint::CheckpointCertificate;
use super::ids::{ReplicaId, View};
use super::normal::{PrePrepare, PreparedCertificate};

/// VIEW-CHANGE (PBFT §4.4): the replica moves to `new_view`, carrying its stable
/// checkpoint with proof (C) and, for every sequence number above it, the prepared
/// certificate with the highest view it has (P).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ViewChange {
    pub new_view: View,
    pub replica: ReplicaId,
    pub checkpoint: CheckpointCertificate,
    pub prepared: Vec<PreparedCertificate>,
}

impl Signable for ViewChange {
    const KIND: &'static str = "view-change";
}

/// NEW-VIEW (PBFT §4.4): the primary of `view` shows the quorum of VIEW-CHANGEs (V) it
/// used and the pre-prepares (O) it derived from them, so every backup can recompute O.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NewView {
    pub view: View,
    pub view_changes: Vec<Signed<ViewChange>>,
    pub pre_prepares: Vec<Signed<PrePrepare>>,
}

impl Signable for NewView {
    const KIND: &'static str = "new-view";
}
