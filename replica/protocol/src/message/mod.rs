//! The messages of PBFT (Castro and Liskov, TOCS 2002, §4) and of Rampart's client protocol.
//!
//! Replica-to-replica messages are [`Message`]s whose parts are [`Signed`](rampart_crypto::Signed) by their
//! authors. The protocol core emits unsigned [`Payload`]s; the shell signs them
//! ([`Payload::sign`]) and verifies incoming messages ([`verify_message`]) before the core
//! sees them, as [`Verified`] values.
//!
//! A PRE-PREPARE signs only the digest of its batch, as in PBFT, and carries the batch
//! beside the signature. Certificates (prepared certificates in VIEW-CHANGE, the
//! pre-prepares of NEW-VIEW) therefore stay small; the batches they refer to travel beside
//! them, in `batches`, and are bound to the certificates by their digests.
//!
//! One file per phase of the protocol, each depending only on those listed before it:
//! - [`ids`]: replica ids, views, sequence numbers, client ids;
//! - [`encoding`]: the bincode encoding of every value;
//! - [`request`] and [`reply`]: what clients send and hear (§4.1), and batches (§5.1);
//! - [`normal`]: PRE-PREPARE, PREPARE, COMMIT and their certificates (§4.2);
//! - [`checkpoint`]: CHECKPOINT and stable checkpoints (§4.3);
//! - [`view_change`]: VIEW-CHANGE and NEW-VIEW (§4.4);
//! - [`status`]: STATUS, which drives retransmission;
//! - [`envelope`]: [`Message`], the sum of them all, and [`Payload`], its unsigned form;
//! - [`verify`]: signature checks, size limits and [`Verified`].
//!
//! Everything is re-exported here, so `crate::message::X` names every message type.

pub mod checkpoint;
pub mod encoding;
pub mod envelope;
pub mod ids;
pub mod normal;
pub mod reply;
pub mod request;
pub mod status;
pub mod verify;
pub mod view_change;

#[cfg(test)]
mod test_support;

pub use checkpoint::{Checkpoint, CheckpointCertificate};
pub use encoding::{DECODED_BYTES_MAX, DecodeError, bincode_config, decode, encode};
pub use envelope::{Message, Payload};
pub use ids::{ClientId, ReplicaId, Seq, View};
pub use normal::{
    Commit, CommitCertificate, CommitProof, PrePrepare, Prepare, PreparedCertificate,
    SIGNED_MESSAGE_BYTES_MAX,
};
pub use reply::Reply;
pub use request::{
    Batch, REQUEST_OVERHEAD_BYTES, Request, RequestKey, batch_bytes, batch_digest, request_bytes,
    request_digest,
};
pub use status::Status;
pub use verify::{
    Limits, MessageError, Verified, batch_signature_checks, signature_checks,
    signature_checks_except, verify_message, verify_request,
};
pub use view_change::{NewView, ViewChange};

pub use crate::refusal::{REQUEST_NUMBER_MAX, Refusal};
