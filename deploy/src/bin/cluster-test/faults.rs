//! The run: the cluster up, the workload going, the faults one after another, then the
//! checks and the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::model::KvOp;
use rampart_client::Client;
use rampart_crypto::load_key_pair;
use rampart_deploy::client::ClientSetup;

use crate::audit::{self, Auditor, ReplicaState};
use crate::docker::{self, Compose, Container};
use crate::setup::{self, CLIENTS, Layout, Ports, REPLICAS};
use crate::verdict;
use crate::workload::{self, Shared};

/// The clients that run the workload; the last client key is the auditor's.
const WORKLOAD_CLIENTS: usize = CLIENTS - 1;
/// Operations acknowledged before the first fault, and after each fault heals.
const PROGRESS_OPERATIONS: usize = 40;
/// Operations acknowledged while a fault lasts: the cluster serves with one replica out.
const DEGRADED_OPERATIONS: usize = 20;
/// After a wipe: enough operations for two checkpoints past the one the wiped replica
/// fetches, so that it must transfer state rather than replay a log.
const AFTER_WIPE_OPERATIONS: usize = 80;
/// How long a fault lasts: several view-change timeouts (1 s by default).
const FAULT_DURATION: Duration = Duration::from_secs(5);
/// The longest wait for progress before the run is declared stuck.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(90);
/// The longest wait for every replica to report the same state once the load stops.
const AGREEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// The compose project: fixed, so that a run cleans up after an interrupted one.
const PROJECT: &str = "rampart-cluster-test";

/// What the command line chose.
#[derive(Debug)]
pub struct Options {
    pub image: String,
    pub compose_file: PathBuf,
    pub work_dir: PathBuf,
    pub rampart: Option<PathBuf>,
    pub seed: Option<u64>,
}

/// Everything one run shares.
struct Run {
    runtime: tokio::runtime::Runtime,
    /// The `rampart` binary, for `health` and `status`.
    rampart: PathBuf,
    ports: Ports,
    /// Reads each replica apart; set once the cluster is up.
    auditor: Option<Auditor>,
    layout: Layout,
    compose: Compose,
    containers: Vec<Container>,
    network: String,
    subnet: [u8; 3],
    shared: Arc<Shared>,
    started: Instant,
    report: String,
    faults: usize,
}

impl Run {
    fn log(&mut self, line: impl AsRef<str>) {
        let entry = format!(
            "  [{:6.1} s] {}",
            self.started.elapsed().as_secs_f64(),
            line.as_ref()
        );
        println!("{entry}");
        let _ = writeln!(self.report, "{entry}");
    }

    /// The primary of the newest view a client saw.
    fn primary(&self) -> usize {
        (self.shared.view.load(Ordering::Relaxed) % REPLICAS as u64) as usize
    }

