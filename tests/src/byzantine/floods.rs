//! A Byzantine replica that floods its peers with well-formed messages about the far
//! future: CHECKPOINTs for sequence numbers far above any window, VIEW-CHANGEs for views
//! nobody will reach, and STATUS messages that ask for everything. Each one is validly
//! signed by its sender; what a correct replica keeps of them, in memory and on disk, must
//! stay within a bound computed from the configuration (DESIGN §9).

use rampart_replica::message::{
    Checkpoint, CheckpointCertificate, Message, ReplicaId, Seq, Status, View, ViewChange,
};

use super::{Behaviour, Context};

/// A sequence number multiple of every checkpoint interval the tests use.
const CHECKPOINT_STRIDE: u64 = 1 << 10;

/// Follows the protocol and, every tick, sends each peer a CHECKPOINT and a VIEW-CHANGE
/// it never sent before, and a STATUS claiming to have nothing.
#[derive(Debug, Default)]
pub struct FarFutureFlood {
    sent: u64,
}

impl Behaviour for FarFutureFlood {
    fn name(&self) -> &'static str {
        "far-future-flood"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, message: Message) -> Vec<Message> {
        vec![message]
    }

    fn on_tick(&mut self, context: &mut Context<'_>) -> Vec<(ReplicaId, Message)> {
        self.sent += 1;
        let state_digest = context.random_digest();
        let checkpoint = Message::Checkpoint(context.sign(Checkpoint {
            seq: Seq(CHECKPOINT_STRIDE * (1_000 + self.sent)),
            state_digest,
            replica: context.me,
        }));
        let view_change = Message::ViewChange {
            view_change: context.sign(ViewChange {
                new_view: View(1_000_000 + self.sent),
                replica: context.me,
                checkpoint: CheckpointCertificate::genesis(),
                prepared: Vec::new(),
            }),
            batches: Vec::new(),
        };
        let status = Message::Status(context.sign(Status {
            replica: context.me,
            view: View(0),
            normal: false,
            last_executed: Seq(0),
            stable_seq: Seq(0),
        }));
        let mut out = Vec::new();
        for to in (0..context.replica_count as u32).map(ReplicaId) {
            if to != context.me {
                out.push((to, checkpoint.clone()));
                out.push((to, view_change.clone()));
                out.push((to, status.clone()));
            }
        }
        out
    }
}
