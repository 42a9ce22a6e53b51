//! The `rampart` binary, driven as an operator would: `init` output, `replica` refusals
//! with one-line errors, and a four-replica cluster that starts and stops cleanly.

mod cluster;
mod init;
mod replica_errors;
mod support;