    /// Waits until `count` more operations are acknowledged.
    fn progress(&mut self, count: usize, during: &str) -> Result<(), String> {
        let target = self.shared.acknowledged() + count;
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        while self.shared.acknowledged() < target {
            if Instant::now() > deadline {
                return Err(format!(
                    "no progress {during}: {} of {count} operations acknowledged in {} s",
                    count - (target - self.shared.acknowledged()),
                    PROGRESS_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log(format!(
            "{count} operations acknowledged {during} ({} in all)",
            self.shared.acknowledged()
        ));
        Ok(())
    }

    fn kill_and_restart(&mut self) -> Result<(), String> {
        let target = self.primary();
        let container = self.containers[target].clone();
        container.kill()?;
        self.faults += 1;
        self.log(format!("fault: SIGKILL replica {target} (the primary)"));
        self.progress(
            DEGRADED_OPERATIONS,
            &format!("while replica {target} is down"),
        )?;
        std::thread::sleep(FAULT_DURATION);
        container.start()?;
        self.log(format!("replica {target} started again"));
        self.progress(PROGRESS_OPERATIONS, "after the restart")
    }

    fn pause(&mut self) -> Result<(), String> {
        let target = self.primary();
        let container = self.containers[target].clone();
        container.pause()?;
        self.faults += 1;
        self.log(format!(
            "fault: docker pause replica {target} (the primary) for {} s",
            FAULT_DURATION.as_secs()
        ));
        let paused = Instant::now();
        self.progress(
            DEGRADED_OPERATIONS,
            &format!("while replica {target} is paused"),
        )?;
        std::thread::sleep(FAULT_DURATION.saturating_sub(paused.elapsed()));
        container.unpause()?;
        self.log(format!("replica {target} unpaused"));
        self.progress(PROGRESS_OPERATIONS, "after the pause")
    }

    /// Cuts off the highest replica that is not the primary: every other replica dials it
    /// by name, so only looking the name up again finds its new address.
    fn cut_off(&mut self) -> Result<(), String> {
        let primary = self.primary();
        let target = (0..REPLICAS)
            .rev()
            .find(|replica| *replica != primary)
            .unwrap_or(0);
        let container = self.containers[target].clone();
        let old_address = container.address(&self.network)?;
        container.disconnect(&self.network)?;
        self.faults += 1;
        self.log(format!(
            "fault: docker network disconnect replica {target} ({old_address}) for {} s",
            FAULT_DURATION.as_secs()
        ));
        let cut = Instant::now();
        self.progress(
            DEGRADED_OPERATIONS,
            &format!("while replica {target} is cut off"),
        )?;
        std::thread::sleep(FAULT_DURATION.saturating_sub(cut.elapsed()));
        let [a, b, c] = self.subnet;
        let new_address = format!("{a}.{b}.{c}.{}", 200 + target);
        container.connect(&self.network, &new_address)?;
        self.log(format!(
            "replica {target} reconnected at a new address, {new_address}"
        ));
        self.progress(PROGRESS_OPERATIONS, "after the reconnection")?;
        self.caught_up(target, "reconnecting at a new address")
    }

    /// Waits until replica `target` has executed as far as the others had when the wait
    /// began: it can only get there through its peers. After a network cut, it is the
    /// highest replica that is not the primary, so the others dial it, and must have found
    /// its new address; after a wipe, it must have fetched their state.
    fn caught_up(&mut self, target: usize, since: &str) -> Result<(), String> {
        let waiting = Instant::now();
        let auditor = self.auditor.as_mut().ok_or("no auditor")?;
        let others = self.runtime.block_on(auditor.last_executed())?;
        let goal = others
            .iter()
            .filter(|(replica, _)| replica.0 as usize != target)
            .map(|(_, seq)| *seq)
            .min()
            .ok_or("no other replica answered a read")?;
        loop {
            let now = self.runtime.block_on(auditor.last_executed())?;
            let reached = now.iter().find(|(replica, _)| replica.0 as usize == target);
            if let Some((_, seq)) = reached.filter(|(_, seq)| **seq >= goal) {
                let line = format!(
                    "replica {target} caught up through its peers (last executed {seq} ≥ {goal}) \
                     {:.1} s after {since}",
                    waiting.elapsed().as_secs_f64()
                );
                self.log(line);
                return Ok(());
            }
            if waiting.elapsed() > PROGRESS_TIMEOUT {
                return Err(format!(
                    "replica {target} did not catch up within {} s after {since} (last \
                     executed {:?}, goal {goal})",
                    PROGRESS_TIMEOUT.as_secs(),
                    reached.map(|(_, seq)| *seq)
                ));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn wipe(&mut self) -> Result<(), String> {
        let primary = self.primary();
        let target = (0..REPLICAS)
            .find(|replica| *replica != primary)
            .unwrap_or(0);
        let container = self.containers[target].clone();
        container.stop()?;
        let data = self.layout.data(target);
        empty_directory(&data)?;
        self.faults += 1;
        self.log(format!(
            "fault: replica {target} stopped and its volume wiped ({})",
            data.display()
        ));
        container.start()?;
        self.log(format!("replica {target} started on an empty volume"));
        self.progress(AFTER_WIPE_OPERATIONS, "after the wipe")?;
        self.caught_up(target, "starting on an empty volume")
    }

    /// Waits until every container's healthcheck (`rampart health` on the replica's
    /// `/health`) passes.
    fn healthy(&mut self) -> Result<(), String> {
        let waiting = Instant::now();
        loop {
            let states: Vec<String> = self
                .containers
                .iter()
                .map(Container::health)
                .collect::<Result<_, _>>()?;
            if states.iter().all(|state| state == "healthy") {
                self.log(format!(
                    "all {REPLICAS} containers healthy (HEALTHCHECK: rampart health on /health)"
                ));
                return Ok(());
            }
            if waiting.elapsed() > PROGRESS_TIMEOUT {
                return Err(format!("the containers' healthchecks report {states:?}"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits until every replica answers 200 on `/ready` through its published metrics
    /// port, and adds `rampart status` from this host to the report.
    fn ready(&mut self) -> Result<(), String> {
        let waiting = Instant::now();
        let url = |port: u16| format!("http://127.0.0.1:{port}/ready");
        loop {
            let not_ready: Vec<usize> = (0..REPLICAS)
                .filter(|replica| {
                    let url = url(self.ports.metrics[*replica]);
                    !std::process::Command::new(&self.rampart)
                        .args(["health", "--url", &url])
                        .output()
                        .is_ok_and(|output| output.status.success())
                })
                .collect();
            if not_ready.is_empty() {
                break;
            }
            if waiting.elapsed() > PROGRESS_TIMEOUT {
                return Err(format!("replicas {not_ready:?} are not ready"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        self.log(format!(
            "all {REPLICAS} replicas ready (rampart health on /ready, published ports); \
             rampart status from this host:"
        ));
        let config = self.layout.client_config(0);
        let output = std::process::Command::new(&self.rampart)
            .arg("status")
            .arg("--config")
            .arg(&config)
            .output()
            .map_err(|error| format!("cannot run rampart status: {error}"))?;
        let table = String::from_utf8_lossy(&output.stdout);
        for line in table.lines() {
            println!("    {line}");
            let _ = writeln!(self.report, "    {line}");
        }
        Ok(())
    }

    /// Saves every container's log into the work directory, and removes the containers.
    fn tear_down(&mut self) {
        let logs = self.layout.work.join("logs");
        let _ = std::fs::create_dir_all(&logs);
        for (replica, container) in self.containers.iter().enumerate() {
            let _ = container.save_logs(&logs.join(format!("replica-{replica}.log")));
        }
        if let Err(error) = self.compose.down() {
            eprintln!("cluster-test: {error}");
        }
    }
}

fn empty_directory(path: &Path) -> Result<(), String> {
    let failed = |error: std::io::Error| format!("cannot wipe {}: {error}", path.display());
    for entry in std::fs::read_dir(path).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let removed = if entry.file_type().map_err(failed)?.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        removed.map_err(failed)?;
    }
    Ok(())
}

/// Runs the whole test; `Ok(false)` when a check failed, `Err` when the run itself could
/// not go on (no engine, no progress).
pub fn run(options: &Options) -> Result<bool, String> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or_else(random_seed);
    docker::check_image(&options.image)?;
    let rampart = match &options.rampart {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(|error| format!("cannot find this program: {error}"))?
            .with_file_name("rampart"),
    };
    let layout = Layout {
        work: absolute(&options.work_dir)?,
    };
    // An interrupted earlier run may have left its containers behind.
    let ports = Ports::free()?;
    let subnet_start = (seed % 256) as u8;
    let subnet = setup::free_subnet(&docker::subnets_in_use()?, subnet_start)
        .ok_or("no free /24 in 10.213.0.0/16 for the cluster's network")?;
    let compose_for = |files: Vec<PathBuf>| {
        Compose::new(PROJECT, files, environment(&layout, &options.image, &ports))
    };
    let _ = compose_for(vec![absolute(&options.compose_file)?])?.down();

    setup::write_cluster(&layout, &rampart, &ports)?;
    let network_file = setup::network_override(&layout, subnet)?;
    let compose = compose_for(vec![absolute(&options.compose_file)?, network_file])?;
    println!(
        "cluster-test: {REPLICAS} replicas in containers ({}), {WORKLOAD_CLIENTS} clients on \
         this host, seed {seed}",
        options.image
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    compose.up()?;
    let mut run = Run {
        runtime,
        rampart,
        ports,
        auditor: None,
        layout,
        containers: Vec::new(),
        network: String::new(),
        compose,
        subnet,
        shared: Arc::new(Shared::new()),
        started,
        report: String::new(),
        faults: 0,
    };
    let outcome = run_up(&mut run, seed);
    run.tear_down();
    let passed = outcome?;
    let report_path = run.layout.work.join("report.txt");
    let _ = std::fs::write(&report_path, &run.report);
    Ok(passed)
}

/// Everything after `compose up`; the caller tears the cluster down whatever happens.
fn run_up(run: &mut Run, seed: u64) -> Result<bool, String> {
    for replica in 0..REPLICAS {
        run.containers
            .push(run.compose.container(&format!("replica-{replica}"))?);
    }
    run.network = run.containers[0]
        .networks()?
        .into_iter()
        .next()
        .ok_or("the containers are on no network")?;
    run.log(format!(
        "cluster up: keys from rampart keygen, files from rampart init --public-keys, each \
         container with only its own key; network {}",
        run.network
    ));
    run.healthy()?;

    run.auditor = Some(auditor(&run.layout)?);
    let runtime = &run.runtime;
    let clients: Vec<Client> = (0..WORKLOAD_CLIENTS)
        .map(|index| runtime.block_on(connect(&run.layout.client_config(index))))
        .collect::<Result<_, _>>()?;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            runtime.spawn(workload::run_client(
                index,
                client,
                Arc::clone(&run.shared),
                seed,
            ))
        })
        .collect();

    let schedule = (|| {
        run.progress(PROGRESS_OPERATIONS, "before any fault")?;
        run.kill_and_restart()?;
        run.pause()?;
        run.cut_off()?;
        run.wipe()
    })();
    run.shared.stop.store(true, Ordering::Relaxed);
    let clients: Vec<Client> = tasks
        .into_iter()
        .filter_map(|task| run.runtime.block_on(task).ok())
        .collect();
    schedule?;
    run.log("workload stopped");

    let reader = clients.first().ok_or("no client finished")?;
    let finals = run
        .runtime
        .block_on(workload::final_reads(reader, &run.shared, 0));
    for client in clients {
        run.runtime.block_on(client.close());
    }
    let agreed = agree(run)?;
    run.ready()?;
    Ok(judge(run, &finals, agreed.as_ref()))
}

async fn connect(config: &Path) -> Result<Client, String> {
    let setup = ClientSetup::load(config).map_err(|failure| failure.to_string())?;
    // The replicas may still be starting: a few connection timeouts are allowed.
    let mut attempts = 0;
    loop {
        match setup.connect().await {
            Ok(client) => return Ok(client),
            Err(failure) if attempts < 5 => {
                attempts += 1;
                tracing::info!(%failure, "connecting again");
            }
            Err(failure) => return Err(failure.to_string()),
        }
    }
}

/// The auditor, with the key of the last client.
fn auditor(layout: &Layout) -> Result<Auditor, String> {
    let setup = ClientSetup::load(&layout.client_config(CLIENTS - 1))
        .map_err(|failure| failure.to_string())?;
    let addresses: Vec<SocketAddr> = setup
        .client_config()
        .map_err(|failure| failure.to_string())?
        .replica_addresses;
    let key_path = layout.host().join(format!("client-{}.key", CLIENTS - 1));
    let key = load_key_pair(&key_path).map_err(|error| error.to_string())?;
    Ok(Auditor::new(setup.spec.cluster, addresses, key))
}

/// Reads every replica until all report the same state, or the patience runs out; the
/// agreed state, or `None`.
fn agree(run: &mut Run) -> Result<Option<ReplicaState>, String> {
    let deadline = Instant::now() + AGREEMENT_TIMEOUT;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let auditor = run.auditor.as_mut().ok_or("no auditor")?;
        let states = run.runtime.block_on(auditor.states())?;
        if audit::agree(&states, REPLICAS) {
            let state = states.into_values().next();
            if let Some(state) = &state {
                run.log(format!(
                    "all {REPLICAS} replicas report the same state: last executed {}, {} keys \
                     (read-only reads from each, {rounds} rounds)",
                    state.last_executed,
                    state.values.len(),
                ));
            }
            return Ok(state);
        }
        if Instant::now() > deadline {
            let seen: BTreeMap<_, _> = states
                .iter()
                .map(|(replica, state)| (replica.0, state.last_executed))
                .collect();
            run.log(format!(
                "the replicas disagree after {} s: last executed by replica {seen:?}",
                AGREEMENT_TIMEOUT.as_secs()
            ));
            return Ok(None);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Checks the history and the replicas' state, and prints the report; whether all passed.
fn judge(run: &mut Run, finals: &BTreeMap<u8, Option<u64>>, agreed: Option<&ReplicaState>) -> bool {
    let history = run.shared.history();
    let counts = verdict::counts(&history);
    let lost = verdict::lost_writes(&history, finals);
    let not_linearizable = verdict::not_linearizable(&history);
    let unanswered_writes: Vec<u64> = history
        .iter()
        .filter(|record| record.completed.is_none())
        .filter_map(|record| match record.op {
            KvOp::Put { value, .. } => Some(value),
            KvOp::Get { .. } => None,
        })
        .collect();
    // The replicas' state must be the final reads', except where a write the client gave
    // up on took effect after them.
    let state_matches = agreed.is_some_and(|state| {
        finals.len() == usize::from(workload::KEYS)
            && state.values.iter().all(|(key, value)| {
                finals.get(key) == Some(value)
                    || value.is_some_and(|value| unanswered_writes.contains(&value))
            })
    });
    for write in &lost {
        run.log(format!("LOST: {write:?}"));
    }
    for (key, detail) in &not_linearizable {
        run.log(format!("NOT LINEARIZABLE: key-{key}: {detail}"));
    }
    if agreed.is_some() && !state_matches {
        run.log(format!(
            "the replicas' state differs from the final reads {finals:?}"
        ));
    }
    let passed = lost.is_empty() && not_linearizable.is_empty() && state_matches;
    let summary = format!(
        "faults injected: {} (SIGKILL + restart, pause, network cut + new address, wiped \
         volume)\noperations: {}, acknowledged: {} ({} writes), unanswered: {}\nlost: {}\n\
         replicas agree: {}\nlinearizable: {}\ntime: {:.1} s\nresult: {}",
        run.faults,
        counts.operations,
        counts.acknowledged,
        counts.writes_acknowledged,
        counts.unanswered,
        lost.len(),
        if state_matches { "yes" } else { "no" },
        if not_linearizable.is_empty() {
            format!("yes ({} keys)", workload::KEYS)
        } else {
            format!("no ({} keys fail)", not_linearizable.len())
        },
        run.started.elapsed().as_secs_f64(),
        if passed { "PASS" } else { "FAIL" }
    );
    println!("{summary}");
    let _ = writeln!(run.report, "{summary}");
    passed
}

/// What compose.yaml reads: the files, the image, the ports and the user to run as (the
/// owner of the keys).
fn environment(layout: &Layout, image: &str, ports: &Ports) -> Vec<(String, String)> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&layout.work)
        .or_else(|_| std::fs::metadata("."))
        .map(|metadata| (metadata.uid(), metadata.gid()))
        .unwrap_or((0, 0));
    let mut environment = vec![
        (
            "RAMPART_CLUSTER".to_string(),
            layout.cluster().to_string_lossy().into_owned(),
        ),
        ("RAMPART_IMAGE".to_string(), image.to_string()),
        ("RAMPART_UID".to_string(), owner.0.to_string()),
        ("RAMPART_GID".to_string(), owner.1.to_string()),
    ];
    for replica in 0..REPLICAS {
        environment.push((
            format!("RAMPART_PORT_{replica}"),
            ports.replica[replica].to_string(),
        ));
        environment.push((
            format!("RAMPART_METRICS_PORT_{replica}"),
            ports.metrics[replica].to_string(),
        ));
    }
    environment
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|error| format!("{}: {error}", path.display()))
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 1;
    }
    u64::from_le_bytes(bytes)
}
