//! A simulated replica: the real protocol core with the shell duties of the node runtime,
//! carried out against simulated disk and network.
//!
//! It follows the node's rules exactly: signed payloads and `Persist` operations of one
//! input are made durable together before anything is sent; own broadcasts are handed back
//! to the core; committed batches run on the key-value store; checkpoints are kept for
//! state transfer, which moves them in chunks checked on arrival by the replica crate's
//! [`Fetcher`] and served by its [`answer`]. A crash drops everything but the durable part;
//! a restart rebuilds the core with [`Replica::recover`] from exactly what was persisted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{Digest, Signed, Signer, Verifier};
use rampart_replica::core::{
    Action, ClientTable, Config, Input, Outbound, PersistOp, PersistedState, Replica, Restored, Rng,
};
use rampart_replica::message::{
    ClientId, Message, Payload, ReplicaId, Request, Seq, Verified, View, batch_signature_checks,
    verify_message, verify_request,
};
use rampart_replica::transfer::{
    FetchSettings, Fetcher, Manifest, StateFrame, StateHolder, Step, Target, TransferStats, answer,
};

use crate::byzantine::{Behaviour, Context, StateService};
use crate::kv::KvStore;
use crate::network::{Envelope, Node, Packet};

/// A checkpoint kept on the simulated disk.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    pub state_digest: Digest,
    pub snapshot: Arc<Vec<u8>>,
    pub manifest: Arc<Manifest>,
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

impl StateHolder for Durable {
    type Error = Infallible;

    fn manifest(&self, seq: Seq) -> Result<Option<(Manifest, ClientTable)>, Infallible> {
        Ok(self.checkpoints.get(&seq).map(|stored| {
            (
                stored.manifest.as_ref().clone(),
                stored.client_table.clone(),
            )
        }))
    }

