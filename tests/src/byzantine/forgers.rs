//! Byzantine replicas that lie in view changes (PBFT §4.4): VIEW-CHANGEs with the wrong
//! prepared set or a stale checkpoint, and NEW-VIEWs that leave a prepared request out.
//! They sign with their own key only, so what they send is well formed; the receivers'
//! checks (and quorum intersection) must make the lies harmless.

use std::sync::Arc;

use rampart_replica::message::{
    Batch, CheckpointCertificate, Message, NewView, PrePrepare, PreparedCertificate, ReplicaId,
    ViewChange,
};

use super::{Behaviour, Context};

/// Sends VIEW-CHANGEs that claim the genesis checkpoint and nothing prepared, and, to one
/// replica in two, one that adds a prepared certificate it made up for a batch nobody
/// ordered.
#[derive(Debug, Default)]
pub struct ForgeViewChange;

impl Behaviour for ForgeViewChange {
    fn name(&self) -> &'static str {
        "forge-view-change"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        let Message::ViewChange { view_change, .. } = message else {
            return vec![message];
        };
        let mut forged = ViewChange {
            checkpoint: CheckpointCertificate::genesis(),
            prepared: Vec::new(),
            ..view_change.value
        };
        let mut batches = Vec::new();
        if to.0 % 2 == 1 {
            // A certificate for sequence number 1 in view 0, with this replica's own
            // signatures only: a quorum of PREPAREs cannot be forged.
            let batch = Arc::new(Batch::default());
            let digest = context.random_digest();
            let pre_prepare = context.sign(PrePrepare {
                view: rampart_replica::message::View(0),
                seq: rampart_replica::message::Seq(1),
                digest,
            });
            let prepare = context.sign(rampart_replica::message::Prepare {
                view: rampart_replica::message::View(0),
                seq: rampart_replica::message::Seq(1),
                digest,
                replica: context.me,
            });
            forged.prepared.push(PreparedCertificate {
                pre_prepare,
                prepares: vec![prepare],
            });
            batches.push(batch);
        }
        vec![Message::ViewChange {
            view_change: context.sign(forged),
            batches,
        }]
    }
}

/// As the new primary, sends a NEW-VIEW whose O leaves the first non-null prepared request
/// out (a null request in its place): every backup recomputes O and must refuse it.
#[derive(Debug, Default)]
pub struct ForgeNewView;

impl Behaviour for ForgeNewView {
    fn name(&self) -> &'static str {
        "forge-new-view"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        _to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        let Message::NewView { new_view, batches } = message else {
            return vec![message];
        };
        let null = Batch::default().digest();
        let mut pre_prepares: Vec<PrePrepare> = new_view
            .value
            .pre_prepares
            .iter()
            .map(|p| p.value.clone())
            .collect();
        match pre_prepares.iter_mut().find(|p| p.digest != null) {
            Some(left_out) => left_out.digest = null,
            // Nothing to leave out: drop the last pre-prepare instead (a gap in O).
            None => {
                pre_prepares.pop();
            }
        }
        let forged = NewView {
            view: new_view.value.view,
            view_changes: new_view.value.view_changes.clone(),
            pre_prepares: pre_prepares
                .into_iter()
                .map(|pre_prepare| context.sign(pre_prepare))
                .collect(),
        };
        vec![Message::NewView {
            new_view: context.sign(forged),
            batches,
        }]
    }
}
