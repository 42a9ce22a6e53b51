//! The `rampart` command: one module per subcommand, and the files they share.
//!
//! - [`init`]: writes the keys and configuration files of a new cluster;
//! - [`keygen`]: writes one private key on the host that will use it;
//! - [`replica`]: runs one replica from those files;
//! - [`demo`]: the embedded default, a cluster in one process deciding a safety shutdown;
//! - [`client`]: sends one command to a running cluster, or checks a certificate;
//! - [`bench`]: measures throughput and latency against the crypto-bound ceiling;
//! - [`chaos`]: runs the seeded fault campaign on simulated clusters;
//! - [`status`]: shows every replica of a running cluster, from their HTTP endpoints;
//! - [`health`]: checks one HTTP endpoint, for container health checks;
//! - [`files`]: the file formats (`cluster.toml`, `replica-<i>.toml`, `client-<j>.toml`).
//!
//! Every subcommand returns a [`Failure`]: one line for the user that says what to fix,
//! and an exit status (2 for a wrong command line or file, 1 for a failure at run time).
//! The library is kept apart from `main.rs` so that tests and later subcommands (the
//! client, the demo) can read the same files with the same checks.

pub mod address;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod client;
pub mod demo;
pub mod failure;
pub mod files;
pub mod health;
pub mod http_get;
pub mod init;
pub mod keygen;
pub mod local;
pub mod logging;
pub mod progress;
pub mod replica;
pub mod status;

pub use failure::{Failure, FailureKind};
