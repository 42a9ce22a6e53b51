//! The command line: one variant, and one module, per subcommand.

use clap::{Parser, Subcommand};

use crate::failure::Failure;
use crate::logging::LogFormat;
use crate::{bench, chaos, client, health, init, keygen, replica, status};

/// Rampart: a Byzantine-fault-tolerant replicated state machine (PBFT).
#[derive(Debug, Parser)]
#[command(name = "rampart", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How to write log lines: readable text, or one JSON object per line.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        global = true,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the keys and configuration files of a new cluster, or only its files from
    /// the public keys of keys made on each host with `keygen`.
    Init(init::InitArgs),
    /// Write a new private key to a file of its own (mode 0600) and print its public key,
    /// for `init --public-keys`.
    Keygen(keygen::KeygenArgs),
    /// Copy a private key handed in with looser permissions (a Kubernetes Secret) into a
    /// new owner-only file, for `replica --key`.
    InstallKey(keygen::InstallKeyArgs),
    /// Run one replica until SIGINT or SIGTERM.
    Replica(replica::ReplicaArgs),
    /// Run the embedded demo: a four-replica cluster in this process, with a Byzantine
    /// replica, deciding a safety shutdown among seven agents of which two are faulty.
    Demo(crate::demo::DemoArgs),
    /// Measure throughput and latency against this machine's crypto-bound ceiling.
    Bench(bench::BenchArgs),
    /// Send one command to a running cluster (key-value or interlock), or check a
    /// certificate offline.
    Client(client::ClientArgs),
    /// Run the seeded fault campaign on simulated clusters and print what the safety,
    /// linearizability and liveness checkers found.
    Chaos(chaos::ChaosArgs),
    /// Show every replica of a running cluster: reachable, view, status, last executed,
    /// stable checkpoint, lag, and which is primary.
    Status(status::StatusArgs),
    /// Exit 0 if a URL answers HTTP 200, 1 otherwise (for container health checks).
    Health(health::HealthArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(&self) -> Result<(), Failure> {
        crate::logging::set_format(self.log_format);
        match &self.command {
            Command::Init(args) => init::run(args),
            Command::Keygen(args) => keygen::run(args),
            Command::InstallKey(args) => keygen::install(args),
            Command::Replica(args) => replica::run(args),
            Command::Demo(args) => crate::demo::run(args),
            Command::Bench(args) => bench::run(args),
            Command::Client(args) => client::run(args),
            Command::Chaos(args) => chaos::run(args),
            Command::Status(args) => status::run(args),
            Command::Health(args) => health::run(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
