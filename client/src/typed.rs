//! Typed calls for applications written against [`Application`]: commands, queries and
//! their outputs as serde types instead of bytes.

use tokio::time::Instant;

use rampart_replica::app::{
    Application, decode_output, decode_query_output, encode_command, encode_query,
};

use crate::certificate::Certificate;
use crate::client::Client;
use crate::error::ClientError;

impl Client {
    /// Orders `command` and returns the application's output (see [`Client::submit`]).
    pub async fn execute<A: Application>(
        &self,
        command: &A::Command,
    ) -> Result<A::Output, ClientError> {
        let result = self.submit(encode_command::<A>(command)).await?;
        decode_output::<A>(&result).map_err(|source| ClientError::Output { source })
    }

    /// Orders `command` and returns the output with its commit certificate (see
    /// [`Client::submit_certified`]).
    pub async fn execute_certified<A: Application>(
        &self,
        command: &A::Command,
    ) -> Result<(A::Output, Certificate), ClientError> {
        let (result, certificate) = self.submit_certified(encode_command::<A>(command)).await?;
        let output =
            decode_output::<A>(&result).map_err(|source| ClientError::Output { source })?;
        Ok((output, certificate))
    }

    /// Answers `query` from 2f + 1 matching read-only answers (PBFT §5.1.3).
    ///
    /// Unlike [`Client::query`], this never falls back to ordering the query bytes: a
    /// typed application decodes an ordered operation as a `Command`, and query bytes read
    /// as a command are refused at best and, at worst, a different command that changes
    /// the state. When the answers disagree (writes in progress), the read is retried
    /// with a fresh request number until `request_timeout`; to read through the ordered
    /// path, express the read as a command and use [`Client::execute`].
    pub async fn query_typed<A: Application>(
        &self,
        query: &A::Query,
    ) -> Result<A::QueryOutput, ClientError> {
        let started = Instant::now();
        let deadline = started + self.config().request_timeout;
        let result = self
            .query_read_only(encode_query::<A>(query), started, deadline)
            .await?;
        decode_query_output::<A>(&result).map_err(|source| ClientError::Output { source })
    }
}
