//! The `rampart` binary, driven as an operator would: `init` output, `replica` refusals
//! with one-line errors, a four-replica cluster that starts and stops cleanly, and the
//! demo.

mod cluster;
mod demo;
mod init;
mod replica_errors;
mod support;
