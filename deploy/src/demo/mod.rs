//! `rampart demo`: the embedded default. A four-replica cluster in this process, over QUIC
//! on 127.0.0.1, runs the safety-shutdown interlock; seven agents vote on one unit, two
//! of them faulty, while one replica is Byzantine; an actuator acts on the decision only
//! once a certificate proves it. The story is printed as a timeline on stdout.
//!
//! - `cluster.rs`: the in-process cluster (ephemeral ports, temporary storage);
//! - `traitor.rs`: the Byzantine replica's behaviour;
//! - `agents.rs`: the agents and how their votes' outcomes read;
//! - `scenario.rs`: the story, step by step;
//! - `views.rs`, `inspect.rs`, `timeline.rs`: watching view changes, asking each replica
//!   for itself, and printing.
//!
//! Exit status 0 when the story ends as it must (SHUTDOWN latched, the actuator tripped
//! on a verified certificate, every correct replica agreeing), 1 with a one-line error
//! otherwise. Logs are off unless `RUST_LOG` asks for them, so the timeline stays
//! readable.

pub mod traitor;

mod agents;
mod inspect;
mod scenario;
mod timeline;
mod views;

use std::time::Duration;

use crate::failure::Failure;
use crate::logging;

/// How long the whole demo may take before it gives up; it normally takes a few seconds.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the runtime may take to finish its tasks once the demo is over.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the embedded demo: no files, no options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `rampart demo`.
pub fn run(_args: &DemoArgs) -> Result<(), Failure> {
    if std::env::var_os("RUST_LOG").is_some() {
        logging::init()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rampart-demo")
        .build()
        .map_err(|error| Failure::runtime(format_args!("cannot start the runtime: {error}")))?;
    let result = runtime.block_on(async {
        match tokio::time::timeout(DEMO_TIMEOUT, scenario::run()).await {
            Ok(result) => result,
            Err(_) => Err(Failure::runtime(format_args!(
                "the demo did not finish within {DEMO_TIMEOUT:?}; run it again with \
                 RUST_LOG=rampart_replica=info to see what the replicas did"
            ))),
        }
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    result
}
