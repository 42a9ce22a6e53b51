//! How a campaign's clients speak to the application under test: operations to bytes,
//! result bytes to outputs.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use rampart_replica::app::{
    Application, CommandError, Operation, ReplyError, decode_output, decode_query_output,
    encode_command, encode_query,
};

use crate::workload::ErasedCodec;

/// The wire format of an application under test, for a byte-level
/// [`StateMachine`](rampart_replica::app::StateMachine). Typed applications have theirs:
/// [`TypedCodec`].
pub trait Codec: Send + Sync + 'static {
    /// An operation, as the workload draws it and the model steps on it.
    type Op: Clone + Debug + Send + Sync + 'static;
    /// A decoded result, as the model predicts it.
    type Output: Clone + Debug + PartialEq + Send + Sync + 'static;

    /// The operation bytes of a request.
    fn encode(&self, op: &Self::Op) -> Bytes;

    /// Whether `op` is a query, which a client may send the read-only way (PBFT §5.1.3)
    /// to be answered by `StateMachine::query`, and which is ordered through `apply` when
    /// that fails. Nothing is a query unless the codec says so.
    fn is_query(&self, op: &Self::Op) -> bool {
        let _ = op;
        false
    }

    /// The output of `op` from the result bytes the client accepted. Must not panic:
    /// bytes that do not decode are an output too (a Byzantine cluster may send anything
    /// f + 1 of its replicas agree on), which the model will not predict.
    fn decode(&self, op: &Self::Op, result: &[u8]) -> Self::Output;
}

/// What a client of a typed application was told: the output of a command, the output of
/// a query, or why the operation never reached the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<O, Q> {
    Output(O),
    QueryOutput(Q),
    /// The replicas refused the operation bytes (they did not decode as this application's).
    Refused(CommandError),
    /// The result did not decode as this application's.
    Undecodable {
        reason: String,
    },
}

/// The wire format of every typed [`Application`]: an operation is a
/// [`Operation::Command`], ordered, or a [`Operation::Query`], which may go the read-only
/// way; results decode into [`Answer`]s.
pub struct TypedCodec<A>(PhantomData<fn() -> A>);

impl<A> TypedCodec<A> {
    pub fn new() -> TypedCodec<A> {
        TypedCodec(PhantomData)
    }
}

impl<A> Default for TypedCodec<A> {
    fn default() -> TypedCodec<A> {
        TypedCodec::new()
    }
}

impl<A> Debug for TypedCodec<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TypedCodec<{}>", std::any::type_name::<A>())
    }
}

impl<A> Codec for TypedCodec<A>
where
    A: Application,
    A::Command: Clone + Debug + Send + Sync,
    A::Query: Clone + Debug + Send + Sync,
    A::Output: Clone + Debug + PartialEq + Send + Sync,
    A::QueryOutput: Clone + Debug + PartialEq + Send + Sync,
{
    type Op = Operation<A::Command, A::Query>;
    type Output = Answer<A::Output, A::QueryOutput>;

    fn encode(&self, op: &Self::Op) -> Bytes {
        match op {
            Operation::Command(command) => encode_command::<A>(command),
            Operation::Query(query) => encode_query::<A>(query),
        }
    }

    fn is_query(&self, op: &Self::Op) -> bool {
        matches!(op, Operation::Query(_))
    }

    fn decode(&self, op: &Self::Op, result: &[u8]) -> Self::Output {
        let decoded = match op {
            Operation::Command(_) => decode_output::<A>(result).map(Answer::Output),
            Operation::Query(_) => decode_query_output::<A>(result).map(Answer::QueryOutput),
        };
        decoded.unwrap_or_else(|error| match error {
            ReplyError::Refused { error } => Answer::Refused(error),
            ReplyError::Undecodable { reason } => Answer::Undecodable { reason },
        })
    }
}

/// A codec whose outputs pass through an observation: for outputs that carry what no
/// model can predict (sequence numbers), mapped to what it can.
pub(crate) struct Observed<Op, Inner, Output> {
    pub(crate) inner: Arc<dyn ErasedCodec<Op, Inner>>,
    pub(crate) observe: Observe<Op, Inner, Output>,
}

/// Maps a decoded output to what the model sees.
pub(crate) type Observe<Op, Inner, Output> = Arc<dyn Fn(&Op, Inner) -> Output + Send + Sync>;

impl<Op, Inner, Output> ErasedCodec<Op, Output> for Observed<Op, Inner, Output> {
    fn encode(&self, op: &Op) -> Bytes {
        self.inner.encode(op)
    }

    fn is_query(&self, op: &Op) -> bool {
        self.inner.is_query(op)
    }

    fn decode(&self, op: &Op, result: &[u8]) -> Output {
        (self.observe)(op, self.inner.decode(op, result))
    }
}

impl<C: Codec> ErasedCodec<C::Op, C::Output> for C {
    fn encode(&self, op: &C::Op) -> Bytes {
        Codec::encode(self, op)
    }

    fn is_query(&self, op: &C::Op) -> bool {
        Codec::is_query(self, op)
    }

    fn decode(&self, op: &C::Op, result: &[u8]) -> C::Output {
        Codec::decode(self, op, result)
    }
}
