//! The shell: the protocol core, the application and the store, and the carrying out of
//! the core's actions. One shell runs in production and in the simulator.
//!
//! # Ports
//!
//! What differs between a replica process and a simulated replica sits behind small
//! ports, in the manner of TigerBeetle's replica over its storage, message bus and time:
//!
//! - **durable storage**: the [`Store`], whose every rule (record checksums, the index,
//!   pruning, checkpoint states in chunks) sits above a [`Disk`](crate::store::disk::Disk):
//!   RocksDB in a process, memory with seeded crash faults in the simulator;
//! - **the network**: [`Network`], which takes encoded frames; inbound frames reach the
//!   shell through the [`Checker`], which decodes and verifies them the same way in both;
//! - **signatures**: a [`Signer`] for what the shell signs and the [`Checker`]'s
//!   [`Verifier`](rampart_crypto::Verifier) (ed25519 in a process; the simulator may
//!   model signatures as unforgeable tags behind the same traits, for speed);
//! - **the clock**: the shell has none. Time reaches the core as ticks
//!   ([`Shell::round`] with `tick`): the node's driver ticks on a timer thread
//!   (`node/drive.rs`), the simulator on its simulated clock.
//!
//! The node runtime (`node/`) adds only threads, QUIC and RocksDB; the simulator (the
//! test kit) adds only its seeded environment. Both carry out rounds with
//! [`Shell::round`].
//!
//! Rules it keeps:
//! - **persist before send**: everything one round of inputs made durable (the core's
//!   `Persist` operations and every signed message this replica broadcast) goes to disk in
//!   one atomic write batch before any message of that round leaves (group commit);
//! - own broadcasts are signed here and handed back to the core, which keeps them for
//!   certificates;
//! - committed batches run on the application strictly in order; checkpoints snapshot it;
//! - signatures reach it verified (see `verify.rs`); RocksDB and the application run
//!   here, which is why it runs on OS threads and never on the async runtime.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;

use rampart_crypto::{Digest, Signer};

use crate::app::{ApplyContext, StateMachine};
use crate::core::{Action, Config, Input, Outbound, PersistOp, Replica, Restored, Rng};
use crate::fault::Behaviour;
use crate::message::{Message, Payload, ReplicaId, RequestKey, Seq, Verified};
use crate::store::Store;
use crate::transfer::Manifest;
use crate::wire::{PeerFrame, ReplicaFrame};

mod metrics;
mod ports;
mod progress;
mod recorder;
mod replies;
mod send;
mod status;
mod transfer;
mod verified;
mod verify;

pub(crate) use metrics::ShellMetrics;
pub use ports::{Network, Observer, Ports, ShellError, ShellEvent};
pub use progress::Progress;
pub use status::{NodeStatus, ReplicaState};
pub use verify::{Checker, CoreInput, InboundCounters};

use recorder::Recorder;
use send::Outgoing;
use transfer::Transfer;

/// The shell of one replica; see the module docs.
#[allow(missing_debug_implementations)]
pub struct Shell<N> {
    id: ReplicaId,
    core: Replica,
    app: Box<dyn StateMachine>,
    store: Store,
    signer: Arc<dyn Signer>,
    network: N,
    observer: Option<Observer>,
    behaviour: Option<Box<dyn Behaviour>>,
    rng: Rng,
    status: watch::Sender<NodeStatus>,
    transfer: Transfer,
    /// The snapshot taken at the last checkpoint and its manifest, until the core says to
    /// store it.
    taken_snapshot: Option<(Seq, Vec<u8>, Manifest)>,
    /// Requests whose client asked for a commit certificate with the reply.
    certify: BTreeSet<RequestKey>,
    /// Requests this replica received straight from their client, not yet answered.
    direct: BTreeSet<RequestKey>,
    /// Requests received straight from their client more than once: retransmissions,
    /// which every replica answers.
    retransmitted: BTreeSet<RequestKey>,
    /// The newest checkpoint taken or installed, for the status.
    last_checkpoint: Option<(Seq, Digest)>,
    pending_ops: Vec<PersistOp>,
    pending_own: Vec<Message>,
    outgoing: Vec<Outgoing>,
    /// What the verifier threads learn from the persisted operations.
    progress: Arc<Progress>,
    /// The application's genesis snapshot while no checkpoint is stored: a rollback
    /// before the first checkpoint starts from it.
    genesis: Option<Vec<u8>>,
    seed: u64,
    /// The core asked for a rollback (see [`Action::Rollback`]).
    rollback: bool,
    rollbacks: u64,
    /// States installed by state transfer.
    state_installs: u64,
    /// Messages not sent because they exceeded the frame cap (see `Shell::too_large`).
    messages_too_large: u64,
    /// See [`Shell::check_invariants_always`].
    invariants_always: bool,
    /// Records metrics and fills the status from what goes by (`recorder.rs`).
    recorder: Recorder,
}

