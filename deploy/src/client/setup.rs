//! What a client needs before it connects, read and checked from `client-<j>.toml` and the
//! cluster file it names, and the mapping of the client file's settings onto the SDK's
//! [`ClientConfig`]:
//!
//! | `client-<j>.toml`        | [`ClientConfig`]                                     |
//! | ------------------------ | ---------------------------------------------------- |
//! | `retransmit_timeout_ms`  | `retransmit_interval_min` (the ceiling is raised to at least it) |
//! | `request_timeout_ms`     | `request_timeout`                                    |
//! | `connect_timeout_ms`     | `connect_timeout`                                    |
//! | `read_only_timeout_ms`   | `read_only_timeout`                                  |
//! | cluster's `client_window`| `window`                                             |

use std::path::{Path, PathBuf};
use std::time::Duration;

use rampart_client::{Client, ClientConfig, ClientError};
use rampart_crypto::{CryptoError, KeyPair, load_key_pair};
use rampart_replica::apps::interlock::Policy;
use rampart_replica::message::ClientId;

use crate::failure::Failure;
use crate::files::client::ClientFile;
use crate::files::cluster::{Application, ApplicationKind, ClusterFile, ClusterSpec};
use crate::files::{self, resolve};

/// A client's files, read and checked; nothing is connected yet.
#[derive(Debug)]
pub struct ClientSetup {
    /// The client file, as given on the command line, for messages.
    pub config_path: PathBuf,
    pub file: ClientFile,
    /// The cluster file the client file names.
    pub cluster_path: PathBuf,
    pub cluster_file: ClusterFile,
    pub spec: ClusterSpec,
}

impl ClientSetup {
    /// Reads the client file and the cluster file it names. The key is read only when
    /// connecting: checking a certificate needs none.
    pub fn load(config_path: &Path) -> Result<ClientSetup, Failure> {
        let file = ClientFile::load(config_path)?;
        let cluster_path = resolve(config_path, &file.cluster);
        let cluster_file: ClusterFile = files::load(&cluster_path, "the cluster file")?;
        let spec = cluster_file.check().map_err(|message| {
            Failure::config(format_args!("{}: {message}", cluster_path.display()))
        })?;
        Ok(ClientSetup {
            config_path: config_path.to_path_buf(),
            file,
            cluster_path,
            cluster_file,
            spec,
        })
    }

    /// Refuses a command for another application than the cluster runs.
    pub fn require(&self, application: ApplicationKind) -> Result<(), Failure> {
        let runs = self.cluster_file.application;
        if runs == application {
            return Ok(());
        }
        Err(Failure::config(format_args!(
            "{} runs the {} application, so `{}` commands cannot be sent to it; use \
             `rampart client --config {} {} …`",
            self.cluster_path.display(),
            runs.name(),
            application.name(),
            self.config_path.display(),
            runs.name()
        )))
    }

    /// The interlock's policy, for an interlock cluster.
    pub fn policy(&self) -> Option<&Policy> {
        match &self.spec.application {
            Application::Interlock(policy) => Some(policy),
            Application::Kv => None,
        }
    }

    /// The client's key pair, from the key file the client file names.
    pub fn key(&self) -> Result<KeyPair, Failure> {
        let key_path = resolve(&self.config_path, &self.file.key);
        load_key_pair(&key_path).map_err(|error| {
            let advice = match error {
                CryptoError::KeyFilePermissions { .. } => "",
                CryptoError::KeyFileIo { .. } => "; check the path in `key`",
                _ => "; use the key file `rampart init` wrote for this client",
            };
            Failure::config(format_args!(
                "{}: {error}{advice}",
                self.config_path.display()
            ))
        })
    }

