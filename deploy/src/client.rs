//! `rampart client`: one command against a running cluster, from a `client-<j>.toml`.
//!
//! ```text
//! rampart client --config DIR/client-<j>.toml kv put KEY [VALUE | --value-file FILE]
//! rampart client --config DIR/client-<j>.toml kv get KEY [--read-only]
//! rampart client --config DIR/client-<j>.toml kv delete KEY
//! rampart client --config DIR/client-<j>.toml interlock vote --unit U --round R
//!     (--shutdown | --continue) --confidence PCT [--certificate FILE]
//! rampart client --config DIR/client-<j>.toml interlock reset --unit U --round R
//! rampart client --config DIR/client-<j>.toml interlock status --unit U [--history N]
//! rampart client --config DIR/client-<j>.toml interlock verify --certificate FILE
//! ```
//!
//! The result goes to stdout; a failure is one line on stderr with exit status 2 when
//! the command line or a file must change (including a `kv` command against an interlock
//! cluster, or the reverse: `cluster.toml` names the application), and 1 when the
//! cluster could not do it (unreachable, no quorum before `request_timeout_ms`, the
//! request refused, a certificate that does not verify).
//!
//! - `kv put` stores VALUE as text, or without it the bytes of `--value-file FILE`, or else
//!   all of standard input, so that binary and large values work.
//! - `kv put` and `kv delete` print the key's previous value, and `kv get` its value,
//!   as raw bytes followed by a newline. A key that had no value prints nothing at all,
//!   so an absent key and an empty value (one empty line) can be told apart. `kv get`
//!   orders the read (linearizable); `--read-only` asks every replica to answer from its
//!   current state at once and accepts 2f+1 matching answers (PBFT §5.1.3), falling back
//!   to ordering it.
//! - `interlock vote` prints how the vote counted (or why it was ignored), the tally and
//!   the decision. With `--certificate FILE` it waits for the replicas' commit
//!   certificate and writes it to FILE (format in [`certificate`]), which `interlock
//!   verify` checks offline, with no connection, against the cluster file alone. A vote
//!   (or reset) the replicas ignored because the client is not a registered agent fails
//!   with exit status 2.
//! - `interlock status` reads the unit's status read-only (as `kv get --read-only`).
//!
//! Logs are off unless `RUST_LOG` is set, so that stderr holds nothing but the failure.

pub mod certificate;
mod describe;
mod interlock;
mod kv;
mod setup;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::failure::Failure;
use crate::files::cluster::ApplicationKind;
use crate::logging;

pub use interlock::{InterlockArgs, InterlockCommand};
pub use kv::{KvArgs, KvCommand};
pub use setup::ClientSetup;

/// How long the runtime may take to finish its tasks once the command is done.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long closing the connections may take once the result is in.
///
/// Closing sends every replica the close at once; what takes longer is QUIC's draining
/// period, which for a replica that is down (a dial still in its handshake) lasts several
/// probe timeouts: seconds added to every command while one replica is down, for nothing
/// a one-shot command needs.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(300);

/// Runs one command against a cluster: a key-value operation or an interlock vote,
/// status or certificate check.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The client's configuration file, `client-<j>.toml` as written by `rampart init`.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub application: ApplicationCommand,
}

/// The application the command is for; it must be the one `cluster.toml` names.
#[derive(Debug, clap::Subcommand)]
pub enum ApplicationCommand {
    /// The key-value store.
    Kv(KvArgs),
    /// The safety-shutdown interlock.
    Interlock(InterlockArgs),
}

/// Runs `rampart client`.
pub fn run(args: &ClientArgs) -> Result<(), Failure> {
    let setup = ClientSetup::load(&args.config)?;
    if std::env::var_os("RUST_LOG").is_some() {
        logging::init()?;
    }
    let output = match &args.application {
        ApplicationCommand::Kv(kv) => {
            setup.require(ApplicationKind::Kv)?;
            block_on(kv::run(&setup, &kv.command))?
        }
        ApplicationCommand::Interlock(interlock) => {
            setup.require(ApplicationKind::Interlock)?;
            match &interlock.command {
                // Offline: no runtime, no connection.
                InterlockCommand::Verify(verify) => certificate::verify(&setup, verify)?,
                command => block_on(interlock::run(&setup, command))?,
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .map_err(|error| Failure::runtime(format_args!("cannot write the result: {error}")))
}

/// Closes the client's connections, waiting at most [`CLOSE_TIMEOUT`].
async fn close(client: rampart_client::Client) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.close()).await;
}

/// Runs a command's future on a small runtime of its own.
fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("rampart-client")
        .build()
        .map_err(|error| Failure::runtime(format_args!("cannot start the runtime: {error}")))?;
    let result = runtime.block_on(future);
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    result
}
