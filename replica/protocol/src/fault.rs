//! Fault injection: the hook through which a replica can be made Byzantine, for testing.
//!
//! A [`Behaviour`] wraps an honest replica: the protocol core runs unchanged, and the
//! behaviour rewrites what leaves the replica (protocol messages, client replies, state
//! transfers). It holds only the replica's own signer, so like a real faulty replica it can
//! lie, equivocate, replay or stay silent, but it cannot forge another replica's
//! signature. The deterministic simulator and the node runtime use the same hook; the
//! behaviours themselves live in the test kit (`rampart_testkit::byzantine`).
//!
//! Nothing in a production configuration installs a behaviour.

use std::fmt;

use rampart_crypto::{ClusterId, Digest, Signable, Signed, Signer};

use crate::core::Rng;
use crate::message::{Message, ReplicaId, Reply, Request};

/// What a Byzantine replica can use: its own signer, the cluster id and some randomness.
#[allow(missing_debug_implementations)]
pub struct Context<'a> {
    pub me: ReplicaId,
    pub signer: &'a dyn Signer,
    pub cluster: ClusterId,
    pub replica_count: usize,
    pub rng: &'a mut Rng,
    pub now: u64,
}

impl Context<'_> {
    /// Signs a value with this replica's own key (the only key a faulty replica holds).
    pub fn sign<T: Signable>(&self, value: T) -> Signed<T> {
        Signed::sign(self.cluster, value, self.signer)
            .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"))
    }

    /// A digest nobody computed.
    pub fn random_digest(&mut self) -> Digest {
        Digest::of(&self.rng.next_u64().to_le_bytes())
    }
}

/// A way of being faulty.
pub trait Behaviour: fmt::Debug + Send {
    fn name(&self) -> &'static str;

    /// What really leaves for `to` when the honest core sends `message` to it.
    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        to: ReplicaId,
        message: Message,
    ) -> Vec<Message>;

    /// Extra messages this replica sends on a tick, and to whom.
    fn on_tick(&mut self, _context: &mut Context<'_>) -> Vec<(ReplicaId, Message)> {
        Vec::new()
    }

    /// Sees every message the replica receives.
    fn observe(&mut self, _message: &Message) {}

    /// Whether the replica acts as if it never received this client request, straight
    /// from the client or forwarded by a backup: a censoring primary.
    fn censors(&mut self, _request: &Request) -> bool {
        false
    }

    /// The reply a client really gets, if any.
    fn reply(&mut self, _context: &mut Context<'_>, reply: Reply) -> Option<Reply> {
        Some(reply)
    }

    /// The answer a client really gets to a read-only request (PBFT §5.1.3), if any.
    fn read_reply(&mut self, context: &mut Context<'_>, reply: Reply) -> Option<Reply> {
        self.reply(context, reply)
    }

    /// Whether the replica serves state transfers, and whether it corrupts what it serves.
    fn state_transfer(&self) -> StateService {
        StateService::Honest
    }
}

/// How a replica answers state transfer requests (see `transfer::answer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateService {
    Honest,
    /// Answers nothing.
    Silent,
    /// Serves a manifest that does not match the checkpoint, and corrupts every chunk.
    Corrupt,
    /// Serves the true manifest but corrupts each chunk whose index is a multiple of
    /// `one_in` (every chunk with 1): individual bad chunks among good ones.
    CorruptChunks {
        one_in: u32,
    },
}

impl StateService {
    /// Whether chunk `index` is served corrupted.
    pub fn corrupts_chunk(self, index: u32) -> bool {
        match self {
            StateService::Honest | StateService::Silent => false,
            StateService::Corrupt => true,
            StateService::CorruptChunks { one_in } => index.is_multiple_of(one_in.max(1)),
        }
    }
}
