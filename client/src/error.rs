//! What can go wrong for a client, in terms a user can act on.

use std::time::Duration;

use rampart_crypto::{CryptoError, PublicKey};
use rampart_net::TransportError;
use rampart_protocol::app::ReplyError;
use rampart_protocol::message::Refusal;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid client configuration: {reason}")]
    InvalidConfig { reason: String },

    #[error("cannot start the client transport: {source}")]
    Transport {
        #[source]
        source: TransportError,
    },

    #[error(
        "none of the {replica_count} replicas accepted a connection within {after:?}; check \
         the replica addresses in the client configuration and that the replicas are running"
    )]
    Unreachable {
        replica_count: usize,
        after: Duration,
    },

    #[error(
        "the replicas do not admit this client's key {key} ({refused_by} of them closed the \
         connection as not admitted); ask the cluster's operator to list this public key in \
         the cluster file's [clients] keys on every replica"
    )]
    NotAdmitted { key: PublicKey, refused_by: usize },

    #[error("the replicas refused the request, which was not executed: {refusal}")]
    Rejected { refusal: Refusal },

    #[error(
        "no quorum of matching replies after {after:?} ({replies_seen} replicas answered); \
         check that enough replicas are running and reachable, or raise `request_timeout`. \
         The request may still be executed later"
    )]
    Timeout {
        after: Duration,
        replies_seen: usize,
    },

    #[error(
        "the request encodes to {bytes} bytes, more than the transport's limit of {limit}; \
         split the operation or raise `max_frame_bytes` on the client and the replicas"
    )]
    RequestTooLarge { bytes: usize, limit: usize },

    #[error(
        "the operation is {bytes} bytes, more than the {limit} bytes the replicas accept \
         (`operation_bytes_max` in the cluster's [protocol] settings); split it, or raise \
         the limit on every replica"
    )]
    OperationTooLarge { bytes: usize, limit: usize },

    #[error("cannot sign the request: {source}")]
    Sign {
        #[source]
        source: CryptoError,
    },

    #[error("the replicas agreed on a result the application layer refused: {source}")]
    Output {
        #[source]
        source: ReplyError,
    },

    #[error("the client is closed (its connection to the replicas stopped); connect a new one")]
    Closed,
}
