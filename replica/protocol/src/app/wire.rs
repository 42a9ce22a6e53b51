//! The wire format of typed applications (the helpers clients use to speak it are in
//! `client.rs`).
//!
//! An operation is the bincode encoding of an [`Operation`]: the application's `Command`
//! or its `Query`, tagged. The tag lets a query take the ordered path too: PBFT's client
//! falls back to ordering a read-only request when the replicas' immediate answers
//! disagree (§5.1.3), and the replicas then run it through `apply`, which must know a
//! query from a command. A result is the encoding of a [`Response`]: the output, or the
//! [`CommandError`] that kept the operation from reaching the application.

use serde::{Deserialize, Serialize};

use crate::message::DecodeError;

/// What a typed application returns for every operation.
pub type Response<T> = Result<T, CommandError>;

/// Why an operation did not reach the application. Part of the replicated result, so it
/// holds only facts that are the same on every replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error(
        "the replicas could not decode the {length}-byte command; check that the client \
         and the replicas use the same application and version"
    )]
    UndecodableCommand { length: u64 },
    #[error(
        "the replicas could not decode the {length}-byte query; check that the client \
         and the replicas use the same application and version"
    )]
    UndecodableQuery { length: u64 },
    #[error(
        "a command was sent as a read-only request; read-only requests may carry queries          only"
    )]
    CommandAsQuery,
}

/// A typed operation: a command, which may change the state, or a query, which never does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation<C, Q> {
    Command(C),
    Query(Q),
}

/// The same, borrowed, for encoding (bincode encodes both alike).
#[derive(Serialize)]
pub(super) enum OperationRef<'a, C, Q> {
    Command(&'a C),
    Query(&'a Q),
}

/// Why a client could not get an output from a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the operation was refused: {error}")]
    Refused { error: CommandError },
    #[error("cannot decode the result: {reason}")]
    Undecodable { reason: String },
}

/// Decodes bytes from an untrusted source (an operation from a client, a result from a
/// replica) within the same bound as every message ([`crate::message::decode`]).
pub(super) fn decode_bounded<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    crate::message::decode(what, bytes)
}

pub(super) fn decode_response<T: serde::de::DeserializeOwned>(
    result: &[u8],
) -> Result<T, ReplyError> {
    let response: Response<T> =
        decode_bounded("application result", result).map_err(|error| ReplyError::Undecodable {
            reason: error.to_string(),
        })?;
    response.map_err(|error| ReplyError::Refused { error })
}
