//! The deterministic simulation: n real protocol cores, simulated clients, a seeded
//! network, and the checkers watching them. One seed reproduces one run exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rampart_crypto::ClusterId;
use rampart_replica::cluster::{ClientAdmission, Cluster};
use rampart_replica::core::{Config, Replica, Rng};
use rampart_replica::message::{ClientId, ReplicaId, Seq, View};
use rampart_replica::wire::ReplicaFrame;

use crate::byzantine::Behaviour;
use crate::checker::Violation;
use crate::checker::safety::SafetyChecker;
use crate::client::{ClientConfig, SimClient};
use crate::faulty_client::{ClientFault, FaultyClient};
use crate::machine::{AppFactory, Effects, Event, SimReplica, StorageFaults};
use crate::models;
use crate::network::{Envelope, Network, NetworkConfig, Node};
use crate::signatures::{Identities, SignatureMode};
use crate::workload::{Judgement, Workload};
use rampart_replica::store::disk::DiskFault;

/// Everything that shapes a run, derived from or alongside its seed.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub replicas: usize,
    pub clients: usize,
    pub operations_per_client: usize,
    pub client_in_flight_max: usize,
    /// How many keys the default key-value workload writes ([`Simulation::new`]).
    pub keys: u8,
    pub client_timeout_ticks: u64,
    pub network: NetworkConfig,
    pub signatures: SignatureMode,
    pub checkpoint_interval: u64,
    pub log_window: u64,
    pub batch_size_max: usize,
    pub batch_delay_ticks: u64,
    pub in_flight_max: u64,
    pub view_change_timeout_ticks: u64,
    /// How long a backup lets a request wait for a PRE-PREPARE while the primary has room.
    pub order_timeout_ticks: u64,
    pub status_interval_ticks: u64,
    pub state_transfer_timeout_ticks: u64,
    /// The snapshot chunk size: small, so that the workload's small states travel in
    /// several chunks.
    pub snapshot_chunk_bytes: u32,
    pub client_window: u64,
    /// The largest operation the replicas accept.
    pub operation_bytes_max: usize,
    /// Faulty clients besides the correct ones, one per entry.
    pub faulty_clients: Vec<ClientFault>,
    /// Of the clients' reads, how many per thousand go the read-only way (PBFT §5.1.3).
    pub read_only_per_mille: u64,
    /// Execute prepared batches before they commit (PBFT §5.1.2).
    pub tentative_execution: bool,
}

impl SimConfig {
    /// A small, fast configuration: checkpoints every 8 sequence numbers, so runs of a few
    /// hundred operations cross many of them.
    pub fn new(seed: u64, replicas: usize) -> SimConfig {
        SimConfig {
            seed,
            replicas,
            clients: 3,
            operations_per_client: 30,
            client_in_flight_max: 2,
            keys: 4,
            client_timeout_ticks: 60,
            network: NetworkConfig::default(),
            signatures: SignatureMode::Tags,
            checkpoint_interval: 8,
            log_window: 16,
            batch_size_max: 4,
            batch_delay_ticks: 1,
            in_flight_max: 6,
            view_change_timeout_ticks: 80,
            order_timeout_ticks: 40,
            status_interval_ticks: 10,
            state_transfer_timeout_ticks: 40,
            snapshot_chunk_bytes: 8,
            client_window: 4,
            operation_bytes_max: 64 << 10,
            faulty_clients: Vec::new(),
            read_only_per_mille: 500,
            tentative_execution: true,
        }
    }

    fn protocol(&self, cluster: Cluster) -> Config {
        Config {
            checkpoint_interval: self.checkpoint_interval,
            log_window: self.log_window,
            batch_size_max: self.batch_size_max,
            batch_delay_ticks: self.batch_delay_ticks,
            in_flight_max: self.in_flight_max,
            // Every waiting request may go out at once: the most interleavings.
            pipeline_batch_min: 1,
            view_change_timeout_ticks: self.view_change_timeout_ticks,
            order_timeout_ticks: self.order_timeout_ticks,
            view_change_timeout_max_ticks: self.view_change_timeout_ticks * 16,
            status_interval_ticks: self.status_interval_ticks,
            state_transfer_timeout_ticks: self.state_transfer_timeout_ticks,
            snapshot_chunk_bytes: self.snapshot_chunk_bytes,
            client_window: self.client_window,
            operation_bytes_max: self.operation_bytes_max,
            tentative_execution: self.tentative_execution,
            // The simulated network has no handshake to refuse a client at; every
            // simulated client is admitted.
            clients: ClientAdmission::Open,
            ..Config::new(cluster)
        }
    }
}

