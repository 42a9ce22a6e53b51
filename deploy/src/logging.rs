//! Logs to stderr through `tracing-subscriber`, filtered by `RUST_LOG` when it is set.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::failure::Failure;

/// What is logged when `RUST_LOG` is not set: Rampart's own crates at info, everything
/// else (QUIC, TLS) only when it warns.
pub const DEFAULT_FILTER: &str =
    "warn,rampart=info,rampart_deploy=info,rampart_replica=info,rampart_crypto=info";

/// Installs the global subscriber. An invalid `RUST_LOG` is refused rather than ignored,
/// so that an operator who asked for more logs is not left wondering why none came.
pub fn init() -> Result<(), Failure> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|error| {
                Failure::config(format_args!(
                    "RUST_LOG={directives:?} is not a valid log filter ({error}); fix it (for \
                     example RUST_LOG=rampart_replica=debug) or unset it"
                ))
            })?,
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|error| Failure::runtime(format_args!("cannot set up logging: {error}")))
}
