//! The application interface: the state machine that Rampart replicates.
//!
//! Every replica applies the same committed requests in the same order (PBFT §4.2), so
//! an application that is deterministic ends in the same state everywhere. Applications
//! come in two layers:
//!
//! - [`StateMachine`], the byte-level trait the replica's shell drives: operations and
//!   results are opaque bytes;
//! - [`Application`], a typed trait whose commands, outputs and queries are serde types,
//!   adapted to [`StateMachine`] by [`Typed`]. Clients use [`encode_command`],
//!   [`encode_query`], [`decode_output`] and [`decode_query_output`] to speak to it.
//!
//! # Who issued the command
//!
//! DESIGN.md §6 sketches `apply(&mut self, op: &[u8])`. Rampart's `apply` also receives an
//! [`ApplyContext`]: the client that signed the request, its request number and the
//! sequence number that ordered it. Applications need the issuer to enforce permissions
//! (the shutdown interlock counts a vote for the agent whose key signed it, not for
//! whoever the operation bytes claim), and passing the authenticated key is the only
//! way to do that without asking every application to embed and re-verify signatures.
//! Every field is fixed by the agreed request and its place in the order, so the context
//! is the same on every replica and determinism is kept. `query` likewise receives the
//! client asking.
//!
//! # Determinism
//!
//! An application must give the same results and the same state on every replica:
//!
//! - no clocks, randomness, I/O, thread scheduling or environment in `apply`; time and
//!   order come only from the [`ApplyContext`];
//! - iterate in a fixed order: use `BTreeMap`/`BTreeSet`, never `HashMap`/`HashSet`
//!   (their order differs between processes and would make snapshots and results differ);
//! - prefer integers to floating point in the state and results;
//! - never panic on any operation, however malformed: every correct replica would panic
//!   on the same committed request, and the whole cluster would stop.
//!
//! Snapshots must be deterministic too: equal states must give equal snapshot bytes,
//! because replicas agree on checkpoints by the digest of the snapshot (PBFT §4.3).

// Layered bottom up: `wire` (the format), `typed` (the application trait and its adapter
// to `StateMachine`), `client` (what clients use to speak the format).
mod client;
mod typed;
mod wire;

use serde::{Deserialize, Serialize};

use crate::message::{ClientId, Seq};

pub use client::{decode_output, decode_query_output, encode_command, encode_query};
pub use typed::{Application, Typed};
pub use wire::{CommandError, Operation, ReplyError, Response};

/// Deterministic facts about the command being applied (the same on every replica).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ApplyContext {
    /// The client whose signature on the request the replicas verified.
    pub client: ClientId,
    /// The request's number (PBFT's timestamp) for this client.
    pub request_number: u64,
    /// The sequence number of the batch that ordered the request.
    pub seq: Seq,
}

/// The byte-level state machine a replica executes committed requests on.
pub trait StateMachine: Send + 'static {
    /// Applies one committed operation and returns its result. Must be deterministic and
    /// must not panic, whatever the bytes.
    fn apply(&mut self, context: &ApplyContext, operation: &[u8]) -> Vec<u8>;

    /// Answers a read-only operation (PBFT §5.1.3) from the current state, without
    /// changing it. Equal states must give equal answers: the client compares the
    /// answers of several replicas.
    fn query(&self, client: &ClientId, operation: &[u8]) -> Vec<u8>;

    /// The whole state as bytes; equal states must give equal bytes.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the state with one taken by [`StateMachine::snapshot`], on this replica
    /// (after a restart) or on another one (state transfer). On error the state is left
    /// unchanged.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), AppError>;
}

/// The runtime may hold its application as a trait object.
impl<S: StateMachine + ?Sized> StateMachine for Box<S> {
    fn apply(&mut self, context: &ApplyContext, operation: &[u8]) -> Vec<u8> {
        (**self).apply(context, operation)
    }

    fn query(&self, client: &ClientId, operation: &[u8]) -> Vec<u8> {
        (**self).query(client, operation)
    }

    fn snapshot(&self) -> Vec<u8> {
        (**self).snapshot()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), AppError> {
        (**self).restore(snapshot)
    }
}

/// Why an application refused a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("the snapshot does not decode as this application's state: {reason}")]
    UndecodableSnapshot { reason: String },
    #[error(
        "the snapshot is not a state this application accepts: {reason}; check that every \
         replica runs the same application with the same genesis configuration"
    )]
    RejectedSnapshot { reason: String },
}
