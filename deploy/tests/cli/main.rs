//! The `rampart` binary, driven as an operator would.

mod init;
mod support;
