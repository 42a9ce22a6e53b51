//! Byzantine behaviours, as wrappers over the honest core.
//!
//! A Byzantine replica runs the real protocol core; its [`Behaviour`] rewrites what leaves
//! it. It holds only its own signer, so it can lie, equivocate, replay, withhold and send
//! garbage, but it cannot forge another replica's signature: forged messages are caught by
//! verification at the receivers. Twins (two instances with one identity) are set up by
//! the simulation itself, see [`crate::Simulation::add_twin`].
//!
//! Besides the loud faults below, [`primaries`] holds the quiet ones of a primary
//! (censoring, empty batches, slowness), [`forgers`] the lies of view changes, and
//! [`floods`] a replica that floods its peers with far-future messages.

mod floods;
mod forgers;
mod primaries;
mod reads;

pub use floods::FarFutureFlood;
pub use forgers::{ForgeNewView, ForgeViewChange};
pub use primaries::{Censor, EmptyBatches, SLOW_PRIMARY_DELAY_TICKS, SlowPrimary};
pub use reads::StaleReads;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::Signature;
use rampart_replica::message::{
    Batch, Checkpoint, Commit, Message, PrePrepare, Prepare, ReplicaId, Reply,
};

pub use rampart_replica::fault::{Behaviour, Context, StateService};

/// Says nothing at all: no protocol messages, no replies, no state.
#[derive(Debug, Default)]
pub struct Silent;

impl Behaviour for Silent {
    fn name(&self) -> &'static str {
        "silent"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, _: Message) -> Vec<Message> {
        Vec::new()
    }

    fn reply(&mut self, _: &mut Context<'_>, _: Reply) -> Option<Reply> {
        None
    }

    fn state_transfer(&self) -> StateService {
        StateService::Silent
    }
}

/// As primary, sends a different PRE-PREPARE for the same view and sequence number to half
/// of the backups; as backup, sends PREPAREs and COMMITs for a made-up digest to half.
#[derive(Debug, Default)]
pub struct Equivocate;

/// A batch with the same requests in another order, or the null batch; none for a batch
/// that is null already.
fn other_batch(batch: &Batch) -> Option<Arc<Batch>> {
    match batch.len() {
        0 => None,
        1 => Some(Batch::null()),
        _ => {
            let mut requests = batch.requests.clone();
            requests.reverse();
            Some(Arc::new(Batch::new(requests)))
        }
    }
}

impl Behaviour for Equivocate {
    fn name(&self) -> &'static str {
        "equivocate"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        if to.0.is_multiple_of(2) {
            return vec![message];
        }
        let lie = match message {
            Message::PrePrepare { pre_prepare, batch } => match other_batch(&batch) {
                Some(other) => Message::PrePrepare {
                    pre_prepare: context.sign(PrePrepare {
                        digest: other.digest(),
                        ..pre_prepare.value
                    }),
                    batch: other,
                },
                None => Message::PrePrepare { pre_prepare, batch },
            },
            Message::Prepare(prepare) => {
                let digest = context.random_digest();
                Message::Prepare(context.sign(Prepare {
                    digest,
                    ..prepare.value
                }))
            }
            Message::Commit(commit) => {
                let digest = context.random_digest();
                Message::Commit(context.sign(Commit {
                    digest,
                    ..commit.value
                }))
            }
            other => other,
        };
        vec![lie]
    }
}

/// Sends PRE-PREPAREs whose digest is not their batch's, and PREPAREs, COMMITs and
/// CHECKPOINTs for digests nobody computed; serves corrupt state.
#[derive(Debug, Default)]
pub struct WrongDigest;

impl Behaviour for WrongDigest {
    fn name(&self) -> &'static str {
        "wrong-digest"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        _to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        let digest = context.random_digest();
        let wrong = match message {
            Message::PrePrepare { pre_prepare, batch } => Message::PrePrepare {
                pre_prepare: context.sign(PrePrepare {
                    digest,
                    ..pre_prepare.value
                }),
                batch,
            },
            Message::Prepare(m) => Message::Prepare(context.sign(Prepare { digest, ..m.value })),
            Message::Commit(m) => Message::Commit(context.sign(Commit { digest, ..m.value })),
            Message::Checkpoint(m) => Message::Checkpoint(context.sign(Checkpoint {
                state_digest: digest,
                ..m.value
            })),
            other => other,
        };
        vec![wrong]
    }

    fn state_transfer(&self) -> StateService {
        StateService::Corrupt
    }
}

/// Sends every message, plus copies with broken signatures and copies that claim to come
/// from another replica (signed with its own key). Verification must drop all the copies.
#[derive(Debug, Default)]
pub struct ForgeSignatures;

