//! Typed calls for applications written against [`Application`]: commands, queries and
//! their outputs as serde types instead of bytes.

use rampart_protocol::app::{
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

    /// Answers `query` from 2f + 1 matching read-only answers (PBFT §5.1.3), falling back
    /// to ordering it when they disagree (see [`Client::query`]). Typed operations are
    /// tagged as commands or queries, so an ordered query only reads the state.
    pub async fn query_typed<A: Application>(
        &self,
        query: &A::Query,
    ) -> Result<A::QueryOutput, ClientError> {
        let result = self.query(encode_query::<A>(query)).await?;
        decode_query_output::<A>(&result).map_err(|source| ClientError::Output { source })
    }
}
