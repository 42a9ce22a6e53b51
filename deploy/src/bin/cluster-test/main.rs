//! `make cluster-test`: four replicas in containers, run by the shipped compose.yaml from
//! `rampart keygen` and `rampart init --public-keys` output (each container mounts only
//! its own key), a client workload from this host through the published ports, and real
//! faults injected with the container engine, one at a time:
//!
//! 1. SIGKILL the primary (`docker kill -s KILL`), then start it again;
//! 2. pause the primary (`docker pause`) for several view-change timeouts;
//! 3. cut a replica off its network, and reconnect it at a new address, which its peers
//!    find by looking its name up again;
//! 4. stop a replica, wipe its data volume and start it: it recovers by state transfer.
//!
//! Then every replica is read for itself until all hold the same state, the final values
//! are checked against every acknowledged write, and the clients' history against the
//! linearizability checker of the test kit. The report goes to stdout; the exit status is
//! 1 when anything was lost or wrong.

mod audit;
mod docker;
mod faults;
mod model;
mod setup;
mod verdict;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Runs four replicas in containers under faults and checks what the clients saw.
#[derive(Debug, Parser)]
#[command(name = "cluster-test")]
struct Args {
    /// The image the replicas run (`make image` builds it).
    #[arg(long, value_name = "IMAGE", default_value = "rampart:latest")]
    image: String,
    /// The compose file that runs the replicas.
    #[arg(long, value_name = "FILE", default_value = "deploy/compose.yaml")]
    compose_file: PathBuf,
    /// Where the run's keys, files, data and logs go; an earlier run's are replaced.
    #[arg(long, value_name = "DIR", default_value = "target/cluster-test")]
    work_dir: PathBuf,
    /// The `rampart` binary that makes the keys and files [default: the one beside this
    /// program].
    #[arg(long, value_name = "FILE")]
    rampart: Option<PathBuf>,
    /// Seed of the workload's choices [default: drawn at random; the report prints it].
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some()
        && let Err(failure) = rampart_deploy::logging::init()
    {
        eprintln!("error: {failure}");
        return ExitCode::from(2);
    }
    match faults::run(&faults::Options {
        image: args.image,
        compose_file: args.compose_file,
        work_dir: args.work_dir,
        rampart: args.rampart,
        seed: args.seed,
    }) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("cluster-test: {message}");
            ExitCode::FAILURE
        }
    }
}
