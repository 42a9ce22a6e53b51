//! `rampart client … kv`: put, get and delete on the key-value store.

use std::io::Read;
use std::path::{Path, PathBuf};

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
    /// Set KEY to VALUE; prints the previous value (nothing if there was none). Without
    /// VALUE, the value is the bytes of --value-file FILE, or else everything on standard
    /// input, so that binary and large values need no quoting.
    Put {
        key: String,
        /// The value, as text.
        value: Option<String>,
        /// Read the value from FILE, byte for byte.
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        value_file: Option<PathBuf>,
    },
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
    // Read before connecting: a value that cannot be read or is too large needs no cluster.
    let put_value = match command {
        KvCommand::Put {
            value, value_file, ..
        } => Some(put_value(
            value.as_deref(),
            value_file.as_deref(),
            setup.spec.protocol.operation_bytes_max,
        )?),
        _ => None,
    };
    let client = setup.connect().await?;
    let result = call(&client, command, put_value).await;
    super::close(client).await;
    let value = result.map_err(|error| setup.call_failure(error))?;
    value_line(value)
}

/// The value to put: `value` as text, else the bytes of `value_file`, else standard input
/// to its end. None of them may hold more than `limit` bytes, the largest operation the
/// replicas accept (the operation holds the key too, which the client checks on sending):
/// reading stops there, so a huge file or an endless pipe costs no more memory than that.
fn put_value(
    value: Option<&str>,
    value_file: Option<&Path>,
    limit: usize,
) -> Result<Bytes, Failure> {
    if let Some(value) = value {
        return Ok(Bytes::copy_from_slice(value.as_bytes()));
    }
    let (source, read) = match value_file {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|error| {
                Failure::config(format_args!(
                    "cannot open the value file {}: {error}; check the path given to                      --value-file",
                    path.display()
                ))
            })?;
            (path.display().to_string(), read_at_most(file, limit))
        }
        None => (
            "standard input".to_string(),
            read_at_most(std::io::stdin().lock(), limit),
        ),
    };
    let bytes = read.map_err(|error| {
        Failure::config(format_args!("cannot read the value from {source}: {error}"))
    })?;
    if bytes.len() > limit {
        return Err(Failure::config(format_args!(
            "the value in {source} is over {limit} bytes, the largest operation the cluster              accepts (operation_bytes_max in the cluster file's [protocol]); store a smaller              value, or raise operation_bytes_max on every replica and client"
        )));
    }
    Ok(Bytes::from(bytes))
}

/// Reads `reader` to its end, or to `limit` + 1 bytes, whichever comes first.
fn read_at_most(reader: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What the store returned: the value the command reports, or an output of another
/// command, which no correct cluster gives.
enum Answer {
    Value(Option<Bytes>),
    Unexpected(String),
}

/// Runs `command`; a put stores `put_value`, read beforehand.
async fn call(
    client: &Client,
    command: &KvCommand,
    put_value: Option<Bytes>,
) -> Result<Answer, rampart_client::ClientError> {
    let bytes = |text: &str| Bytes::copy_from_slice(text.as_bytes());
    let answer = match command {
        KvCommand::Put { key, .. } => {
            let put = Command::Put {
                key: bytes(key),
                value: put_value.unwrap_or_default(),
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

    #[test]
    fn a_value_file_is_read_byte_for_byte_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("value");
        let binary: Vec<u8> = (0..=255u8).chain([0, 0xff, b'\n']).collect();
        std::fs::write(&path, &binary).expect("write");
        let read = put_value(None, Some(&path), binary.len()).expect("read");
        assert_eq!(read, binary);
        // The argument wins when given (clap refuses both on the command line).
        assert_eq!(
            put_value(Some("text"), Some(&path), 4).expect("argument"),
            Bytes::from_static(b"text")
        );

        let over = put_value(None, Some(&path), binary.len() - 1).expect_err("too large");
        assert_eq!(over.exit_code(), 2);
        assert!(over.message().contains("operation_bytes_max"), "{over}");
        let missing = put_value(None, Some(&dir.path().join("absent")), 10).expect_err("absent");
        assert_eq!(missing.exit_code(), 2);
        assert!(missing.message().contains("--value-file"), "{missing}");
    }

    #[test]
    fn reading_stops_one_byte_past_the_limit() {
        let endless = std::io::repeat(7);
        assert_eq!(read_at_most(endless, 10).expect("reads").len(), 11);
    }
}
