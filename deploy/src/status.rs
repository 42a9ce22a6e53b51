//! `rampart status --config FILE [--json]`: every replica's state in one table, read from
//! each replica's `/status` endpoint.
//!
//! Why HTTP: the client protocol carries requests to the replicated application and their
//! replies, nothing about a replica itself, and a status request there would have to pass
//! client admission, quotas and signatures to learn what the replicas already serve to
//! Prometheus. So each replica's HTTP address is written in the cluster file (`metrics` in
//! each `[[replicas]]` entry, by `rampart init`), which every client's and replica's file
//! names: `--config` takes any of them, or the cluster file itself.
//!
//! Exit status: 0 when at least one replica answered (the others are shown down), 1 when
//! none did, 2 when the files are wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use rampart_replica::node::ReplicaState;
use rampart_replica::ops::StatusReport;

use crate::address::HostPort;
use crate::failure::Failure;
use crate::files::client::ClientFile;
use crate::files::cluster::ClusterFile;
use crate::files::replica::ReplicaFile;
use crate::files::{self, resolve};
use crate::http_get;

/// Shows every replica's state.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A client's or a replica's configuration file, or the cluster file: the cluster
    /// file lists where each replica serves its status.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for each replica, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    pub timeout_ms: u64,
}

/// What one replica said, or why it said nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaRow {
    pub replica: u32,
    /// Where its status was asked for; `None` if the cluster file does not say.
    pub address: Option<String>,
    pub reachable: bool,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
    pub status: Option<StatusReport>,
    /// How far the most advanced reachable replica executed beyond this one.
    pub lag: Option<u64>,
    /// Whether it is the primary of the cluster's view.
    pub primary: bool,
}

/// The whole cluster, as `--json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    pub replicas: Vec<ReplicaRow>,
    pub reachable: usize,
    /// Replicas needed for progress: 2f + 1.
    pub quorum: usize,
    /// The highest view in which a reachable replica is normal, or else the highest view
    /// reported; `None` when no replica answered.
    pub view: Option<u64>,
    pub primary: Option<u32>,
}

/// Runs `rampart status`.
pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    let cluster_path = cluster_file_of(&args.config)?;
    let spec = ClusterFile::load(&cluster_path)?;
    if spec.metrics.iter().all(Option::is_none) {
        return Err(Failure::config(format_args!(
            "{} gives no replica a metrics address; add metrics = \"host:port\" (the \
             replica's [metrics] listen address as others reach it) to each [[replicas]] \
             entry, as `rampart init` writes it",
            cluster_path.display()
        )));
    }
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let answers = ask_all(&spec.metrics, timeout);
    let status = summarize(answers, spec.cluster.quorum());
    if args.json {
        let text = serde_json::to_string_pretty(&status)
            .map_err(|error| Failure::runtime(format_args!("cannot write JSON: {error}")))?;
        println!("{text}");
    } else {
        print!("{}", table(&status));
    }
    if status.reachable == 0 {
        return Err(Failure::runtime(format_args!(
            "no replica answered /status at the metrics addresses {} lists; are the \
             replicas running, and their [metrics] listen addresses reachable from here?",
            cluster_path.display()
        )));
    }
    Ok(())
}

/// The cluster file `config` is, or names.
fn cluster_file_of(config: &Path) -> Result<PathBuf, Failure> {
    let table: toml::Table = files::load(config, "the configuration file")?;
    if table.contains_key("replicas") {
        return Ok(config.to_path_buf());
    }
    let named = if table.contains_key("replica") {
        files::load::<ReplicaFile>(config, "the replica configuration")?.cluster
    } else {
        ClientFile::load(config)?.cluster
    };
    Ok(resolve(config, &named))
}

type Answer = (u32, Option<HostPort>, Result<StatusReport, String>);

/// Asks every replica at once, so that replicas that are down cost one timeout, not one
/// each.
fn ask_all(addresses: &[Option<HostPort>], timeout: Duration) -> Vec<Answer> {
    std::thread::scope(|scope| {
        let asking: Vec<_> = addresses
            .iter()
            .enumerate()
            .map(|(index, address)| {
                scope.spawn(move || {
                    let answer = match address {
                        Some(address) => ask(address, timeout),
                        None => Err("the cluster file gives no metrics address".to_string()),
                    };
                    (index as u32, address.clone(), answer)
                })
            })
            .collect();
        asking
            .into_iter()
            .enumerate()
            .map(|(index, thread)| {
                thread
                    .join()
                    .unwrap_or_else(|_| (index as u32, None, Err("the query failed".to_string())))
            })
            .collect()
    })
}

fn ask(address: &HostPort, timeout: Duration) -> Result<StatusReport, String> {
    let answer = http_get::get(address, "/status", timeout)?;
    if answer.status != 200 {
        return Err(format!("{address} answered HTTP {}", answer.status));
    }
    serde_json::from_str(&answer.body)
        .map_err(|error| format!("{address} answered something else than a status: {error}"))
}

