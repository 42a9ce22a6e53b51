//! `client-<j>.toml`: the settings of one client (an interlock agent, or a user of the
//! key-value store).
//!
//! ```toml
//! cluster = "cluster.toml"        # relative to this file
//! key = "client-0.key"
//! retransmit_timeout_ms = 1000
//! request_timeout_ms = 30000
//! connect_timeout_ms = 10000
//! read_only_timeout_ms = 1000
//! ```
//!
//! The timeouts map onto the SDK's `rampart_client::ClientConfig`: `retransmit_timeout_ms`
//! is its first retransmission interval, `request_timeout_ms` its `request_timeout`, and so
//! on; `rampart_deploy::client::ClientSetup` does the mapping.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::files::document::{Document, RenderError};

/// How long a client waits for f+1 matching replies before it sends its request to every
/// replica (PBFT §4.1).
pub const DEFAULT_RETRANSMIT_TIMEOUT_MS: u64 = 1_000;

/// How long a client tries before it gives up on a request.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// How long a client waits for the first replica to accept its connection.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;

/// How long a read-only request waits for 2f+1 matching answers before the client orders
/// it instead (PBFT §5.1.3).
pub const DEFAULT_READ_ONLY_TIMEOUT_MS: u64 = 1_000;

/// A client's settings as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// The cluster description.
    pub cluster: PathBuf,
    /// The client's private key file.
    pub key: PathBuf,
    #[serde(default = "default_retransmit_timeout_ms")]
    pub retransmit_timeout_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_read_only_timeout_ms")]
    pub read_only_timeout_ms: u64,
}

fn default_retransmit_timeout_ms() -> u64 {
    DEFAULT_RETRANSMIT_TIMEOUT_MS
}

fn default_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}

fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}

fn default_read_only_timeout_ms() -> u64 {
    DEFAULT_READ_ONLY_TIMEOUT_MS
}

impl ClientFile {
    /// The settings `rampart init` writes for client `client`.
    pub fn new(client: u32) -> ClientFile {
        ClientFile {
            cluster: PathBuf::from("cluster.toml"),
            key: PathBuf::from(format!("client-{client}.key")),
            retransmit_timeout_ms: DEFAULT_RETRANSMIT_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            read_only_timeout_ms: DEFAULT_READ_ONLY_TIMEOUT_MS,
        }
    }

    /// Reads and checks a client file; errors name the file.
    pub fn load(path: &Path) -> Result<ClientFile, Failure> {
        let file: ClientFile = super::load(path, "the client file")?;
        file.check()
            .map_err(|message| Failure::config(format_args!("{}: {message}", path.display())))?;
        Ok(file)
    }

    /// Checks the timeouts; the error says what to change.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("retransmit_timeout_ms", self.retransmit_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("read_only_timeout_ms", self.read_only_timeout_ms),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.request_timeout_ms < self.retransmit_timeout_ms {
            return Err(format!(
                "request_timeout_ms ({}) is shorter than retransmit_timeout_ms ({}); make it \
                 at least as long",
                self.request_timeout_ms, self.retransmit_timeout_ms
            ));
        }
        Ok(())
    }

    /// The file's text, with every field explained.
    pub fn render(&self, client: u32) -> Result<String, RenderError> {
        let mut document = Document::of(self, "client file")?;
        document
            .header(&format!(
                "The settings of client {client}. Relative paths are relative to the\n\
                 directory of this file."
            ))
            .root()
            .describe(
                "cluster",
                "The cluster description, shared by every replica and client.",
            )
            .describe(
                "key",
                "This client's private key (mode 0600). Its public key is the client's\n\
                 identity; for the interlock, it is the agent's registered key.",
            )
            .describe(
                "retransmit_timeout_ms",
                "How long to wait for f+1 matching replies before sending the request to\n\
                 every replica, in milliseconds.",
            )
            .describe(
                "request_timeout_ms",
                "How long to keep trying before giving up on a request, in milliseconds.",
            )
            .describe(
                "connect_timeout_ms",
                "How long to wait for the first replica to accept the connection before\n\
                 reporting the cluster unreachable, in milliseconds.",
            )
            .describe(
                "read_only_timeout_ms",
                "How long a read-only request (`kv get --read-only`, `interlock status`)\n\
                 waits for 2f+1 matching answers before the client orders it instead, in\n\
                 milliseconds.",
            );
        Ok(document.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rendered_file_parses_back_and_checks() {
        let file = ClientFile::new(3);
        let text = file.render(3).expect("renders");
        crate::files::document::assert_every_field_is_commented(&text);
        assert!(text.starts_with("# The settings of client 3."), "{text}");
        let parsed: ClientFile = crate::files::parse(&text).expect("parses");
        assert_eq!(parsed, file);
        assert_eq!(parsed.check(), Ok(()));
    }

    #[test]
    fn inconsistent_timeouts_are_refused() {
        let mut file = ClientFile::new(0);
        file.request_timeout_ms = 10;
        assert!(
            file.check()
                .expect_err("refused")
                .contains("request_timeout_ms")
        );
        file.retransmit_timeout_ms = 0;
        assert!(file.check().is_err());
        let mut file = ClientFile::new(0);
        file.connect_timeout_ms = 0;
        assert!(
            file.check()
                .expect_err("refused")
                .contains("connect_timeout_ms")
        );
    }

    #[test]
    fn files_without_the_newer_timeouts_take_the_defaults() {
        let text = "cluster = \"cluster.toml\"\nkey = \"client-0.key\"\n";
        let parsed: ClientFile = crate::files::parse(text).expect("parses");
        assert_eq!(parsed, ClientFile::new(0));
    }
}