/// Counters describing a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub ticks: u64,
    pub operations_completed: u64,
    pub operations_issued: u64,
    pub messages_sent: u64,
    pub messages_lost: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub partitions: u64,
    pub view_changes: u64,
    pub state_transfers: u64,
    /// State chunks refused on arrival because they did not match their manifest.
    pub chunks_refused: u64,
    /// Tentative executions rolled back (PBFT §5.1.2).
    pub rollbacks: u64,
    /// What faulty disks lost or damaged at crashes, and the stores refused for it.
    pub storage_damages: u64,
}

pub struct Simulation {
    pub config: SimConfig,
    protocol: Arc<Config>,
    replicas: Vec<SimReplica>,
    twins: BTreeMap<ReplicaId, SimReplica>,
    /// Senders whose messages to a twinned replica reach its twin instead of the original.
    twin_audience: BTreeSet<Node>,
    clients: Vec<SimClient>,
    faulty_clients: Vec<FaultyClient>,
    /// What the clients send and how their histories are judged.
    workload: Box<dyn Workload>,
    pub network: Network,
    now: u64,
    safety: SafetyChecker,
    faulty: BTreeSet<ReplicaId>,
    stats: RunStats,
    events: Vec<Event>,
    /// Chooses what storage faults do, apart from the network's choices.
    fault_rng: Rng,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.config.seed)
            .field("now", &self.now)
            .finish()
    }
}

impl Simulation {
    /// A simulation of the key-value store that ships with Rampart, with a workload of
    /// puts, gets and compare-and-swaps on `config.keys` keys checked against a map
    /// ([`models::kv`]).
    pub fn new(config: SimConfig) -> Simulation {
        let workload = models::kv::workload(config.keys);
        Simulation::with_workload(config, models::kv::app_factory(), Box::new(workload))
    }

    /// A simulation whose replicas run the application `app` makes, and whose clients
    /// send what `workload` draws.
    pub fn with_workload(
        config: SimConfig,
        app: AppFactory,
        mut workload: Box<dyn Workload>,
    ) -> Simulation {
        let client_count = config.clients + config.faulty_clients.len();
        let identities = Identities::new(
            config.signatures,
            config.seed,
            config.replicas + client_count,
        );
        let keys = (0..config.replicas)
            .map(|i| identities.public_key(i))
            .collect();
        let cluster =
            Cluster::new(ClusterId(config.seed), keys).expect("simulated cluster is valid");
        let protocol = Arc::new(config.protocol(cluster));
        protocol
            .validate()
            .expect("simulated protocol configuration is valid");
        let directory: Arc<BTreeMap<ClientId, usize>> = Arc::new(
            (0..client_count)
                .map(|c| (ClientId(identities.public_key(config.replicas + c)), c))
                .collect(),
        );
        let mut outgoing = Vec::new();
        let mut events = Vec::new();
        let replicas = (0..config.replicas)
            .map(|i| {
                let mut effects = Effects {
                    now: 0,
                    outgoing: &mut outgoing,
                    events: &mut events,
                };
                SimReplica::new(
                    Node::Replica(ReplicaId(i as u32)),
                    protocol.clone(),
                    config.seed.wrapping_add(i as u64),
                    identities.signer(i),
                    identities.verifier(),
                    directory.clone(),
                    app.clone(),
                    &mut effects,
                )
            })
            .collect();
        let client_config = ClientConfig {
            in_flight_max: config.client_in_flight_max,
            timeout_ticks: config.client_timeout_ticks,
            window: config.client_window,
        };
        let clients = (0..config.clients)
            .map(|c| {
                let mut rng = Rng::new(config.seed ^ (c as u64).wrapping_mul(0x9e37_79b9));
                let script = workload.draw(
                    c,
                    config.operations_per_client,
                    config.read_only_per_mille,
                    &mut rng,
                );
                SimClient::new(
                    c,
                    identities.signer(config.replicas + c),
                    protocol.cluster.id,
                    config.replicas,
                    client_config,
                    script,
                )
            })
            .collect();
        let faulty_clients = config
            .faulty_clients
            .iter()
            .enumerate()
            .map(|(i, fault)| {
                let index = config.clients + i;
                FaultyClient::new(
                    index,
                    *fault,
                    identities.signer(config.replicas + index),
                    protocol.cluster.id,
                    config.replicas,
                    config.client_window,
                    config.operation_bytes_max,
                    config.seed,
                )
            })
            .collect();
        let mut simulation = Simulation {
            fault_rng: Rng::new(config.seed.rotate_left(29)),
            faulty_clients,
            network: Network::new(config.network, config.seed.rotate_left(7)),
            config,
            protocol,
            replicas,
            twins: BTreeMap::new(),
            twin_audience: BTreeSet::new(),
            clients,
            workload,
            now: 0,
            safety: SafetyChecker::default(),
            faulty: BTreeSet::new(),
            stats: RunStats::default(),
            events,
        };
        simulation.send_all(outgoing);
        simulation.observe_events();
        simulation
    }

    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn protocol(&self) -> &Config {
        &self.protocol
    }

