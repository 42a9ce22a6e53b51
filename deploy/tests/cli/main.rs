//! The `rampart` binary, driven as an operator would: `init` output, `replica` refusals
//! with one-line errors, a four-replica cluster that starts and stops cleanly, `client`
//! commands against replica processes, crash recovery checked on the stores offline,
//! metrics, health and `rampart status` (checked with Prometheus' own tools), a second
//! process with a replica's key refused, and the demo.

mod admission;
mod bench;
mod chaos;
mod client_interlock;
mod client_kv;
mod cluster;
mod demo;
mod durability;
// Resident memory is read from Linux's /proc.
#[cfg(target_os = "linux")]
mod floods;
mod full_disk;
mod init;
mod keys;
mod operations;
mod processes;
mod replica_errors;
mod stores;
mod support;
mod twins;
