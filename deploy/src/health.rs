//! `rampart health --url URL`: exit status 0 when the URL answers HTTP 200, 1 otherwise,
//! with no tool besides the `rampart` binary, for a container image built `FROM scratch`:
//!
//! ```dockerfile
//! HEALTHCHECK CMD ["/rampart", "health", "--url", "http://127.0.0.1:9100/health"]
//! ```
//!
//! Every failure, a malformed URL included, exits with 1: Docker reserves status 2.

use std::time::Duration;

use crate::failure::Failure;
use crate::http_get::{self, Url};

/// Checks a replica's HTTP endpoint (or any http:// URL).
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The URL to GET, for example http://127.0.0.1:9100/health (or /ready).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    pub timeout_ms: u64,
}

/// Runs `rampart health`.
pub fn run(args: &HealthArgs) -> Result<(), Failure> {
    let url: Url = args
        .url
        .parse()
        .map_err(|error: String| Failure::runtime(format_args!("--url: {error}")))?;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let answer = http_get::get(&url.address, &url.path, timeout).map_err(Failure::runtime)?;
    let first_line = answer.body.lines().next().unwrap_or_default();
    if answer.status != 200 {
        return Err(Failure::runtime(format_args!(
            "{} answered HTTP {}: {first_line}",
            args.url, answer.status
        )));
    }
    println!("{} answered HTTP 200: {first_line}", args.url);
    Ok(())
}
