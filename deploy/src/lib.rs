//! The `rampart` command's library: the files its subcommands share.
//!
//! - [`files`]: the file formats (`cluster.toml`, `replica-<i>.toml`, `client-<j>.toml`);
//! - [`address`]: replica addresses as the files write them;
//! - [`failure`]: what a subcommand reports when it fails.

pub mod address;
pub mod failure;
pub mod files;

pub use failure::{Failure, FailureKind};
