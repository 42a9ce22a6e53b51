//! The ports the shell runs on (see the [module docs](super)), and what it reports.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use rampart_crypto::{Digest, PublicKey, Signer};

use crate::app::AppError;
use crate::message::{ReplicaId, Seq};
use crate::net::{Lane, SendError};
use crate::store::{Store, StoreError};

use super::NodeStatus;

/// Why the shell cannot go on: the replica must stop, because a replica that cannot
/// persist must not send.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the application refused its stored state: {0}")]
    App(#[from] AppError),
    #[error("the state of checkpoint {seq} vanished from the store while being installed")]
    StateVanished { seq: Seq },
}

/// The network port: sends encoded frames. Delivery is best effort (PBFT tolerates loss;
/// retransmission recovers it), so a send fails only for reasons worth counting.
pub trait Network: Send {
    /// Sends a frame to a replica on a lane (see [`Lane`]).
    fn send_on(&self, lane: Lane, to: ReplicaId, frame: Bytes) -> Result<(), SendError>;
    /// Sends a frame to a client, on the connection it opened.
    fn send_to_client(&self, client: PublicKey, frame: Bytes) -> Result<(), SendError>;
}

/// What the shell tells an observer besides its status: each batch executed as
/// committed and each checkpoint state taken or installed. The simulator's safety checker
/// compares these across replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellEvent {
    Executed { seq: Seq, digest: Digest },
    Checkpoint { seq: Seq, state_digest: Digest },
}

/// Where the shell reports [`ShellEvent`]s.
pub type Observer = Box<dyn FnMut(ShellEvent) + Send>;

/// What the shell runs on; see the module docs.
#[allow(missing_debug_implementations)]
pub struct Ports<N> {
    pub store: Store,
    pub network: N,
    pub signer: Arc<dyn Signer>,
    /// Where the shell publishes its status after every tick.
    pub status: watch::Sender<NodeStatus>,
    /// Told of executions and checkpoints, if set.
    pub observer: Option<Observer>,
}
