//! Logs to stderr through `tracing-subscriber`, filtered by `RUST_LOG` when it is set:
//! readable lines by default, or one JSON object per line with `--log-format json`, for
//! log collectors.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::failure::Failure;

/// What is logged when `RUST_LOG` is not set: Rampart's own crates at info, everything
/// else (QUIC, TLS) only when it warns.
pub const DEFAULT_FILTER: &str =
    "warn,rampart=info,rampart_deploy=info,rampart_replica=info,rampart_crypto=info";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines: time, level, where, message, fields.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, and each
    /// field of the event by its name.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Chooses the format for [`init`]; the command line sets it once, before any
/// subcommand runs.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|error| Failure::runtime(format_args!("cannot set up logging: {error}")))
}
