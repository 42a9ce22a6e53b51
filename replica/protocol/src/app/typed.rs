//! The typed application layer: serde types in, serde types out, no bytes.

use serde::{Serialize, de::DeserializeOwned};

use super::wire::{CommandError, Operation, Response, decode_bounded};
use super::{AppError, ApplyContext, StateMachine};
use crate::message::{ClientId, decode, encode};

/// An application written with typed commands and queries. [`Typed`] turns it into a
/// [`StateMachine`].
///
/// The application value itself is the state: its serde encoding is the snapshot. That
/// encoding must be deterministic (use `BTreeMap`, not `HashMap`), and equal states must
/// encode to equal bytes.
///
/// Commands and queries are encoded with Rampart's bincode configuration; enum variants
/// are numbered in declaration order, so new variants go at the end to keep old clients
/// working.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use rampart_protocol::app::{Application, ApplyContext, Typed, StateMachine};
/// use rampart_protocol::message::ClientId;
///
/// #[derive(Default, Serialize, Deserialize)]
/// struct Counter { value: u64 }
///
/// impl Application for Counter {
///     type Command = u64;      // add this much
///     type Output = u64;       // the new value
///     type Query = ();         // read the value
///     type QueryOutput = u64;
///
///     fn apply(&mut self, _context: &ApplyContext, add: u64) -> u64 {
///         self.value = self.value.saturating_add(add);
///         self.value
///     }
///
///     fn query(&self, _client: &ClientId, _query: ()) -> u64 {
///         self.value
///     }
/// }
///
/// let machine = Typed::new(Counter::default());
/// assert_eq!(machine.app().value, 0);
/// ```
pub trait Application: Serialize + DeserializeOwned + Send + 'static {
    /// What a client asks the application to do; ordered and applied on every replica.
    type Command: Serialize + DeserializeOwned;
    /// What a command returns.
    type Output: Serialize + DeserializeOwned;
    /// A read-only request, answered from the current state.
    type Query: Serialize + DeserializeOwned;
    /// What a query returns.
    type QueryOutput: Serialize + DeserializeOwned;

    /// Applies a command. Must be deterministic and must not panic.
    fn apply(&mut self, context: &ApplyContext, command: Self::Command) -> Self::Output;

    /// Answers a query without changing the state.
    fn query(&self, client: &ClientId, query: Self::Query) -> Self::QueryOutput;

    /// Checks a state decoded from a snapshot before it replaces `self`. Serde decoding
    /// bypasses constructors, so an application with invariants or a genesis
    /// configuration checks them here. The default accepts every state that decodes.
    fn check_restored(&self, restored: &Self) -> Result<(), AppError> {
        let _ = restored;
        Ok(())
    }
}

/// Adapts an [`Application`] to the byte-level [`StateMachine`].
///
/// Bytes that do not decode never reach the application: the adapter answers with an
/// encoded [`CommandError`] instead, the same on every replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Typed<A> {
    app: A,
}

impl<A: Application> Typed<A> {
    pub fn new(app: A) -> Typed<A> {
        Typed { app }
    }

    /// The application's current state.
    pub fn app(&self) -> &A {
        &self.app
    }

    pub fn into_inner(self) -> A {
        self.app
    }
}

impl<A: Application> StateMachine for Typed<A> {
    fn apply(&mut self, context: &ApplyContext, operation: &[u8]) -> Vec<u8> {
        match decode_bounded::<Operation<A::Command, A::Query>>("operation", operation) {
            Ok(Operation::Command(command)) => {
                let response: Response<A::Output> = Ok(self.app.apply(context, command));
                encode(&response)
            }
            // A query on the ordered path (the fallback of a read-only request): it reads
            // the state at its place in the order and changes nothing.
            Ok(Operation::Query(query)) => {
                let response: Response<A::QueryOutput> = Ok(self.app.query(&context.client, query));
                encode(&response)
            }
            Err(error) => {
                // The decoder's message stays in the local log: it may differ between
                // library versions, and the result must be identical on every replica.
                tracing::debug!(client = %context.client, %error, "undecodable command");
                let response: Response<A::Output> = Err(CommandError::UndecodableCommand {
                    length: operation.len() as u64,
                });
                encode(&response)
            }
        }
    }

    fn query(&self, client: &ClientId, operation: &[u8]) -> Vec<u8> {
        let response: Response<A::QueryOutput> =
            match decode_bounded::<Operation<A::Command, A::Query>>("query", operation) {
                Ok(Operation::Query(query)) => Ok(self.app.query(client, query)),
                Ok(Operation::Command(_)) => Err(CommandError::CommandAsQuery),
                Err(error) => {
                    tracing::debug!(%client, %error, "undecodable query");
                    Err(CommandError::UndecodableQuery {
                        length: operation.len() as u64,
                    })
                }
            };
        encode(&response)
    }

