//! The `rampart` binary. Everything but printing the failure lives in the library.

use std::process::ExitCode;

use clap::Parser;

use rampart_deploy::cli::Cli;

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