impl<N: Network> Shell<N> {
    /// Rebuilds the replica from what `ports.store` holds, as at every start: the core from
    /// the protocol records, `app` from the newest stored checkpoint (with none, `app` is
    /// taken to be in its genesis state), and carries out the recovery actions, which
    /// resume half-done work. Nothing is sent until [`Shell::flush`].
    pub fn recover(
        config: Arc<Config>,
        id: ReplicaId,
        seed: u64,
        mut app: Box<dyn StateMachine>,
        ports: Ports<N>,
        behaviour: Option<Box<dyn Behaviour>>,
    ) -> Result<Shell<N>, ShellError> {
        let (core, actions) = recover(&ports.store, app.as_mut(), None, &config, id, seed)?;
        // Without a stored checkpoint (every one is above 0) the application is still in
        // its genesis state, kept for rolling back a tentative execution until the first.
        let genesis = (core.last_executed() == Seq(0)).then(|| app.snapshot());
        let Ports {
            mut store,
            network,
            signer,
            status,
            observer,
        } = ports;
        let recorder = Recorder::new(core.last_executed());
        store.observe_writes(recorder.metrics());
        let mut shell = Shell {
            id,
            transfer: Transfer::new(id, &config),
            core,
            app,
            store,
            signer,
            network,
            observer,
            behaviour,
            rng: Rng::new(seed),
            status,
            taken_snapshot: None,
            certify: BTreeSet::new(),
            direct: BTreeSet::new(),
            retransmitted: BTreeSet::new(),
            last_checkpoint: None,
            pending_ops: Vec::new(),
            pending_own: Vec::new(),
            outgoing: Vec::new(),
            progress: Arc::default(),
            genesis,
            seed,
            rollback: false,
            rollbacks: 0,
            state_installs: 0,
            messages_too_large: 0,
            invariants_always: false,
            recorder,
        };
        shell.resume(actions)?;
        shell.publish_status();
        Ok(shell)
    }

    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The protocol core, for inspection.
    pub fn core(&self) -> &Replica {
        &self.core
    }

    /// The application, for inspection.
    pub fn app(&self) -> &dyn StateMachine {
        self.app.as_ref()
    }

    /// Where the shell publishes its status.
    pub fn status(&self) -> &watch::Sender<NodeStatus> {
        &self.status
    }

    /// The store, for inspection.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the verifier learns from the persisted operations (see [`Checker::new`]).
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// The metrics the shell records, for a registry to export.
    pub(crate) fn metrics(&self) -> Arc<ShellMetrics> {
        self.recorder.metrics()
    }

    pub fn is_byzantine(&self) -> bool {
        self.behaviour.is_some()
    }

