//! The wire format of typed applications, and the helpers clients use to speak it.
//!
//! An operation is the bincode encoding of an [`Operation`]: the application's `Command`
//! or its `Query`, tagged. The tag lets a query take the ordered path too: PBFT's client
//! falls back to ordering a read-only request when the replicas' immediate answers
//! disagree (§5.1.3), and the replicas then run it through `apply`, which must know a
//! query from a command. A result is the encoding of a [`Response`]: the output, or the
//! [`CommandError`] that kept the operation from reaching the application.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::typed::Application;
use crate::message::{DecodeError, encode};

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
enum OperationRef<'a, C, Q> {
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

/// The operation bytes of a command, for a client request.
pub fn encode_command<A: Application>(command: &A::Command) -> Bytes {
    Bytes::from(encode(&OperationRef::<A::Command, A::Query>::Command(
        command,
    )))
}

/// The operation bytes of a query, for a read-only client request (or its ordered
/// fallback).
pub fn encode_query<A: Application>(query: &A::Query) -> Bytes {
    let operation: OperationRef<'_, A::Command, A::Query> = OperationRef::Query(query);
    Bytes::from(encode(&operation))
}

/// The output of a command, from the result the replicas agreed on.
pub fn decode_output<A: Application>(result: &[u8]) -> Result<A::Output, ReplyError> {
    decode_response(result)
}

/// The output of a query, from the result the replicas agreed on.
pub fn decode_query_output<A: Application>(result: &[u8]) -> Result<A::QueryOutput, ReplyError> {
    decode_response(result)
}

/// Decodes bytes from an untrusted source (an operation from a client, a result from a
/// replica) within the same bound as every message ([`crate::message::decode`]).
pub(super) fn decode_bounded<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    crate::message::decode(what, bytes)
}

fn decode_response<T: serde::de::DeserializeOwned>(result: &[u8]) -> Result<T, ReplyError> {
    let response: Response<T> =
        decode_bounded("application result", result).map_err(|error| ReplyError::Undecodable {
            reason: error.to_string(),
        })?;
    response.map_err(|error| ReplyError::Refused { error })
}
