//! A simulated replica: the real protocol core with the shell duties of the node runtime,
//! carried out against simulated disk and network.
//!
//! It follows the node's rules exactly: signed payloads and `Persist` operations of one
//! input are made durable together before anything is sent; own broadcasts are handed back
//! to the core; committed batches run on the key-value store; checkpoints are kept for
//! state transfer. A crash drops everything but the durable part; a restart rebuilds the
//! core with [`Replica::recover`] from exactly what was persisted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rampart_crypto::{Digest, Signer, Verifier};
use rampart_replica::core::{
    Action, ClientTable, Config, Input, Outbound, PersistOp, PersistedState, Replica, Restored, Rng,
};
use rampart_replica::message::{
    ClientId, Message, Payload, ReplicaId, Seq, Verified, verify_message, verify_request,
};

use crate::byzantine::{Behaviour, Context, StateService};
use crate::kv::KvStore;
use crate::network::{Envelope, Node, Packet};

/// A checkpoint kept on the simulated disk.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    pub state_digest: Digest,
    pub snapshot: Arc<Vec<u8>>,
    pub client_table: ClientTable,
}

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub state: PersistedState,
    pub checkpoints: BTreeMap<Seq, StoredCheckpoint>,
}

impl Durable {
    fn apply(&mut self, op: &PersistOp, replica_count: usize) {
        self.state.apply(op, replica_count);
        if let PersistOp::PruneBelow { seq } = op {
            // Keep the newest checkpoint at or below the stable one: there must always be
            // a state to restart from.
            let keep = self.checkpoints.range(..=*seq).next_back().map(|(s, _)| *s);
            self.checkpoints
                .retain(|s, _| *s > *seq || Some(*s) == keep);
        }
    }

    /// The newest checkpoint on disk, or genesis.
    fn restore_point(&self) -> (Seq, KvStore, ClientTable) {
        self.checkpoints
            .iter()
            .next_back()
            .and_then(|(seq, stored)| {
                KvStore::restore(&stored.snapshot)
                    .map(|app| (*seq, app, stored.client_table.clone()))
            })
            .unwrap_or_else(|| (Seq(0), KvStore::default(), ClientTable::default()))
    }
}

/// Something a checker wants to know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Executed {
        replica: ReplicaId,
        node: Node,
        seq: Seq,
        digest: Digest,
    },
    Checkpoint {
        replica: ReplicaId,
        node: Node,
        seq: Seq,
        state_digest: Digest,
    },
}

/// Where a simulated replica puts what it sends and what the checkers should see.
#[derive(Debug)]
pub struct Effects<'a> {
    pub now: u64,
    pub outgoing: &'a mut Vec<Envelope>,
    pub events: &'a mut Vec<Event>,
}

/// Counters of what the shell refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShellStats {
    pub invalid_messages: u64,
    pub invalid_requests: u64,
    pub state_mismatches: u64,
}

/// A fetched state waiting for the core's verdict.
#[derive(Clone, Debug)]
struct Fetched {
    seq: Seq,
    snapshot: Arc<Vec<u8>>,
    client_table: ClientTable,
}

pub struct SimReplica {
    pub id: ReplicaId,
    pub node: Node,
    config: Arc<Config>,
    seed: u64,
    signer: Arc<dyn Signer>,
    verifier: Arc<dyn Verifier>,
    clients: Arc<BTreeMap<ClientId, usize>>,
    core: Option<Replica>,
    app: KvStore,
    pub durable: Durable,
    fetched: Option<Fetched>,
    taken_snapshot: Option<(Seq, Arc<Vec<u8>>)>,
    behaviour: Option<Box<dyn Behaviour>>,
    rng: Rng,
    pub stats: ShellStats,
    pub restarts: u32,
    /// States installed by state transfer.
    pub state_installs: u64,
    /// Tentative executions rolled back (by rebuilding from the durable state).
    pub rollbacks: u32,
    /// The core asked for a rollback; carried out once its input is done.
    rollback: bool,
}

impl std::fmt::Debug for SimReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimReplica")
            .field("node", &self.node)
            .field("crashed", &self.core.is_none())
            .field("behaviour", &self.behaviour.as_ref().map(|b| b.name()))
            .finish()
    }
}

