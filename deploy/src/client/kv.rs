//! `rampart client … kv`: put, get and delete on the key-value store.

use bytes::Bytes;

use rampart_client::Client;
use rampart_replica::apps::kv::{Command, KvStore, Output, Query, QueryOutput};

use super::setup::ClientSetup;
use crate::failure::Failure;

/// A key-value command.
#[derive(Debug, clap::Args)]
pub struct KvArgs {
    #[command(subcommand)]
    pub command: KvCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KvCommand {
    /// Set KEY to VALUE; prints the previous value (nothing if there was none).
    Put { key: String, value: String },
    /// Print KEY's value (nothing if it has none), read through the ordered path.
    Get {
        key: String,
        /// Read from 2f+1 replicas' current state at once instead of ordering the read
        /// (PBFT §5.1.3); falls back to ordering it when their answers differ.
        #[arg(long)]
        read_only: bool,
    },
    /// Remove KEY; prints the value it had (nothing if there was none).
    Delete { key: String },
}

/// Runs one command and returns what to print.
pub async fn run(setup: &ClientSetup, command: &KvCommand) -> Result<Vec<u8>, Failure> {
    let client = setup.connect().await?;
    let result = call(&client, command).await;
    super::close(client).await;
    let value = result.map_err(|error| setup.call_failure(error))?;
    value_line(value)
}

/// What the store returned: the value the command reports, or an output of another
/// command, which no correct cluster gives.
enum Answer {
    Value(Option<Bytes>),
    Unexpected(String),
}

async fn call(client: &Client, command: &KvCommand) -> Result<Answer, rampart_client::ClientError> {
    let bytes = |text: &str| Bytes::copy_from_slice(text.as_bytes());
    let answer = match command {
        KvCommand::Put { key, value } => {
            let put = Command::Put {
                key: bytes(key),
                value: bytes(value),
            };
            match client.execute::<KvStore>(&put).await? {
                Output::Put { previous } => Answer::Value(previous),
                other => Answer::Unexpected(format!("{other:?}")),
            }
        }
        KvCommand::Get {
            key,
            read_only: false,
        } => {
            let get = Command::Get { key: bytes(key) };
            match client.execute::<KvStore>(&get).await? {
                Output::Get { value } => Answer::Value(value),
                other => Answer::Unexpected(format!("{other:?}")),
            }
        }
        KvCommand::Get {
            key,
            read_only: true,
        } => {
            let get = Query::Get { key: bytes(key) };
            let QueryOutput::Get { value } = client.query_typed::<KvStore>(&get).await?;
            Answer::Value(value)
        }
        KvCommand::Delete { key } => {
            let delete = Command::Delete { key: bytes(key) };
            match client.execute::<KvStore>(&delete).await? {
                Output::Delete { previous } => Answer::Value(previous),
                other => Answer::Unexpected(format!("{other:?}")),
            }
        }
    };
    Ok(answer)
}

/// The value and a newline, or nothing for no value.
fn value_line(answer: Answer) -> Result<Vec<u8>, Failure> {
    match answer {
        Answer::Value(None) => Ok(Vec::new()),
        Answer::Value(Some(value)) => {
            let mut line = value.to_vec();
            line.push(b'\n');
            Ok(line)
        }
        Answer::Unexpected(output) => Err(Failure::runtime(format_args!(
            "the replicas answered with the output of another command ({output}); check \
             that every replica runs the same version of Rampart"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_value_prints_nothing_and_an_empty_one_an_empty_line() {
        let line = |value: Option<&'static str>| {
            value_line(Answer::Value(
                value.map(|text| Bytes::from_static(text.as_bytes())),
            ))
            .expect("a value")
        };
        assert_eq!(line(None), b"");
        assert_eq!(line(Some("")), b"\n");
        assert_eq!(line(Some("v 1")), b"v 1\n");
        assert!(value_line(Answer::Unexpected("Noop".to_string())).is_err());
    }
}
