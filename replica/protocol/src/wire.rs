//! Frames on the wire: what replicas send each other, what clients send replicas, and what
//! replicas answer. Each frame is one bincode value ([`crate::message::encode`]) inside
//! one length-framed transport frame.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use rampart_crypto::{Digest, Signature, Signed};

pub use crate::message::CommitProof;
use crate::message::{Batch, Message, Refusal, ReplicaId, Reply, Request, View};
use crate::transfer::StateFrame;

/// Between replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerFrame {
    /// A protocol message (signed by its authors).
    Protocol(Message),
    /// State transfer: manifests and chunks, and requests for them. They carry no
    /// signatures: the receiver checks them against the checkpoint digest a quorum signed.
    State(StateFrame),
    /// Please send the batch with this digest (see `core/batch_fetch.rs`).
    BatchRequest { digest: Digest },
    /// A batch asked for. It needs no signature of its own: it counts only if it hashes to
    /// a digest the receiver waits for, and its requests carry their clients' signatures.
    Batch(Arc<Batch>),
}

/// From a client to a replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// A request to order (or, if `read_only`, to answer from the current state). With
    /// `certify`, the reply carries the commit certificate of the request's sequence
    /// number.
    Request {
        request: Signed<Request>,
        certify: bool,
        /// Every replica answers, not only the primary and the designated backups: the
        /// client asks for it for a while after it had to retransmit, when a designated
        /// replier may be down.
        all_answer: bool,
    },
    /// Which view are you in? Answered with [`ReplicaFrame::StatusAnswer`]. A client asks
    /// every replica when it starts, so that it knows the view, and so which replicas answer
    /// its requests, before its first request (PBFT §4.1: clients learn the view from
    /// replies; a client that has sent nothing yet has had none).
    Status,
}

/// From a replica to a client. Replies travel over the client's authenticated QUIC
/// connection, so they are not signed one by one; a client that needs transferable proof
/// asks for a commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaFrame {
    Reply {
        reply: Reply,
        /// Answered from the current state without ordering (PBFT §5.1.3); `reply.seq` is
        /// then the last sequence number the replica had executed.
        read_only: bool,
        /// For a request sent with `certify`: the commit certificate of its sequence
        /// number (from this replica's log, if it still holds it) ...
        certificate: Option<CommitProof>,
        /// ... and this replica's signature over the reply, so that f + 1 of them prove
        /// the result to anyone, offline.
        signature: Option<Signature>,
    },
    /// The replica will not execute the request, and says why (see [`Refusal`]).
    Refused { number: u64, refusal: Refusal },
    /// The answer to [`ClientFrame::Status`]: the view this replica is in (the view it is
    /// changing to, during a view change) and its id.
    ///
    /// Not signed: it travels over the client's authenticated connection, and it is only one
    /// replica's word, which a faulty replica may bend. A client believes a view once f + 1
    /// replicas report it or a later one, and uses it only to choose whom to ask to answer,
    /// never to decide a result.
    StatusAnswer { replica: ReplicaId, view: View },
}