impl SimReplica {
    pub fn new(
        node: Node,
        config: Arc<Config>,
        seed: u64,
        signer: Arc<dyn Signer>,
        verifier: Arc<dyn Verifier>,
        clients: Arc<BTreeMap<ClientId, usize>>,
    ) -> SimReplica {
        let id = node.replica().expect("a replica node");
        let core_seed = seed ^ u64::from(matches!(node, Node::Twin(_)));
        SimReplica {
            id,
            node,
            core: Some(Replica::new(config.clone(), id, core_seed)),
            config,
            seed: core_seed,
            signer,
            verifier,
            clients,
            app: KvStore::default(),
            durable: Durable::default(),
            fetched: None,
            taken_snapshot: None,
            behaviour: None,
            rng: Rng::new(seed.rotate_left(17)),
            stats: ShellStats::default(),
            restarts: 0,
            state_installs: 0,
            rollbacks: 0,
            rollback: false,
        }
    }

    pub fn signer(&self) -> Arc<dyn Signer> {
        self.signer.clone()
    }

    pub fn verifier(&self) -> Arc<dyn Verifier> {
        self.verifier.clone()
    }

    pub fn directory(&self) -> Arc<BTreeMap<ClientId, usize>> {
        self.clients.clone()
    }

    pub fn core(&self) -> Option<&Replica> {
        self.core.as_ref()
    }

    pub fn is_crashed(&self) -> bool {
        self.core.is_none()
    }

    pub fn is_byzantine(&self) -> bool {
        self.behaviour.is_some()
    }