    fn snapshot(&self) -> Vec<u8> {
        encode(&self.app)
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), AppError> {
        // Unlike operations, snapshots are not bounded: they may legitimately be large,
        // and they come from this replica's own storage or from state transfer, which
        // checks them against the digest a quorum of replicas signed before restoring.
        let restored: A = decode("application snapshot", snapshot).map_err(|error| {
            AppError::UndecodableSnapshot {
                reason: error.to_string(),
            }
        })?;
        self.app.check_restored(&restored)?;
        self.app = restored;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{decode_output, decode_query_output, encode_command, encode_query};
    use crate::message::Seq;
    use rampart_crypto::KeyPair;
    use serde::Deserialize;

    /// A register that refuses to restore a snapshot holding a value above `limit`.
    #[derive(Default, Debug, PartialEq, Serialize, Deserialize)]
    struct Register {
        value: u32,
        limit: u32,
    }

    #[derive(Serialize, Deserialize)]
    enum RegisterCommand {
        Set { value: u32 },
    }

    impl Application for Register {
        type Command = RegisterCommand;
        type Output = u32;
        type Query = ();
        type QueryOutput = (u32, ClientId);

        fn apply(&mut self, _context: &ApplyContext, command: RegisterCommand) -> u32 {
            let RegisterCommand::Set { value } = command;
            std::mem::replace(&mut self.value, value)
        }

        fn query(&self, client: &ClientId, _query: ()) -> (u32, ClientId) {
            (self.value, *client)
        }

        fn check_restored(&self, restored: &Register) -> Result<(), AppError> {
            if restored.value > self.limit {
                return Err(AppError::RejectedSnapshot {
                    reason: format!("value {} above {}", restored.value, self.limit),
                });
            }
            Ok(())
        }
    }

    fn context() -> ApplyContext {
        ApplyContext {
            client: ClientId(KeyPair::from_seed(1).public_key()),
            request_number: 1,
            seq: Seq(1),
        }
    }

    #[test]
    fn commands_and_queries_round_trip_through_the_client_helpers() {
        let mut machine = Typed::new(Register {
            value: 0,
            limit: 100,
        });
        let result = machine.apply(
            &context(),
            &encode_command::<Register>(&RegisterCommand::Set { value: 7 }),
        );
        assert_eq!(decode_output::<Register>(&result), Ok(0));
        let result = machine.apply(
            &context(),
            &encode_command::<Register>(&RegisterCommand::Set { value: 9 }),
        );
        assert_eq!(decode_output::<Register>(&result), Ok(7));

        let client = context().client;
        let answer = machine.query(&client, &encode_query::<Register>(&()));
        assert_eq!(decode_query_output::<Register>(&answer), Ok((9, client)));
    }

    #[test]
    fn garbage_bytes_are_refused_with_an_encoded_error_and_leave_the_state_alone() {
        let mut machine = Typed::new(Register::default());
        let cases: &[&[u8]] = &[
            b"",
            &[0xff],
            &[0, 7, 0], // a valid command followed by a trailing byte
            &[9, 1],    // an unknown variant
            &[0, 253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // u64 varint
            b"put x 1",
        ];
        for bytes in cases {
            let result = machine.apply(&context(), bytes);
            assert_eq!(
                decode_output::<Register>(&result),
                Err(crate::app::ReplyError::Refused {
                    error: CommandError::UndecodableCommand {
                        length: bytes.len() as u64
                    }
                }),
                "command {bytes:?}"
            );
            let answer = machine.query(&context().client, &[0xff, 0xff]);
            assert!(matches!(
                decode_query_output::<Register>(&answer),
                Err(crate::app::ReplyError::Refused {
                    error: CommandError::UndecodableQuery { length: 2 }
                })
            ));
        }
        assert_eq!(machine.app(), &Register::default());
    }

    #[test]
    fn restore_round_trips_and_refuses_bad_snapshots_without_changing_state() {
        let source = Typed::new(Register {
            value: 42,
            limit: 100,
        });
        let mut target = Typed::new(Register {
            value: 1,
            limit: 100,
        });
        target.restore(&source.snapshot()).expect("restores");
        assert_eq!(target.app(), source.app());
        assert_eq!(target.snapshot(), source.snapshot());

        assert!(matches!(
            target.restore(&[0xff, 0xff, 0xff]),
            Err(AppError::UndecodableSnapshot { .. })
        ));
        let too_large = Typed::new(Register {
            value: 101,
            limit: 0,
        });
        assert!(matches!(
            target.restore(&too_large.snapshot()),
            Err(AppError::RejectedSnapshot { .. })
        ));
        assert_eq!(target.app(), source.app());
    }

    #[test]
    fn a_boxed_state_machine_is_a_state_machine() {
        let register = Register {
            value: 0,
            limit: 100,
        };
        let mut machine: Box<dyn StateMachine> = Box::new(Typed::new(register));
        let result = machine.apply(
            &context(),
            &encode_command::<Register>(&RegisterCommand::Set { value: 3 }),
        );
        assert_eq!(decode_output::<Register>(&result), Ok(0));
        let mut copy = Typed::new(Register {
            value: 0,
            limit: 100,
        });
        copy.restore(&machine.snapshot()).expect("restores");
        assert_eq!(copy.app().value, 3);
    }
}
