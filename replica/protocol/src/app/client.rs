//! What a client uses to speak to a typed application: operation bytes from its commands
//! and queries, and its outputs from the results the replicas agreed on (see `wire.rs`
//! for the format).

use bytes::Bytes;

use super::typed::Application;
use super::wire::{OperationRef, ReplyError, decode_response};
use crate::message::encode;

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