    fn chunk(&self, seq: Seq, index: u32) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.checkpoints.get(&seq).and_then(|stored| {
            stored
                .manifest
                .chunk_of(&stored.snapshot, index)
                .map(<[u8]>::to_vec)
        }))
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
    /// Requests the core refused and answered.
    pub refusals: u64,
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
    fetcher: Fetcher,
    /// The chunks state transfer brought, by digest (in memory: a crash loses them).
    chunks: BTreeMap<Digest, Bytes>,
    /// The manifest of the state being fetched, once it checked out.
    incoming: Option<(Seq, Manifest)>,
    /// The reply cache of the fetched state, until the core says to install it.
    fetched: Option<(Seq, ClientTable)>,
    taken_snapshot: Option<(Seq, Arc<Vec<u8>>, Arc<Manifest>)>,
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
            fetcher: Fetcher::new(id, FetchSettings::of(&config)),
            chunks: BTreeMap::new(),
            incoming: None,
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

    /// What state transfer fetched, refused and fetched again.
    pub fn transfer_stats(&self) -> &TransferStats {
        self.fetcher.stats()
    }

    /// Loses everything that is not durable.
    pub fn crash(&mut self) {
        self.core = None;
        self.app = KvStore::default();
        self.fetched = None;
        self.taken_snapshot = None;
        self.fetcher.stop();
        self.chunks.clear();
        self.incoming = None;
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
        self.fetcher.stop();
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
        if let Some(now) = self.core.as_ref().map(Replica::now) {
            let step = self.fetcher.on_tick(now);
            let inputs = self.carry_out_fetch(step, effects);
            self.run_all(inputs.into(), effects);
        }
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
                    if let Message::Request(request) = &message
                        && behaviour.censors(&request.value)
                    {
                        return;
                    }
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
                if let Some(behaviour) = self.behaviour.as_mut()
                    && behaviour.censors(&request.value)
                {
                    return;
                }
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
            Packet::State(frame) => self.on_state_frame(from, frame, effects),
            Packet::BatchRequest { digest } => {
                if let Some(sender) = from.replica() {
                    self.run(
                        Input::BatchRequested {
                            from: sender,
                            digest,
                        },
                        effects,
                    );
                }
            }
            Packet::Batch(batch) => {
                let cluster = &self.config.cluster;
                let checks =
                    batch_signature_checks(&batch, cluster, &self.config.limits(), &|_| false);
                match checks.map(|checks| self.verifier.verify_batch(&checks)) {
                    Ok(Ok(())) => self.run(
                        Input::BatchFetched {
                            batch: Verified::assume_verified(batch),
                        },
                        effects,
                    ),
                    _ => self.stats.invalid_messages += 1,
                }
            }
            Packet::Reply { .. } | Packet::Refused { .. } => {}
        }
    }

    /// A state transfer frame: a request to serve from the simulated disk, or an answer
    /// for the fetcher.
    fn on_state_frame(&mut self, from: Node, frame: StateFrame, effects: &mut Effects<'_>) {
        let (Some(sender), Some(now)) = (from.replica(), self.core.as_ref().map(Replica::now))
        else {
            return;
        };
        if frame.is_request() {
            let service = self
                .behaviour
                .as_ref()
                .map_or(StateService::Honest, |b| b.state_transfer());
            let Ok(Some(answer)) = answer(&self.durable, &frame, service) else {
                return;
            };
            effects.outgoing.push(Envelope {
                from: self.node,
                to: from,
                packet: Packet::State(answer),
            });
            return;
        }
        let chunks = &self.chunks;
        let step = self
            .fetcher
            .on_response(sender, frame, now, |digest| chunks.contains_key(digest));
        let inputs = self.carry_out_fetch(step, effects);
        self.run_all(inputs.into(), effects);
    }

    /// Keeps what the fetcher accepted and sends its requests, as the node's shell does;
    /// returns the inputs for the core.
    fn carry_out_fetch(&mut self, step: Step, effects: &mut Effects<'_>) -> Vec<Input> {
        let mut inputs = Vec::new();
        if let Some((seq, manifest)) = step.manifest {
            // What the new state does not use goes, as the store's chunks do.
            let wanted: BTreeSet<&Digest> = manifest.chunk_digests().iter().collect();
            self.chunks.retain(|digest, _| wanted.contains(digest));
            self.incoming = Some((seq, manifest));
        }
        if let Some(chunk) = step.chunk {
            self.chunks.insert(chunk.digest(), chunk.data().clone());
            if let Some(target) = self.fetcher.target() {
                inputs.push(Input::StateProgress { seq: target.seq });
            }
        }
        if let Some(complete) = step.complete {
            self.fetched = Some((complete.seq, complete.client_table.clone()));
            inputs.push(Input::StateFetched {
                seq: complete.seq,
                from: complete.from,
                app_digest: complete.app_digest,
                client_table: complete.client_table,
            });
        }
        for (to, frame) in step.requests {
            effects.outgoing.push(Envelope {
                from: self.node,
                to: Node::Replica(to),
                packet: Packet::State(frame),
            });
        }
        inputs
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
                    let manifest = Manifest::of(&snapshot, self.config.snapshot_chunk_bytes);
                    let digest = manifest.root();
                    self.taken_snapshot = Some((execution.seq, snapshot, Arc::new(manifest)));
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
            Action::FetchBatch { digest, from } => {
                effects.outgoing.push(Envelope {
                    from: self.node,
                    to: Node::Replica(from),
                    packet: Packet::BatchRequest { digest },
                });
                None
            }
            Action::SendBatch { to, batch } => {
                effects.outgoing.push(Envelope {
                    from: self.node,
                    to: Node::Replica(to),
                    packet: Packet::Batch(batch),
                });
                None
            }
            Action::Query { request, view, seq } => {
                self.answer_read(&request, view, seq, effects);
                None
            }
            Action::Refuse {
                client,
                number,
                refusal,
            } => {
                self.stats.refusals += 1;
                if let Some(&client) = self.clients.get(&client) {
                    effects.outgoing.push(Envelope {
                        from: self.node,
                        to: Node::Client(client),
                        packet: Packet::Refused { number, refusal },
                    });
                }
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
                let (taken_seq, snapshot, manifest) = self
                    .taken_snapshot
                    .take()
                    .expect("a checkpoint is stored right after its snapshot is taken");
                assert_eq!(taken_seq, seq);
                self.durable.checkpoints.insert(
                    seq,
                    StoredCheckpoint {
                        state_digest,
                        snapshot,
                        manifest,
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
            Action::FetchState {
                seq,
                state_digest,
                from,
            } => self.start_fetch(Target { seq, state_digest }, from, effects),
            Action::InstallState { seq, state_digest } => {
                let (fetched_seq, client_table) = self
                    .fetched
                    .take()
                    .expect("the core installs only the state it was just given");
                assert_eq!(fetched_seq, seq);
                self.fetcher.stop();
                let stored = match self.durable.checkpoints.get(&seq) {
                    Some(stored) => stored.clone(),
                    None => {
                        let (incoming_seq, manifest) = self
                            .incoming
                            .take()
                            .expect("a fetched state has a manifest");
                        assert_eq!(incoming_seq, seq);
                        let snapshot: Vec<u8> = manifest
                            .chunk_digests()
                            .iter()
                            .flat_map(|digest| self.chunks[digest].iter().copied())
                            .collect();
                        StoredCheckpoint {
                            state_digest,
                            snapshot: Arc::new(snapshot),
                            manifest: Arc::new(manifest),
                            client_table,
                        }
                    }
                };
                self.chunks.clear();
                self.app = KvStore::restore(&stored.snapshot)
                    .expect("a snapshot that matched its digest decodes");
                self.state_installs += 1;
                self.durable.checkpoints.insert(seq, stored);
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

    /// `Action::FetchState`, as the node's shell carries it out: a state on the simulated
    /// disk is installed from there; otherwise the fetcher asks for it, counting the
    /// chunks of the newest state on disk as held.
    fn start_fetch(
        &mut self,
        target: Target,
        from: Vec<ReplicaId>,
        effects: &mut Effects<'_>,
    ) -> Option<Input> {
        if let Some(stored) = self.durable.checkpoints.get(&target.seq) {
            if stored.state_digest == target.state_digest {
                self.fetcher.stop();
                self.fetched = Some((target.seq, stored.client_table.clone()));
                return Some(Input::StateFetched {
                    seq: target.seq,
                    from: self.id,
                    app_digest: stored.manifest.root(),
                    client_table: stored.client_table.clone(),
                });
            }
            self.durable.checkpoints.remove(&target.seq);
        }
        if self.chunks.is_empty()
            && let Some((_, newest)) = self.durable.checkpoints.iter().next_back()
        {
            for index in 0..newest.manifest.chunk_count() {
                if let Some(chunk) = newest.manifest.chunk_of(&newest.snapshot, index) {
                    let digest = newest.manifest.chunk_digests()[index as usize];
                    self.chunks.insert(digest, Bytes::copy_from_slice(chunk));
                }
            }
        }
        let now = self.core.as_ref().map_or(0, Replica::now);
        let step = self.fetcher.start(target, from, now);
        let inputs = self.carry_out_fetch(step, effects);
        debug_assert!(inputs.is_empty(), "starting a fetch only asks");
        None
    }

    fn reply(&mut self, reply: rampart_replica::message::Reply, effects: &mut Effects<'_>) {
        self.send_reply(reply, false, effects);
    }

    fn send_reply(
        &mut self,
        reply: rampart_replica::message::Reply,
        read_only: bool,
        effects: &mut Effects<'_>,
    ) {
        let reply = match self.faulty(effects.now) {
            Some((behaviour, mut context)) => {
                let changed = if read_only {
                    behaviour.read_reply(&mut context, reply)
                } else {
                    behaviour.reply(&mut context, reply)
                };
                match changed {
                    Some(reply) => reply,
                    None => return,
                }
            }
            None => reply,
        };
        let Some(&client) = self.clients.get(&reply.client) else {
            return;
        };
        effects.outgoing.push(Envelope {
            from: self.node,
            to: Node::Client(client),
            packet: Packet::Reply { reply, read_only },
        });
    }

    /// PBFT §5.1.3: a read-only request, answered from the current state when the core
    /// says the state may answer it.
    fn answer_read(
        &mut self,
        request: &Signed<Request>,
        view: View,
        seq: Seq,
        effects: &mut Effects<'_>,
    ) {
        let reply = rampart_replica::message::Reply {
            view,
            seq,
            client: request.value.client,
            number: request.value.number,
            replica: self.id,
            result: self.app.query(&request.value.operation),
            tentative: false,
        };
        self.send_reply(reply, true, effects);
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