    pub fn behaviour_name(&self) -> Option<&'static str> {
        self.behaviour.as_ref().map(|b| b.name())
    }

    pub fn set_behaviour(&mut self, behaviour: Box<dyn Behaviour>) {
        self.behaviour = Some(behaviour);
    }

    /// The application state, for checks.
    pub fn app(&self) -> &KvStore {
        &self.app
    }

    /// Loses everything that is not durable.
    pub fn crash(&mut self) {
        self.core = None;
        self.app = KvStore::default();
        self.fetched = None;
        self.taken_snapshot = None;
    }

    /// Starts again from the durable state.
    pub fn restart(&mut self, effects: &mut Effects<'_>) {
        assert!(self.core.is_none(), "restart of a running replica");
        self.restarts += 1;
        let inputs = self.recover(effects);
        self.run_all(inputs, effects);
    }

    /// Rebuilds the core and the application from the durable state and carries out the
    /// recovery actions; returns the inputs that follow.
    fn recover(&mut self, effects: &mut Effects<'_>) -> VecDeque<Input> {
        let (seq, app, client_table) = self.durable.restore_point();
        self.app = app;
        self.fetched = None;
        self.taken_snapshot = None;
        let seed =
            self.seed.wrapping_add(u64::from(self.restarts)) ^ (u64::from(self.rollbacks) << 32);
        let (core, actions) = Replica::recover(
            self.config.clone(),
            self.id,
            seed,
            &self.durable.state,
            Restored { seq, client_table },
        );
        if !cfg!(debug_assertions) {
            core.check_invariants();
        }
        self.core = Some(core);
        self.carry_out(actions, effects).into()
    }

    /// The behaviour, if this replica is Byzantine, with what it may use.
    fn faulty(&mut self, now: u64) -> Option<(&mut dyn Behaviour, Context<'_>)> {
        let behaviour = self.behaviour.as_deref_mut()?;
        let context = Context {
            me: self.id,
            signer: self.signer.as_ref(),
            cluster: self.config.cluster.id,
            replica_count: self.config.replica_count(),
            rng: &mut self.rng,
            now,
        };
        Some((behaviour, context))
    }

    pub fn tick(&mut self, effects: &mut Effects<'_>) {
        if self.core.is_none() {
            return;
        }
        self.run(Input::Tick, effects);
        if let Some((behaviour, mut context)) = self.faulty(effects.now) {
            for (to, message) in behaviour.on_tick(&mut context) {
                effects.outgoing.push(Envelope {
                    from: self.node,
                    to: Node::Replica(to),
                    packet: Packet::Protocol(message),
                });
            }
        }
    }

    pub fn deliver(&mut self, from: Node, packet: Packet, effects: &mut Effects<'_>) {
        if self.core.is_none() {
            return;
        }
        match packet {
            Packet::Protocol(message) => {
                let Some(sender) = from.replica() else {
                    return;
                };
                if let Some(behaviour) = self.behaviour.as_mut() {
                    behaviour.observe(&message);
                }
                let cluster = &self.config.cluster;
                match verify_message(
                    message,
                    cluster,
                    &self.config.limits(),
                    self.verifier.as_ref(),
                ) {
                    Ok(verified) => self.run(
                        Input::Message {
                            from: sender,
                            message: verified,
                        },
                        effects,
                    ),
                    Err(_) => self.stats.invalid_messages += 1,
                }
            }
            Packet::Request(request) => {
                let cluster = &self.config.cluster;
                match verify_request(
                    request,
                    cluster,
                    &self.config.limits(),
                    self.verifier.as_ref(),
                ) {
                    Ok(verified) => self.run(Input::Request(verified), effects),
                    Err(_) => self.stats.invalid_requests += 1,
                }
            }
            Packet::StateRequest { seq } => self.serve_state(from, seq, effects),
            Packet::StateResponse {
                seq,
                snapshot,
                client_table,
            } => {
                let Some(sender) = from.replica() else {
                    return;
                };
                let app_digest = Digest::of(&snapshot);
                self.fetched = Some(Fetched {
                    seq,
                    snapshot,
                    client_table: client_table.clone(),
                });
                self.run(
                    Input::StateFetched {
                        seq,
                        from: sender,
                        app_digest,
                        client_table,
                    },
                    effects,
                );
            }
            Packet::Reply(_) => {}
        }
    }

    fn serve_state(&mut self, to: Node, seq: Seq, effects: &mut Effects<'_>) {
        let service = self
            .behaviour
            .as_ref()
            .map_or(StateService::Honest, |b| b.state_transfer());
        let Some(stored) = self.durable.checkpoints.get(&seq) else {
            return;
        };
        let snapshot = match service {
            StateService::Silent => return,
            StateService::Honest => stored.snapshot.clone(),
            StateService::Corrupt | StateService::CorruptChunks { .. } => {
                let mut bytes = stored.snapshot.as_ref().clone();
                bytes.push(0xff);
                Arc::new(bytes)
            }
        };
        effects.outgoing.push(Envelope {
            from: self.node,
            to,
            packet: Packet::StateResponse {
                seq,
                snapshot,
                client_table: stored.client_table.clone(),
            },
        });
    }

    /// Hands one input to the core and carries out everything that follows from it.
    fn run(&mut self, input: Input, effects: &mut Effects<'_>) {
        self.run_all(VecDeque::from([input]), effects);
    }

    fn run_all(&mut self, mut inputs: VecDeque<Input>, effects: &mut Effects<'_>) {
        while let Some(input) = inputs.pop_front() {
            let Some(core) = self.core.as_mut() else {
                return;
            };
            let actions = core.handle(input);
            // The core checks its invariants itself in debug builds; the simulator checks
            // them in every build, so `rampart chaos` (a release build) does too.
            if !cfg!(debug_assertions) {
                core.check_invariants();
            }
            inputs.extend(self.carry_out(actions, effects));
            if self.rollback {
                // As the node does: what is queued was meant for the core being replaced.
                self.rollback = false;
                self.rollbacks += 1;
                inputs = self.recover(effects);
            }
        }
    }

    /// Carries out the actions of one input, in the node's order: sign, make durable,
    /// apply locally, send, and return the inputs that follow (own messages, results).
    fn carry_out(&mut self, actions: Vec<Action>, effects: &mut Effects<'_>) -> Vec<Input> {
        let cluster_id = self.config.cluster.id;
        let replica_count = self.config.replica_count();
        let mut durable_ops = Vec::new();
        let mut own_messages = Vec::new();
        let mut sends: Vec<(Option<ReplicaId>, Message)> = Vec::new();
        let mut local = Vec::new();
        let mut next_inputs = Vec::new();
        for action in actions {
            match action {
                Action::Persist(ops) => durable_ops.extend(ops),
                Action::Broadcast(outbound) => {
                    let (message, signed_here) = self.materialize(outbound, cluster_id);
                    if signed_here {
                        if !matches!(message, Message::Status(_)) {
                            own_messages.push(message.clone());
                        }
                        next_inputs.push(Input::Message {
                            from: self.id,
                            message: Verified::assume_verified(message.clone()),
                        });
                    }
                    sends.push((None, message));
                }
                Action::Send { to, message } => {
                    let (message, _) = self.materialize(message, cluster_id);
                    sends.push((Some(to), message));
                }
                other => local.push(other),
            }
        }
        // One atomic write: everything this input made durable.
        for op in &durable_ops {
            self.durable.apply(op, replica_count);
        }
        for message in &own_messages {
            self.durable.state.insert_message(message, replica_count);
        }
        for action in local {
            if let Some(input) = self.apply_locally(action, effects) {
                next_inputs.push(input);
            }
        }
        for (to, message) in sends {
            self.send(to, message, effects);
        }
        next_inputs
    }

    fn materialize(
        &self,
        outbound: Outbound,
        cluster_id: rampart_crypto::ClusterId,
    ) -> (Message, bool) {
        match outbound {
            Outbound::Relay(message) => (message, false),
            Outbound::Sign(payload) => (sign(payload, cluster_id, self.signer.as_ref()), true),
        }
    }

    fn apply_locally(&mut self, action: Action, effects: &mut Effects<'_>) -> Option<Input> {
        match action {
            Action::Execute(execution) => {
                let results = execution
                    .requests
                    .iter()
                    .map(|request| self.app.apply(&request.value.operation))
                    .collect();
                if !execution.tentative {
                    effects.events.push(Event::Executed {
                        replica: self.id,
                        node: self.node,
                        seq: execution.seq,
                        digest: execution.digest,
                    });
                }
                let app_digest = execution.checkpoint.then(|| {
                    let snapshot = Arc::new(self.app.snapshot());
                    let digest = Digest::of(&snapshot);
                    self.taken_snapshot = Some((execution.seq, snapshot));
                    digest
                });
                Some(Input::Executed {
                    seq: execution.seq,
                    results,
                    app_digest,
                })
            }
            Action::Reply(reply) => {
                self.reply(reply, effects);
                None
            }
            Action::Committed {
                seq,
                digest,
                replies,
            } => {
                effects.events.push(Event::Executed {
                    replica: self.id,
                    node: self.node,
                    seq,
                    digest,
                });
                for reply in replies {
                    self.reply(reply, effects);
                }
                None
            }
            Action::Rollback => {
                self.rollback = true;
                None
            }
            Action::StoreCheckpoint {
                seq,
                state_digest,
                client_table,
            } => {
                let (taken_seq, snapshot) = self
                    .taken_snapshot
                    .take()
                    .expect("a checkpoint is stored right after its snapshot is taken");
                assert_eq!(taken_seq, seq);
                self.durable.checkpoints.insert(
                    seq,
                    StoredCheckpoint {
                        state_digest,
                        snapshot,
                        client_table,
                    },
                );
                effects.events.push(Event::Checkpoint {
                    replica: self.id,
                    node: self.node,
                    seq,
                    state_digest,
                });
                None
            }
            Action::FetchState { seq, from, .. } => {
                let source = from.first().copied()?;
                effects.outgoing.push(Envelope {
                    from: self.node,
                    to: Node::Replica(source),
                    packet: Packet::StateRequest { seq },
                });
                None
            }
            Action::InstallState { seq, state_digest } => {
                let fetched = self
                    .fetched
                    .take()
                    .filter(|f| f.seq == seq)
                    .expect("the core installs only the state it was just given");
                self.app = KvStore::restore(&fetched.snapshot)
                    .expect("a snapshot that matched its digest decodes");
                self.state_installs += 1;
                self.durable.checkpoints.insert(
                    seq,
                    StoredCheckpoint {
                        state_digest,
                        snapshot: fetched.snapshot,
                        client_table: fetched.client_table,
                    },
                );
                effects.events.push(Event::Checkpoint {
                    replica: self.id,
                    node: self.node,
                    seq,
                    state_digest,
                });
                None
            }
            Action::Persist(_) | Action::Broadcast(_) | Action::Send { .. } => {
                unreachable!("sorted out by carry_out")
            }
        }
    }

    fn reply(&mut self, reply: rampart_replica::message::Reply, effects: &mut Effects<'_>) {
        let reply = match self.faulty(effects.now) {
            Some((behaviour, mut context)) => match behaviour.reply(&mut context, reply) {
                Some(reply) => reply,
                None => return,
            },
            None => reply,
        };
        let Some(&client) = self.clients.get(&reply.client) else {
            return;
        };
        effects.outgoing.push(Envelope {
            from: self.node,
            to: Node::Client(client),
            packet: Packet::Reply(reply),
        });
    }

    fn send(&mut self, to: Option<ReplicaId>, message: Message, effects: &mut Effects<'_>) {
        let targets: Vec<ReplicaId> = match to {
            Some(to) => vec![to],
            None => self
                .config
                .cluster
                .replica_ids()
                .filter(|&r| r != self.id)
                .collect(),
        };
        for target in targets {
            let messages = match self.faulty(effects.now) {
                Some((behaviour, mut context)) => {
                    behaviour.outbound(&mut context, target, message.clone())
                }
                None => vec![message.clone()],
            };
            for message in messages {
                effects.outgoing.push(Envelope {
                    from: self.node,
                    to: Node::Replica(target),
                    packet: Packet::Protocol(message),
                });
            }
        }
    }
}

fn sign(payload: Payload, cluster_id: rampart_crypto::ClusterId, signer: &dyn Signer) -> Message {
    payload
        .sign(cluster_id, signer)
        .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"))
}