    /// f, the number of faults the cluster tolerates.
    pub fn faults_tolerated(&self) -> usize {
        self.protocol.cluster.faults_tolerated()
    }

    // Running.

    /// Advances the simulation by one tick: deliver what is due, tick every replica, then
    /// every client.
    pub fn step(&mut self) {
        self.now += 1;
        let mut outgoing = Vec::new();
        for envelope in self.network.deliver_due(self.now) {
            self.deliver(envelope, &mut outgoing);
        }
        for index in 0..self.replicas.len() {
            let mut effects = Effects {
                now: self.now,
                outgoing: &mut outgoing,
                events: &mut self.events,
            };
            self.replicas[index].tick(&mut effects);
        }
        for twin in self.twins.values_mut() {
            let mut effects = Effects {
                now: self.now,
                outgoing: &mut outgoing,
                events: &mut self.events,
            };
            twin.tick(&mut effects);
        }
        for client in &mut self.clients {
            client.tick(self.now, &mut outgoing);
        }
        for client in &mut self.faulty_clients {
            client.tick(self.now, &mut outgoing);
        }
        self.send_all(outgoing);
        self.observe_events();
    }

    pub fn run_for(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.step();
        }
    }

    /// Runs until `done` holds or `ticks_max` ticks pass; returns whether `done` held.
    pub fn run_until(&mut self, ticks_max: u64, mut done: impl FnMut(&Simulation) -> bool) -> bool {
        for _ in 0..ticks_max {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Runs until every client has completed all its operations.
    pub fn run_until_clients_done(&mut self, ticks_max: u64) -> bool {
        self.run_until(ticks_max, Simulation::clients_done)
    }

    fn deliver(&mut self, envelope: Envelope, outgoing: &mut Vec<Envelope>) {
        let Envelope { from, to, packet } = envelope;
        match to {
            Node::Client(index) => {
                if let Some(faulty) = index
                    .checked_sub(self.clients.len())
                    .and_then(|i| self.faulty_clients.get_mut(i))
                {
                    faulty.replies += 1;
                    return;
                }
                let (Some(replica), Some(client)) = (from.replica(), self.clients.get_mut(index))
                else {
                    return;
                };
                match packet.replica_frame() {
                    Some(ReplicaFrame::Reply {
                        reply,
                        read_only: false,
                        ..
                    }) => client.on_reply(self.now, replica, reply),
                    Some(ReplicaFrame::Reply {
                        reply,
                        read_only: true,
                        ..
                    }) => client.on_read_only_reply(self.now, replica, reply, outgoing),
                    Some(ReplicaFrame::Refused { number, refusal }) => {
                        client.on_refused(self.now, replica, number, refusal)
                    }
                    _ => {}
                }
            }
            Node::Replica(id) | Node::Twin(id) => {
                let target = match to {
                    Node::Twin(_) => self.twins.get_mut(&id),
                    _ => self.replicas.get_mut(id.0 as usize),
                };
                if let Some(replica) = target {
                    let mut effects = Effects {
                        now: self.now,
                        outgoing,
                        events: &mut self.events,
                    };
                    replica.deliver(from, packet, &mut effects);
                }
            }
        }
    }

    /// Routes and sends: a message for a twinned replica goes to the instance its sender
    /// is in the audience of.
    fn send_all(&mut self, outgoing: Vec<Envelope>) {
        for mut envelope in outgoing {
            if let Node::Replica(id) = envelope.to
                && self.twins.contains_key(&id)
                && self.twin_audience.contains(&envelope.from)
            {
                envelope.to = Node::Twin(id);
            }
            self.network.send(self.now, envelope);
        }
    }

    fn observe_events(&mut self) {
        for event in std::mem::take(&mut self.events) {
            match event {
                Event::Executed {
                    replica,
                    seq,
                    digest,
                    ..
                } => {
                    if !self.faulty.contains(&replica) {
                        self.safety.executed(replica, seq, digest);
                    }
                }
                Event::Checkpoint {
                    replica,
                    seq,
                    state_digest,
                    ..
                } => {
                    if !self.faulty.contains(&replica) {
                        self.safety.checkpoint(replica, seq, state_digest);
                    }
                }
            }
        }
    }

    // Faults.

    /// Crashes a replica: it loses everything but its durable state.
    pub fn crash(&mut self, replica: ReplicaId) {
        let pick = self.fault_rng.next_u64();
        let node = &mut self.replicas[replica.0 as usize];
        if !node.is_crashed() {
            node.crash(pick);
            self.stats.crashes += 1;
        }
    }

    /// Crashes a replica with `fault` striking its disk (and every unsynced write lost). The
    /// replica may then have forgotten what it sent: it counts as faulty.
    pub fn crash_with_disk_fault(&mut self, replica: ReplicaId, fault: DiskFault) {
        self.faulty.insert(replica);
        let node = &mut self.replicas[replica.0 as usize];
        if !node.is_crashed() {
            node.crash_with(0, fault);
            self.stats.crashes += 1;
        }
    }

    /// Gives a replica a faulty disk (see [`StorageFaults`]): unsynced writes, and damage
    /// at every crash. It counts as faulty.
    pub fn give_faulty_disk(&mut self, replica: ReplicaId) {
        self.faulty.insert(replica);
        self.replicas[replica.0 as usize].set_storage_faults(StorageFaults::Faulty);
    }

    /// What storage faults did to a replica, one line each.
    pub fn storage_damage(&self, replica: ReplicaId) -> &[String] {
        &self.replicas[replica.0 as usize].storage_damage
    }

    /// Restarts a crashed replica from its durable state.
    pub fn restart(&mut self, replica: ReplicaId) {
        let mut outgoing = Vec::new();
        let node = &mut self.replicas[replica.0 as usize];
        if node.is_crashed() {
            let mut effects = Effects {
                now: self.now,
                outgoing: &mut outgoing,
                events: &mut self.events,
            };
            node.restart(&mut effects);
            self.stats.restarts += 1;
        }
        self.send_all(outgoing);
        self.observe_events();
    }

    /// Wipes a crashed replica's disk: it comes back with nothing and must catch up from
    /// its peers.
    pub fn wipe(&mut self, replica: ReplicaId) {
        self.replicas[replica.0 as usize].wipe();
    }

    /// Cuts every link to and from a replica.
    pub fn isolate(&mut self, replica: ReplicaId) {
        let node = Node::Replica(replica);
        for other in self.all_nodes() {
            if other != node {
                self.network.block(node, other);
                self.network.block(other, node);
            }
        }
        self.stats.partitions += 1;
    }

    /// Splits the replicas into groups that cannot talk to each other (clients reach all).
    pub fn partition(&mut self, groups: &[&[ReplicaId]]) {
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i == j {
                    continue;
                }
                for &x in *a {
                    for &y in *b {
                        self.network.block(Node::Replica(x), Node::Replica(y));
                    }
                }
            }
        }
        self.stats.partitions += 1;
    }

    /// Cuts the link from `from` to `to` only.
    pub fn cut_one_way(&mut self, from: ReplicaId, to: ReplicaId) {
        self.network.block(Node::Replica(from), Node::Replica(to));
        self.stats.partitions += 1;
    }

    pub fn heal(&mut self) {
        self.network.heal();
    }

    fn all_nodes(&self) -> Vec<Node> {
        let mut nodes: Vec<Node> = (0..self.replicas.len() as u32)
            .map(|r| Node::Replica(ReplicaId(r)))
            .collect();
        nodes.extend(self.twins.keys().map(|&r| Node::Twin(r)));
        nodes.extend((0..self.clients.len() + self.faulty_clients.len()).map(Node::Client));
        nodes
    }

    /// Makes a replica Byzantine. It no longer counts for the safety checks.
    pub fn make_byzantine(&mut self, replica: ReplicaId, behaviour: Box<dyn Behaviour>) {
        self.faulty.insert(replica);
        self.replicas[replica.0 as usize].set_behaviour(behaviour);
    }

    /// Twins: a second instance of `replica` with the same identity and key. Messages from
    /// the nodes in `audience` (and from the twin itself) reach the twin; all others reach
    /// the original. Both instances count as one faulty replica.
    pub fn add_twin(&mut self, replica: ReplicaId, audience: &[Node]) {
        let original = &self.replicas[replica.0 as usize];
        let mut outgoing = Vec::new();
        let mut effects = Effects {
            now: self.now,
            outgoing: &mut outgoing,
            events: &mut self.events,
        };
        let twin = SimReplica::new(
            Node::Twin(replica),
            self.protocol.clone(),
            self.config.seed.wrapping_add(replica.0 as u64),
            original.signer(),
            original.verifier(),
            original.directory(),
            original.app_factory(),
            &mut effects,
        );
        self.twins.insert(replica, twin);
        self.send_all(outgoing);
        self.twin_audience.extend(audience.iter().copied());
        self.twin_audience.insert(Node::Twin(replica));
        self.faulty.insert(replica);
    }

    /// Marks a replica as faulty without changing its behaviour (for crash faults that
    /// never recover, so the checkers do not expect its executions).
    pub fn mark_faulty(&mut self, replica: ReplicaId) {
        self.faulty.insert(replica);
    }

    pub fn is_faulty(&self, replica: ReplicaId) -> bool {
        self.faulty.contains(&replica)
    }

    // Observation.

    /// The core of a running replica.
    pub fn replica(&self, replica: ReplicaId) -> &Replica {
        self.replicas[replica.0 as usize]
            .core()
            .unwrap_or_else(|| panic!("{replica} is crashed"))
    }

    pub fn sim_replica(&self, replica: ReplicaId) -> &SimReplica {
        &self.replicas[replica.0 as usize]
    }

    pub fn is_crashed(&self, replica: ReplicaId) -> bool {
        self.replicas[replica.0 as usize].is_crashed()
    }

    /// The running, non-faulty replicas.
    pub fn correct_replicas(&self) -> Vec<ReplicaId> {
        (0..self.replicas.len() as u32)
            .map(ReplicaId)
            .filter(|r| !self.faulty.contains(r) && !self.is_crashed(*r))
            .collect()
    }

    pub fn replica_ids(&self) -> Vec<ReplicaId> {
        (0..self.replicas.len() as u32).map(ReplicaId).collect()
    }

    /// The view most correct replicas are in.
    pub fn current_view(&self) -> View {
        self.correct_replicas()
            .iter()
            .map(|r| self.replica(*r).view())
            .max()
            .unwrap_or_default()
    }

    /// One line per replica state: view (n normal, c changing), last executed, stable
    /// checkpoint; for timelines when debugging a seed.
    pub fn summary(&self) -> String {
        let replicas: Vec<String> = self
            .replica_ids()
            .into_iter()
            .map(|r| match self.replicas[r.0 as usize].core() {
                None => format!("{r}:down"),
                Some(core) => format!(
                    "{r}:v{}{}/e{}/s{}",
                    core.view().0,
                    if core.is_normal() { "n" } else { "c" },
                    core.last_executed().0,
                    core.stable_checkpoint().seq.0
                ),
            })
            .collect();
        format!(
            "t{} ops {} | {}",
            self.now,
            self.operations_completed(),
            replicas.join(" ")
        )
    }

    pub fn clients_done(&self) -> bool {
        self.clients.iter().all(SimClient::is_done)
    }

    /// The longest a correct client's operation waited: for completed ones, from invocation
    /// to completion; for pending ones, until now. What "every correct client's request
    /// completes within a bound" is measured against.
    pub fn longest_wait(&self) -> u64 {
        self.longest_wait_since(0)
    }

    /// Like [`Simulation::longest_wait`], counting only from tick `since` on.
    pub fn longest_wait_since(&self, since: u64) -> u64 {
        self.clients
            .iter()
            .flat_map(|client| &client.history)
            .map(|op| {
                let start = op.invoked_at.max(since);
                match &op.completed {
                    Some((at, _)) => at.saturating_sub(start),
                    None => self.now.saturating_sub(start),
                }
            })
            .max()
            .unwrap_or(0)
    }

    /// The highest view any correct replica has started, whether or not it entered it:
    /// in a fault-free run this stays 0 whatever the clients do.
    pub fn highest_view_started(&self) -> View {
        self.correct_replicas()
            .iter()
            .map(|r| self.replica(*r).view())
            .max()
            .unwrap_or_default()
    }

    /// The bytes a replica's stable storage holds of the protocol (its persisted messages
    /// and certificates; application snapshots are the application's business).
    pub fn stored_protocol_bytes(&self, replica: ReplicaId) -> usize {
        self.replicas[replica.0 as usize]
            .persisted()
            .map_or(0, |state| rampart_replica::message::encode(&state).len())
    }

    pub fn operations_completed(&self) -> u64 {
        self.clients.iter().map(|c| c.completed() as u64).sum()
    }

    pub fn highest_executed(&self) -> Seq {
        self.safety.highest_executed()
    }

    pub fn stats(&self) -> RunStats {
        let mut stats = self.stats;
        stats.ticks = self.now;
        stats.operations_completed = self.operations_completed();
        stats.operations_issued = self.clients.iter().map(|c| c.history.len() as u64).sum();
        stats.messages_sent = self.network.stats.sent;
        stats.messages_lost = self.network.stats.lost + self.network.stats.partitioned;
        stats.view_changes = self.current_view().0;
        stats.state_transfers = self.replicas.iter().map(|r| r.state_installs()).sum();
        stats.chunks_refused = self
            .replicas
            .iter()
            .map(|r| r.transfer_stats().chunks_refused)
            .sum();
        stats.storage_damages = self
            .replicas
            .iter()
            .map(|r| r.storage_damage.len() as u64)
            .sum();
        stats.rollbacks = self
            .replicas
            .iter()
            .chain(self.twins.values())
            .map(|r| r.rollbacks())
            .sum();
        stats
    }

    /// Every violation the checkers found: divergence among correct replicas, and client
    /// histories that the workload's model or invariants refuse.
    pub fn violations(&self) -> Vec<Violation> {
        self.judgement().violations
    }

    /// The violations, and the histories whose check was undecided.
    pub fn judgement(&self) -> Judgement {
        let histories: Vec<_> = self.clients.iter().map(|c| c.history.as_slice()).collect();
        let mut judgement = self.workload.judge(&histories);
        let mut violations = self.safety.violations.clone();
        violations.append(&mut judgement.violations);
        judgement.violations = violations;
        judgement
    }

    /// Panics with the seed and how to replay it if any checker found a violation, or
    /// could not decide whether a history is linearizable.
    pub fn assert_no_violations(&self, test: &str) {
        let judgement = self.judgement();
        let found: Vec<String> = judgement
            .violations
            .iter()
            .map(ToString::to_string)
            .chain(
                judgement
                    .undecided
                    .iter()
                    .map(|u| format!("undecided: {u}")),
            )
            .collect();
        if !found.is_empty() {
            panic!(
                "{test}: {} violation(s) with seed {}:\n  {}\nreproduce with: RAMPART_SEED={} cargo nextest run -p rampart-testkit {test}",
                found.len(),
                self.seed(),
                found.join("\n  "),
                self.seed()
            );
        }
    }
}