    pub fn behaviour_name(&self) -> Option<&'static str> {
        self.behaviour.as_ref().map(|b| b.name())
    }

    /// Makes this replica Byzantine (tests only).
    pub fn set_behaviour(&mut self, behaviour: Box<dyn Behaviour>) {
        self.behaviour = Some(behaviour);
    }

    /// Ends the shell, handing back its behaviour (a crashed Byzantine replica restarts
    /// Byzantine).
    pub fn into_behaviour(self) -> Option<Box<dyn Behaviour>> {
        self.behaviour
    }

    /// Checks the core's invariants after every input in every build, not only in debug
    /// builds (where the core checks them itself): the simulator does, so that a release
    /// build of the campaign does too.
    pub fn check_invariants_always(&mut self, always: bool) {
        self.invariants_always = always;
    }

    /// Carries out one round: `inputs` in order, then a tick if `tick` (timers, state
    /// transfer deadlines, the status), and makes it durable before anything it produced
    /// is sent (see [`Shell::flush`]).
    pub fn round(&mut self, inputs: Vec<CoreInput>, tick: bool) -> Result<(), ShellError> {
        for input in inputs {
            self.accept(input)?;
        }
        if tick {
            self.feed(Input::Tick)?;
            self.transfer_tick()?;
            self.behaviour_tick();
            self.publish_status();
        }
        self.flush()
    }

    /// Marks the replica stopped on request.
    pub fn stopped(&self) {
        self.status.send_modify(|status| status.running = false);
    }

    /// Marks the replica stopped because storage failed: a replica that cannot persist
    /// must not send, so it refuses to go on.
    pub fn failed(&self, error: &dyn std::error::Error) {
        tracing::error!(replica = %self.id, %error, "replica stopped");
        self.status.send_modify(|status| {
            status.failed = Some(error.to_string());
            status.running = false;
        });
    }

    fn accept(&mut self, input: CoreInput) -> Result<(), ShellError> {
        match input {
            CoreInput::Message { from, message } => {
                if let Some(behaviour) = self.behaviour.as_mut() {
                    behaviour.observe(&message);
                    if let Message::Request(request) = &*message
                        && behaviour.censors(&request.value)
                    {
                        return Ok(());
                    }
                }
                self.feed(Input::Message { from, message })
            }
            CoreInput::Request {
                request,
                certify,
                all_answer,
            } => {
                if let Some(behaviour) = self.behaviour.as_mut()
                    && behaviour.censors(&request.value)
                {
                    return Ok(());
                }
                if request.value.read_only {
                    // The core says when the state may answer it (PBFT §5.1.3).
                    return self.feed(Input::Request(request));
                }
                self.note_request(request.value.key(), certify, all_answer);
                self.feed(Input::Request(request))
            }
            CoreInput::StatusRequest { client } => {
                self.answer_status(client);
                Ok(())
            }
            CoreInput::Refused {
                client,
                number,
                refusal,
            } => {
                self.outgoing.push(Outgoing::Client {
                    client,
                    frame: ReplicaFrame::Refused { number, refusal },
                });
                Ok(())
            }
            CoreInput::State { from, frame } => self.on_state_frame(from, frame),
            CoreInput::BatchRequest { from, digest } => {
                self.feed(Input::BatchRequested { from, digest })
            }
            CoreInput::Batch { from, batch } => {
                tracing::debug!(replica = %self.id, %from, digest = %batch.digest(), "batch fetched");
                self.feed(Input::BatchFetched { batch })
            }
        }
    }

    /// Carries out the actions recovery produced, and everything that follows from them.
    fn resume(&mut self, actions: Vec<Action>) -> Result<(), ShellError> {
        let mut queue = VecDeque::new();
        self.carry_out(actions, &mut queue)?;
        self.drain(queue)
    }

    /// Hands one input to the core and carries out everything that follows.
    pub(crate) fn feed(&mut self, input: Input) -> Result<(), ShellError> {
        self.drain(VecDeque::from([input]))
    }

    fn drain(&mut self, mut queue: VecDeque<Input>) -> Result<(), ShellError> {
        loop {
            if self.rollback {
                // What is still queued was meant for the core being replaced.
                queue.clear();
                let actions = self.roll_back()?;
                self.carry_out(actions, &mut queue)?;
            }
            let Some(input) = queue.pop_front() else {
                break;
            };
            let actions = self.core.handle(input);
            if self.invariants_always && !cfg!(debug_assertions) {
                self.core.check_invariants();
            }
            self.carry_out(actions, &mut queue)?;
        }
        Ok(())
    }

    /// Undoes a tentative execution that did not commit as executed (PBFT §5.1.2): makes
    /// the round so far durable, then rebuilds the core and the application from the store
    /// exactly as a restart would. Durable state never holds a tentative execution, and
    /// recovery is the path every replica must survive anyway, so this needs no undo
    /// machinery of its own; what only lived in memory (peers' PREPAREs and COMMITs,
    /// requests waiting for a batch) comes back through retransmission, as after a crash.
    fn roll_back(&mut self) -> Result<Vec<Action>, ShellError> {
        self.rollback = false;
        self.persist_round()?;
        let protocol = Arc::new(self.core.config().clone());
        let (core, actions) = recover(
            &self.store,
            self.app.as_mut(),
            self.genesis.as_deref(),
            &protocol,
            self.id,
            self.seed,
        )?;
        tracing::warn!(
            replica = %self.id, last_executed = %core.last_executed(),
            "rolled back a tentative execution"
        );
        let mut core = core;
        core.inherit_counters(&self.core);
        self.core = core;
        self.taken_snapshot = None;
        self.transfer.reset();
        self.rollbacks += 1;
        Ok(actions)
    }

    fn sign(&self, payload: Payload) -> Message {
        let cluster = self.core.config().cluster.id;
        payload
            .sign(cluster, self.signer.as_ref())
            .unwrap_or_else(|error| unreachable!("signing in memory failed: {error}"))
    }

    fn carry_out(
        &mut self,
        actions: Vec<Action>,
        queue: &mut VecDeque<Input>,
    ) -> Result<(), ShellError> {
        self.recorder.actions(&actions);
        for action in actions {
            match action {
                Action::Persist(ops) => self.pending_ops.extend(ops),
                Action::Broadcast(Outbound::Sign(payload)) => {
                    let status = matches!(payload, Payload::Status(_));
                    let message = self.sign(payload);
                    if !status {
                        self.pending_own.push(message.clone());
                    }
                    queue.push_back(Input::Message {
                        from: self.id,
                        message: Verified::assume_verified(message.clone()),
                    });
                    self.outgoing.push(Outgoing::Protocol { to: None, message });
                }
                Action::Broadcast(Outbound::Relay(message)) => {
                    self.outgoing.push(Outgoing::Protocol { to: None, message });
                }
                Action::Send { to, message } => {
                    let message = match message {
                        Outbound::Sign(payload) => self.sign(payload),
                        Outbound::Relay(message) => message,
                    };
                    self.outgoing.push(Outgoing::Protocol {
                        to: Some(to),
                        message,
                    });
                }
                Action::Execute(execution) => {
                    if !execution.tentative {
                        self.observe(ShellEvent::Executed {
                            seq: execution.seq,
                            digest: execution.digest,
                        });
                    }
                    let results = execution
                        .requests
                        .iter()
                        .map(|request| {
                            let context = ApplyContext {
                                client: request.value.client,
                                request_number: request.value.number,
                                seq: execution.seq,
                            };
                            Bytes::from(self.app.apply(&context, &request.value.operation))
                        })
                        .collect();
                    let app_digest = execution.checkpoint.then(|| {
                        // The application digest is the root over the snapshot's chunks, so
                        // that a replica fetching this state can check each chunk on arrival.
                        let snapshot = self.app.snapshot();
                        let chunk_bytes = self.core.config().snapshot_chunk_bytes;
                        let manifest = Manifest::of(&snapshot, chunk_bytes);
                        let digest = manifest.root();
                        self.taken_snapshot = Some((execution.seq, snapshot, manifest));
                        digest
                    });
                    queue.push_back(Input::Executed {
                        seq: execution.seq,
                        results,
                        app_digest,
                    });
                }
                Action::Reply(reply) => self.push_reply(reply, false),
                Action::Query { request, view, seq } => self.answer_read_only(&request, view, seq),
                Action::FetchBatch { digest, from } => {
                    self.queue_peer(from, PeerFrame::BatchRequest { digest });
                }
                Action::SendBatch { to, batch } => {
                    self.queue_peer(to, PeerFrame::Batch(batch));
                }
                Action::Refuse {
                    client,
                    number,
                    refusal,
                } => {
                    tracing::debug!(replica = %self.id, %client, number, %refusal, "request refused");
                    self.outgoing.push(Outgoing::Client {
                        client: client.0,
                        frame: ReplicaFrame::Refused { number, refusal },
                    });
                }
                Action::Committed {
                    seq,
                    digest,
                    replies,
                } => {
                    self.observe(ShellEvent::Executed { seq, digest });
                    for reply in replies {
                        let key = reply.key();
                        // This replica answered already (`should_reply`); only a client
                        // still waiting for a committed reply needs this one.
                        if self.retransmitted.contains(&key) || self.certify.contains(&key) {
                            self.push_reply(reply, false);
                        }
                    }
                }
                Action::Rollback => self.rollback = true,
                Action::StoreCheckpoint {
                    seq,
                    state_digest,
                    client_table,
                } => {
                    let (snapshot, manifest) = match self.taken_snapshot.take() {
                        Some((taken, snapshot, manifest)) if taken == seq => (snapshot, manifest),
                        _ => unreachable!("the core stores a checkpoint right after taking it"),
                    };
                    self.store.put_checkpoint(
                        seq,
                        state_digest,
                        &client_table,
                        &manifest,
                        &snapshot,
                    )?;
                    self.last_checkpoint = Some((seq, state_digest));
                    self.genesis = None;
                    self.observe(ShellEvent::Checkpoint { seq, state_digest });
                }
                Action::FetchState {
                    seq,
                    state_digest,
                    from,
                } => queue.extend(self.start_fetch(seq, state_digest, from)?),
                Action::InstallState { seq, state_digest } => {
                    self.install_state(seq, state_digest)?
                }
            }
        }
        Ok(())
    }

    fn observe(&mut self, event: ShellEvent) {
        if let Some(observer) = self.observer.as_mut() {
            observer(event);
        }
    }

    pub fn publish_status(&self) {
        let core = &self.core;
        self.status.send_modify(|status| {
            status.view = core.view();
            status.status = core.status();
            status.normal = core.is_normal();
            status.primary = core.current_primary();
            status.last_executed = core.last_executed();
            status.stable_checkpoint = core.stable_checkpoint().seq;
            status.transferring = core.is_transferring();
            status.rejects = core.rejects().values().sum();
            status.evidence = core.evidence().len();
            status.last_checkpoint = self.last_checkpoint;
            status.rollbacks = self.rollbacks;
            status.state_installs = self.state_installs;
            status.messages_too_large = self.messages_too_large;
            status.transfer = self.transfer.stats().clone();
            self.recorder.status(status, core);
        });
    }
}

/// Rebuilds the protocol core from what `store` holds and puts `app` in the state of the
/// newest stored checkpoint; with none, in `genesis` if given (otherwise `app` is taken to
/// be in its genesis state already). Returns the core and the actions that resume its work.
fn recover(
    store: &Store,
    app: &mut dyn StateMachine,
    genesis: Option<&[u8]>,
    protocol: &Arc<Config>,
    id: ReplicaId,
    seed: u64,
) -> Result<(Replica, Vec<Action>), ShellError> {
    let persisted = store.load()?;
    let restored = match store.latest_checkpoint()? {
        Some(meta) => {
            let snapshot = store
                .read_snapshot(meta.seq)?
                .ok_or(ShellError::StateVanished { seq: meta.seq })?;
            app.restore(&snapshot)?;
            Restored {
                seq: meta.seq,
                client_table: meta.client_table,
            }
        }
        None => {
            if let Some(genesis) = genesis {
                app.restore(genesis)?;
            }
            Restored::default()
        }
    };
    Ok(Replica::recover(
        protocol.clone(),
        id,
        seed,
        &persisted,
        restored,
    ))
}

#[cfg(test)]
pub(crate) mod tests;
