//! `rampart client … interlock`: an agent's votes, a unit's status, and certificates.

use std::path::PathBuf;

use rampart_replica::apps::interlock::{
    Choice, Command, IgnoredReason, Interlock, Output, Query, QueryOutput,
};
use rampart_replica::message::ClientId;

use super::certificate::{self, VerifyArgs};
use super::describe;
use super::setup::ClientSetup;
use crate::failure::Failure;

/// How many history entries `status` shows when `--history` is not given.
pub const DEFAULT_HISTORY_ENTRIES: usize = 20;

/// An interlock command.
#[derive(Debug, clap::Args)]
pub struct InterlockArgs {
    #[command(subcommand)]
    pub command: InterlockCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum InterlockCommand {
    /// Cast this agent's ballot on a unit; prints how it counted (or why it was
    /// ignored), the tally and the decision.
    Vote(VoteArgs),
    /// Vote to reset a shut-down unit; a quorum of reset votes opens the next round.
    Reset(ResetArgs),
    /// Print a unit's decision, round, ballots and recent history.
    Status(StatusArgs),
    /// Check a commit certificate offline against the cluster file, and print what it
    /// proves; exits 1 if it does not verify.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VoteArgs {
    /// The unit voted on (one of cluster.toml's [interlock] units).
    #[arg(long, value_name = "UNIT")]
    pub unit: String,
    /// The unit's current round (`status` shows it).
    #[arg(long, value_name = "ROUND")]
    pub round: u64,
    #[command(flatten)]
    pub choice: ChoiceArgs,
    /// How sure the agent is, in whole percent (0 to 100); below the policy's minimum
    /// the vote counts as an abstention.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub confidence: u8,
    /// Wait for the replicas' commit certificate and write it to FILE.
    #[arg(long, value_name = "FILE")]
    pub certificate: Option<PathBuf>,
}

/// Exactly one of `--shutdown` and `--continue`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ChoiceArgs {
    /// Vote to shut the unit down.
    #[arg(long)]
    pub shutdown: bool,
    /// Vote that the unit is safe to run (withdraws a shutdown ballot).
    #[arg(long = "continue")]
    pub continue_running: bool,
}

impl ChoiceArgs {
    pub fn choice(&self) -> Choice {
        if self.shutdown {
            Choice::Shutdown
        } else {
            Choice::Continue
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    #[arg(long, value_name = "UNIT")]
    pub unit: String,
    /// The round in which the unit was shut down.
    #[arg(long, value_name = "ROUND")]
    pub round: u64,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_name = "UNIT")]
    pub unit: String,
    /// Show at most the N latest history entries.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY_ENTRIES)]
    pub history: usize,
}

/// Runs a command that needs the cluster, and returns what to print.
pub async fn run(setup: &ClientSetup, command: &InterlockCommand) -> Result<Vec<u8>, Failure> {
    let text = match command {
        InterlockCommand::Vote(vote) => {
            check_unit(setup, &vote.unit)?;
            let command = Command::Vote {
                unit: vote.unit.clone(),
                round: vote.round,
                choice: vote.choice.choice(),
                confidence_percent: vote.confidence,
            };
            match &vote.certificate {
                None => execute(setup, &command).await?,
                Some(path) => execute_certified(setup, &command, path).await?,
            }
        }
        InterlockCommand::Reset(reset) => {
            check_unit(setup, &reset.unit)?;
            let command = Command::Reset {
                unit: reset.unit.clone(),
                round: reset.round,
            };
            execute(setup, &command).await?
        }
        InterlockCommand::Status(status) => {
            check_unit(setup, &status.unit)?;
            let client = setup.connect().await?;
            let query = Query::Status {
                unit: status.unit.clone(),
            };
            let result = client.query_typed::<Interlock>(&query).await;
            super::close(client).await;
            match result.map_err(|error| setup.call_failure(error))? {
                QueryOutput::Status(unit) => describe::status(setup, &unit, status.history),
                other => return Err(unexpected(&other)),
            }
        }
        InterlockCommand::Verify(verify) => {
            return certificate::verify(setup, verify);
        }
    };
    Ok(text.into_bytes())
}

async fn execute(setup: &ClientSetup, command: &Command) -> Result<String, Failure> {
    let client = setup.connect().await?;
    let id = client.id();
    let result = client.execute::<Interlock>(command).await;
    super::close(client).await;
    let output = result.map_err(|error| setup.call_failure(error))?;
    refuse_unregistered(setup, &id, command, &output)?;
    Ok(describe::outcome(setup, command, &output))
}

/// Fails (exit status 2) when the replicas ignored the command because this client is not
/// a registered agent: no command from this key will ever count, so a script must not take
/// the answer for a vote. The policy is fixed at genesis, so the remedy is another key.
fn refuse_unregistered(
    setup: &ClientSetup,
    client: &ClientId,
    command: &Command,
    output: &Output,
) -> Result<(), Failure> {
    let Output::Ignored {
        reason: IgnoredReason::UnregisteredAgent,
    } = output
    else {
        return Ok(());
    };
    Err(Failure::config(format_args!(
        "the replicas ignored the command ({}): this client's key {client} is not one of the          interlock's registered_agents in {}; send it with the client file of a registered          agent (agent j's is client-<j>.toml from `rampart init`)",
        describe::command(command),
        setup.cluster_path.display()
    )))
}

async fn execute_certified(
    setup: &ClientSetup,
    command: &Command,
    path: &std::path::Path,
) -> Result<String, Failure> {
    let client = setup.connect().await?;
    let id = client.id();
    let result = client.execute_certified::<Interlock>(command).await;
    super::close(client).await;
    let (output, proof) = result.map_err(|error| setup.call_failure(error))?;
    refuse_unregistered(setup, &id, command, &output)?;
    let mut text = describe::outcome(setup, command, &output);
    certificate::write(path, &proof).map_err(|error| {
        Failure::runtime(format_args!(
            "the command was committed at seq {}, but its certificate could not be written \
             to {}: {error}",
            proof.seq.0,
            path.display()
        ))
    })?;
    text.push_str(&format!(
        "certificate: {} (seq {})\n",
        path.display(),
        proof.seq.0
    ));
    Ok(text)
}

/// Refuses a unit the policy does not name: the policy is fixed at genesis, so the
/// cluster file is authoritative and the replicas would only ignore the command.
fn check_unit(setup: &ClientSetup, unit: &str) -> Result<(), Failure> {
    let Some(policy) = setup.policy() else {
        return Ok(());
    };
    if policy.units.contains(unit) {
        return Ok(());
    }
    let units: Vec<&str> = policy.units.iter().map(String::as_str).collect();
    Err(Failure::config(format_args!(
        "the interlock of {} protects no unit {unit:?}; use one of: {}",
        setup.cluster_path.display(),
        units.join(", ")
    )))
}

fn unexpected(output: &QueryOutput) -> Failure {
    Failure::runtime(format_args!(
        "the replicas answered with another query's output ({output:?}); check that every \
         replica runs the same version of Rampart"
    ))
}