/// Lags, the cluster's view and its primary, from what the replicas said.
fn summarize(answers: Vec<Answer>, quorum: usize) -> ClusterStatus {
    let replica_count = answers.len() as u64;
    let reports: Vec<&StatusReport> = answers
        .iter()
        .filter_map(|(_, _, answer)| answer.as_ref().ok())
        .collect();
    let highest_executed = reports.iter().map(|report| report.last_executed).max();
    let normal_view = reports
        .iter()
        .filter(|report| report.state != ReplicaState::ViewChange)
        .map(|report| report.view)
        .max();
    let view = normal_view.or_else(|| reports.iter().map(|report| report.view).max());
    let primary = view.map(|view| (view % replica_count.max(1)) as u32);
    let reachable = reports.len();
    let replicas = answers
        .into_iter()
        .map(|(replica, address, answer)| {
            let (status, error) = match answer {
                Ok(report) => (Some(report), None),
                Err(error) => (None, Some(error)),
            };
            ReplicaRow {
                replica,
                address: address.map(|address| address.to_string()),
                reachable: status.is_some(),
                error,
                lag: status
                    .as_ref()
                    .zip(highest_executed)
                    .map(|(report, highest)| highest.saturating_sub(report.last_executed)),
                status,
                primary: primary == Some(replica),
            }
        })
        .collect();
    ClusterStatus {
        replicas,
        reachable,
        quorum,
        view,
        primary,
    }
}

/// The table `rampart status` prints.
pub fn table(status: &ClusterStatus) -> String {
    let header = [
        "REPLICA",
        "ADDRESS",
        "REACHABLE",
        "VIEW",
        "STATUS",
        "LAST EXECUTED",
        "STABLE CHECKPOINT",
        "LAG",
        "PRIMARY",
    ];
    let dash = || "-".to_string();
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(ToString::to_string).collect()];
    for row in &status.replicas {
        let report = row.status.as_ref();
        rows.push(vec![
            row.replica.to_string(),
            row.address.clone().unwrap_or_else(dash),
            if row.reachable { "yes" } else { "no" }.to_string(),
            report.map_or_else(dash, |r| r.view.to_string()),
            report.map_or_else(|| "down".to_string(), |r| r.state.to_string()),
            report.map_or_else(dash, |r| r.last_executed.to_string()),
            report.map_or_else(dash, |r| r.stable_checkpoint.to_string()),
            row.lag.map_or_else(dash, |lag| lag.to_string()),
            if row.primary { "yes" } else { "" }.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    let total = status.replicas.len();
    match (status.view, status.primary) {
        (Some(view), Some(primary)) => text.push_str(&format!(
            "view {view}, primary replica {primary}; {} of {total} replicas reachable, {} \
             needed for progress\n",
            status.reachable, status.quorum
        )),
        _ => text.push_str(&format!("no replica of {total} reachable\n")),
    }
    for row in status.replicas.iter().filter(|row| !row.reachable) {
        if let Some(error) = &row.error {
            text.push_str(&format!("replica {}: {error}\n", row.replica));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(replica: u32, view: u64, state: ReplicaState, last_executed: u64) -> StatusReport {
        StatusReport {
            replica,
            state,
            ready: state == ReplicaState::Normal,
            view,
            primary: (view % 4) as u32,
            last_executed,
            committed: last_executed,
            stable_checkpoint: 0,
            cluster_view: view,
            cluster_executed: last_executed,
            lag: 0,
            peers: Vec::new(),
        }
    }

    #[test]
    fn the_summary_finds_the_view_the_primary_and_each_lag() {
        let address = |port| Some(HostPort::new("127.0.0.1", port));
        let answers = vec![
            (0, address(9100), Err("cannot connect".to_string())),
            (1, address(9101), Ok(report(1, 1, ReplicaState::Normal, 40))),
            (
                2,
                address(9102),
                Ok(report(2, 1, ReplicaState::Recovering, 12)),
            ),
            (
                3,
                address(9103),
                Ok(report(3, 2, ReplicaState::ViewChange, 40)),
            ),
        ];
        let status = summarize(answers, 3);
        assert_eq!(
            (status.view, status.primary, status.reachable),
            (Some(1), Some(1), 3)
        );
        let lags: Vec<Option<u64>> = status.replicas.iter().map(|row| row.lag).collect();
        assert_eq!(lags, [None, Some(0), Some(28), Some(0)]);
        let text = table(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("REPLICA  ADDRESS         REACHABLE  VIEW"),
            "{text}"
        );
        assert!(
            lines[1].contains("no ") && lines[1].contains("down"),
            "{text}"
        );
        assert!(lines[2].trim_end().ends_with("yes"), "the primary: {text}");
        assert!(
            text.contains("view 1, primary replica 1; 3 of 4 replicas reachable"),
            "{text}"
        );
        assert!(text.contains("replica 0: cannot connect"), "{text}");
    }

    #[test]
    fn with_no_answer_there_is_no_view_and_no_primary() {
        let answers = vec![(0, None, Err("no address".to_string()))];
        let status = summarize(answers, 1);
        assert_eq!(
            (status.view, status.primary, status.reachable),
            (None, None, 0)
        );
        assert!(table(&status).contains("no replica of 1 reachable"));
    }
}
