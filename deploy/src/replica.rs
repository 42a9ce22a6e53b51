//! `rampart replica`: runs one replica until SIGINT or SIGTERM, or until it fails.
//!
//! Exit status: 0 after a clean shutdown on a signal; 2 when a file is wrong (the
//! checks are in `setup.rs`); 1 when the replica cannot run (a port in use, a storage
//! failure) or stopped on its own (a storage failure, or f + 1 peers refusing it because
//! another process already runs with its key).

mod setup;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use rampart_replica::app::Typed;
use rampart_replica::apps::interlock::Interlock;
use rampart_replica::apps::kv::KvStore;
use rampart_replica::net::TransportError;
use rampart_replica::node::{Node, NodeError};
use rampart_replica::store::StoreError;

use crate::failure::Failure;
use crate::files::cluster::Application;
use crate::logging;

pub use setup::Setup;

impl Setup {
    /// Reads a replica's files as `rampart replica --config` does: its configuration file,
    /// the cluster file it names and its key, checked together. For programs that embed a
    /// replica with their own application.
    pub fn load(config_path: &Path) -> Result<Setup, Failure> {
        setup::load(config_path, None, None)
    }
}

/// How long the runtime may take to finish its tasks once the replica has stopped.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one replica until SIGINT or SIGTERM.
#[derive(Debug, clap::Args)]
pub struct ReplicaArgs {
    /// The replica's configuration file, `replica-<i>.toml` as written by `rampart init`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Use this key file instead of the one the configuration names (for example a
    /// credential that systemd hands in).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Use this data directory instead of the one the configuration names (for example a
    /// volume that is mounted elsewhere than the configuration).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Runs `rampart replica`.
pub fn run(args: &ReplicaArgs) -> Result<(), Failure> {
    let setup = setup::load(&args.config, args.key.as_deref(), args.data_dir.as_deref())?;
    check_listen_address(&setup)?;
    std::fs::create_dir_all(&setup.node.data_dir).map_err(|error| {
        Failure::runtime(format_args!(
            "{}: cannot create the data directory {}: {error}; check `data_dir` and its \
             permissions",
            setup.config_path.display(),
            setup.node.data_dir.display()
        ))
    })?;
    logging::init()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rampart-io")
        .build()
        .map_err(|error| Failure::runtime(format_args!("cannot start the runtime: {error}")))?;
    let result = runtime.block_on(serve(setup));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    result
}

/// Binds the listen address once before anything starts, so that a port in use is
/// reported on its own instead of after the replica has begun logging its start.
fn check_listen_address(setup: &Setup) -> Result<(), Failure> {
    let listen = setup.node.listen;
    UdpSocket::bind(listen)
        .map(drop)
        .map_err(|error| listen_failure(&setup.config_path, listen, &error))?;
    if let Some(metrics) = setup.node.metrics_listen {
        TcpListener::bind(metrics)
            .map(drop)
            .map_err(|error| metrics_listen_failure(&setup.config_path, metrics, &error))?;
    }
    Ok(())
}

fn metrics_listen_failure(
    config_path: &Path,
    listen: std::net::SocketAddr,
    error: &std::io::Error,
) -> Failure {
    Failure::runtime(format_args!(
        "{}: cannot listen for metrics on TCP {listen}: {error}; stop the process that holds \
         the port, or change [metrics] listen (and this replica's metrics address in the \
         cluster file)",
        config_path.display()
    ))
}

fn listen_failure(
    config_path: &Path,
    listen: std::net::SocketAddr,
    error: &std::io::Error,
) -> Failure {
    Failure::runtime(format_args!(
        "{}: cannot listen on UDP {listen}: {error}; stop the process that holds the port, or \
         change `listen` (and this replica's address in the cluster file)",
        config_path.display()
    ))
}

/// Why the replica stopped serving.
enum Stop {
    Signal(&'static str),
    Failed(String),
}

async fn serve(setup: Setup) -> Result<(), Failure> {
    // Installed before the node starts: a signal during start-up then stops the replica
    // cleanly instead of killing the process.
    let signal_failure =
        |error: std::io::Error| Failure::runtime(format_args!("cannot watch signals: {error}"));
    let mut terminate = signal(SignalKind::terminate()).map_err(signal_failure)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_failure)?;

    let replica = setup.node.replica.0;
    let node = start(setup).await?;
    tracing::info!(
        replica,
        address = %node.local_addr(),
        "replica running; stop it with SIGINT or SIGTERM"
    );
    let stop = tokio::select! {
        _ = terminate.recv() => Stop::Signal("SIGTERM"),
        _ = interrupt.recv() => Stop::Signal("SIGINT"),
        reason = node.failed() => Stop::Failed(reason),
    };
    match stop {
        Stop::Signal(name) => {
            tracing::info!(replica, "{name} received; shutting down");
            node.shutdown().await.map_err(|error| {
                Failure::runtime(format_args!(
                    "replica {replica} did not shut down cleanly: {error}"
                ))
            })?;
            tracing::info!(replica, "replica stopped");
            Ok(())
        }
        Stop::Failed(reason) => {
            // The failure is what the operator needs to see; an error from tearing down
            // what is left of the node would only repeat it.
            let _ = node.shutdown().await;
            Err(Failure::runtime(format_args!(
                "replica {replica} stopped: {reason}"
            )))
        }
    }
}

async fn start(setup: Setup) -> Result<Node, Failure> {
    let Setup {
        config_path,
        node,
        key,
        application,
    } = setup;
    let builder = Node::builder(node).key(key);
    let builder = match application {
        Application::Kv => builder.application(Typed::new(KvStore::new())),
        Application::Interlock(policy) => {
            let interlock = Interlock::new(policy)
                .map_err(|error| Failure::config(format_args!("the interlock policy: {error}")))?;
            builder.application(Typed::new(interlock))
        }
    };
    builder
        .start()
        .await
        .map_err(|error| start_failure(&config_path, error))
}

/// A failed start, reported as a configuration problem when a file is to blame.
fn start_failure(config_path: &Path, error: NodeError) -> Failure {
    let shown = config_path.display();
    match error {
        NodeError::Transport(TransportError::Bind { address, source }) => {
            listen_failure(config_path, address, &source)
        }
        NodeError::MetricsBind { address, source } => {
            metrics_listen_failure(config_path, address, &source)
        }
        NodeError::Store(StoreError::ForeignDirectory { .. })
        | NodeError::Config(_)
        | NodeError::KeyMismatch { .. }
        | NodeError::UnknownReplica { .. }
        | NodeError::AddressCount { .. } => Failure::config(format_args!("{shown}: {error}")),
        other => Failure::runtime(format_args!(
            "{shown}: the replica could not start: {other}"
        )),
    }
}