    /// The SDK configuration: the cluster, its replicas' addresses (resolved now) and the
    /// client file's timeouts.
    pub fn client_config(&self) -> Result<ClientConfig, Failure> {
        let mut addresses = Vec::with_capacity(self.spec.addresses.len());
        for (index, address) in self.spec.addresses.iter().enumerate() {
            let resolved = address.resolve().map_err(|error| {
                Failure::runtime(format_args!(
                    "{}: cannot resolve the address of replica {index}, {address}: {error}; \
                     check the name",
                    self.cluster_path.display()
                ))
            })?;
            addresses.push(resolved);
        }
        let milliseconds = Duration::from_millis;
        let mut config = ClientConfig::new(self.spec.cluster.clone(), addresses);
        config.request_timeout = milliseconds(self.file.request_timeout_ms);
        config.retransmit_interval_min = milliseconds(self.file.retransmit_timeout_ms);
        config.retransmit_interval_max = config
            .retransmit_interval_max
            .max(config.retransmit_interval_min);
        config.connect_timeout = milliseconds(self.file.connect_timeout_ms);
        config.read_only_timeout = milliseconds(self.file.read_only_timeout_ms);
        config.window = self.spec.protocol.client_window;
        config.operation_bytes_max = self.spec.protocol.operation_bytes_max;
        Ok(config)
    }

    /// Connects to the cluster with the client's key.
    pub async fn connect(&self) -> Result<Client, Failure> {
        let config = self.client_config()?;
        let key = self.key()?;
        Client::connect(config, key)
            .await
            .map_err(|error| self.call_failure(error))
    }

    /// A failed client call, in the files' terms.
    pub fn call_failure(&self, error: ClientError) -> Failure {
        let config = self.config_path.display();
        match error {
            ClientError::Unreachable {
                replica_count,
                after,
            } => Failure::runtime(format_args!(
                "none of the {replica_count} replicas accepted a connection within {}; check \
                 that they are running and that the addresses in {} reach them, or raise \
                 connect_timeout_ms in {config}",
                seconds(after),
                self.cluster_path.display()
            )),
            ClientError::Timeout {
                after,
                replies_seen,
            } => Failure::runtime(format_args!(
                "no quorum of matching replies after {} ({replies_seen} of {} replicas \
                 answered); check that at least {} replicas are running and reachable, or \
                 raise request_timeout_ms in {config}. The request may still be executed \
                 later",
                seconds(after),
                self.spec.cluster.size(),
                self.spec.cluster.quorum()
            )),
            ClientError::NotAdmitted { key, refused_by } => Failure::config(format_args!(
                "{refused_by} replicas refused this client's key {key} as not admitted; list \
                 it in the [clients] keys of {} on every replica and restart them",
                self.cluster_path.display()
            )),
            ClientError::InvalidConfig { .. } => Failure::config(format_args!("{config}: {error}")),
            ClientError::RequestTooLarge { bytes, limit } => Failure::config(format_args!(
                "the request encodes to {bytes} bytes, more than the limit of {limit}; send \
                 a smaller key or value"
            )),
            ClientError::OperationTooLarge { bytes, limit } => Failure::config(format_args!(
                "the command encodes to {bytes} bytes, more than operation_bytes_max = {limit} \
                 in {}'s [protocol]; send a smaller key or value, or raise \
                 operation_bytes_max there, for every replica and client",
                self.cluster_path.display()
            )),
            other => Failure::runtime(other),
        }
    }

    /// The client's index in the cluster file's `registered_agents`: agent j is client j
    /// of `rampart init`.
    pub fn agent_index(&self, client: &ClientId) -> Option<usize> {
        let genesis = self.cluster_file.interlock.as_ref()?;
        genesis
            .registered_agents
            .iter()
            .position(|agent| agent.0 == client.0)
    }

    /// How a client is named in output: `agent <j> (c<key>)` for a registered agent, else
    /// its key.
    pub fn client_name(&self, client: &ClientId) -> String {
        match self.agent_index(client) {
            Some(index) => format!("agent {index} ({client})"),
            None => client.to_string(),
        }
    }
}

/// A duration in seconds with one decimal, for messages.
fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}
