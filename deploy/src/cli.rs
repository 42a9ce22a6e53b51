//! The command line: one variant, and one module, per subcommand.

use clap::{Parser, Subcommand};

use crate::failure::Failure;
use crate::{client, init, replica};

/// Rampart: a Byzantine-fault-tolerant replicated state machine (PBFT).
#[derive(Debug, Parser)]
#[command(name = "rampart", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the keys and configuration files of a new cluster.
    Init(init::InitArgs),
    /// Run one replica until SIGINT or SIGTERM.
    Replica(replica::ReplicaArgs),
    /// Send one command to a running cluster (key-value or interlock), or check a
    /// certificate offline.
    Client(client::ClientArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(&self) -> Result<(), Failure> {
        match &self.command {
            Command::Init(args) => init::run(args),
            Command::Replica(args) => replica::run(args),
            Command::Client(args) => client::run(args),
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