impl Behaviour for ForgeSignatures {
    fn name(&self) -> &'static str {
        "forge-signatures"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        let victim = ReplicaId(((context.me.0 as usize + 1) % context.replica_count) as u32);
        let mut out = vec![message.clone()];
        let flip = |signature: &Signature| {
            let mut bytes = signature.0;
            bytes[7] ^= 0x40;
            Signature(bytes)
        };
        match message {
            Message::Prepare(mut m) => {
                m.signature = flip(&m.signature);
                out.push(Message::Prepare(m.clone()));
                let impersonation = Prepare {
                    replica: victim,
                    ..m.value
                };
                out.push(Message::Prepare(context.sign(impersonation)));
            }
            Message::Commit(mut m) => {
                m.signature = flip(&m.signature);
                out.push(Message::Commit(m.clone()));
                let impersonation = Commit {
                    replica: victim,
                    digest: context.random_digest(),
                    ..m.value
                };
                out.push(Message::Commit(context.sign(impersonation)));
            }
            Message::Checkpoint(m) => {
                let impersonation = Checkpoint {
                    replica: victim,
                    state_digest: context.random_digest(),
                    ..m.value
                };
                out.push(Message::Checkpoint(context.sign(impersonation)));
            }
            Message::PrePrepare {
                mut pre_prepare,
                batch,
            } => {
                pre_prepare.signature = flip(&pre_prepare.signature);
                out.push(Message::PrePrepare { pre_prepare, batch });
            }
            _ => {}
        }
        let _ = to;
        out
    }
}

/// Sends its honest messages, and replays old messages (its own and others') at random.
#[derive(Debug, Default)]
pub struct Replay {
    seen: VecDeque<Message>,
}

/// How many old messages a replaying replica remembers.
const REPLAY_MEMORY: usize = 512;

impl Behaviour for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, message: Message) -> Vec<Message> {
        self.observe(&message);
        vec![message]
    }

    fn observe(&mut self, message: &Message) {
        if self.seen.len() >= REPLAY_MEMORY {
            self.seen.pop_front();
        }
        self.seen.push_back(message.clone());
    }

    fn on_tick(&mut self, context: &mut Context<'_>) -> Vec<(ReplicaId, Message)> {
        if self.seen.is_empty() || !context.rng.chance(1, 3) {
            return Vec::new();
        }
        (0..4)
            .map(|_| {
                let index = context.rng.below(self.seen.len() as u64) as usize;
                let to = ReplicaId(context.rng.below(context.replica_count as u64) as u32);
                (to, self.seen[index].clone())
            })
            .filter(|(to, _)| *to != context.me)
            .collect()
    }
}

/// Withholds every message from some replicas (for a primary: starves those backups of
/// pre-prepares), while behaving correctly towards the rest.
#[derive(Debug, Default)]
pub struct Withhold {
    pub from: BTreeSet<ReplicaId>,
}

impl Behaviour for Withhold {
    fn name(&self) -> &'static str {
        "withhold"
    }

    fn outbound(&mut self, _: &mut Context<'_>, to: ReplicaId, message: Message) -> Vec<Message> {
        if self.from.contains(&to) {
            Vec::new()
        } else {
            vec![message]
        }
    }
}

/// Follows the protocol but tells clients wrong results.
#[derive(Debug, Default)]
pub struct WrongResults;

impl Behaviour for WrongResults {
    fn name(&self) -> &'static str {
        "wrong-results"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, message: Message) -> Vec<Message> {
        vec![message]
    }

    fn reply(&mut self, context: &mut Context<'_>, mut reply: Reply) -> Option<Reply> {
        reply.result = Bytes::from(context.rng.next_u64().to_le_bytes().to_vec());
        Some(reply)
    }

    fn state_transfer(&self) -> StateService {
        StateService::Corrupt
    }
}

/// Follows the protocol, but corrupts chunks it serves by state transfer: one in
/// `one_in` (every other one by default), under a true manifest, so each bad chunk lies
/// among good ones and only the check on arrival catches it.
#[derive(Debug)]
pub struct CorruptChunks {
    pub one_in: u32,
}

impl Default for CorruptChunks {
    fn default() -> CorruptChunks {
        CorruptChunks { one_in: 2 }
    }
}

impl Behaviour for CorruptChunks {
    fn name(&self) -> &'static str {
        "corrupt-chunks"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, message: Message) -> Vec<Message> {
        vec![message]
    }

    fn state_transfer(&self) -> StateService {
        StateService::CorruptChunks {
            one_in: self.one_in,
        }
    }
}

/// Builds a behaviour for a replica (its id and the cluster size).
pub type MakeBehaviour = fn(ReplicaId, usize) -> Box<dyn Behaviour>;

/// Every behaviour, for campaigns and scenario sweeps.
pub fn all_behaviours() -> Vec<MakeBehaviour> {
    vec![
        |_, _| Box::new(Silent),
        |_, _| Box::new(Equivocate),
        |_, _| Box::new(WrongDigest),
        |_, _| Box::new(ForgeSignatures),
        |_, _| Box::<Replay>::default(),
        |me, n| {
            Box::new(Withhold {
                from: [ReplicaId(((me.0 as usize + 1) % n) as u32)]
                    .into_iter()
                    .collect(),
            })
        },
        |_, _| Box::new(WrongResults),
        |_, _| Box::<Censor>::default(),
        |_, _| Box::<EmptyBatches>::default(),
        |_, _| Box::<SlowPrimary>::default(),
        |_, _| Box::new(ForgeViewChange),
        |_, _| Box::new(ForgeNewView),
        |_, _| Box::<FarFutureFlood>::default(),
        |_, _| Box::<StaleReads>::default(),
        |_, _| Box::<CorruptChunks>::default(),
    ]
}
