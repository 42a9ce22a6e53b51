//! The `rampart` binary. Everything but printing the failure lives in the library.

use std::process::ExitCode;

use clap::Parser;

use rampart_deploy::cli::Cli;

/// Replicas allocate a buffer or two for every message; mimalloc's thread-local free
/// lists make that cheaper than the system allocator (measured with `rampart bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
