//! The PBFT protocol (Castro and Liskov, TOCS 2002) as a sans-IO state machine.
//!
//! A [`Replica`] takes one [`Input`] at a time and returns the [`Action`]s the shell must
//! carry out, in order. It has no sockets, files, clocks or threads: time is
//! [`Input::Tick`], randomness comes from a seed, and every map iterates in a fixed order,
//! so the same inputs always give the same actions.
//!
//! The division of labour with the shell:
//! - the shell verifies every signature before the core sees a message ([`Verified`]);
//! - the core never signs: it emits unsigned [`Payload`]s and the shell signs them, makes
//!   them durable, hands them back to the core (so the core holds its own signed messages
//!   for certificates), and sends them;
//! - the shell executes committed batches on the application and reports the results,
//!   takes and stores checkpoints, and moves state between replicas on request.
//!
//! Peer input that breaks a rule is dropped with a typed [`Reject`] and counted; it never
//! causes a panic. Assertions guard only the core's own invariants
//! ([`Replica::check_invariants`], run after every input in debug builds).
//!
//! The core does not panic on its own either: `panic!`, `unwrap` and `expect` are denied
//! here (tests excepted). What the core could only get wrong through a bug of its own is
//! an invariant in `invariants.rs`, and what a caller could get wrong is refused with a
//! [`Reject`].

#![deny(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod batch_fetch;
mod batching;
mod checkpoint;
mod client_table;
mod config;
mod evidence;
mod invariants;
mod log;
mod monitor;
mod normal;
mod persist;
pub mod progress;
pub mod quorum;
mod reads;
mod recovery;
mod reject;
mod replier;
mod requests;
mod rng;
mod status;
mod transfer;
mod view_change;
mod view_change_cause;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{Digest, Signed};

pub use client_table::{CachedReply, ClientRecord, ClientTable, RequestStatus, checkpoint_digest};
pub use config::{
    CLIENT_BYTES_IN_FLIGHT_MAX_DEFAULT, Config, ConfigError, MessageBytesMax, SNAPSHOT_CHUNK_BYTES,
};
pub use evidence::{EVIDENCE_PER_REPLICA_MAX, Evidence, EvidenceStore};
pub use log::{Log, Round, Slot};
pub use persist::{MessageKey, PersistOp, PersistedState};
pub use progress::SlotProgress;
pub use quorum::Quorums;
pub use reads::DEFERRED_READS_MAX;
pub use recovery::Restored;
pub use reject::Reject;
pub use replier::answers_as_backup;
pub use rng::Rng;
pub use view_change_cause::{ViewChangeCause, ViewChangeCounts};

use crate::message::{
    Batch, ClientId, Message, Payload, Refusal, ReplicaId, Reply, Request, RequestKey, Seq,
    Verified, View,
};
use checkpoint::Checkpoints;
use monitor::Monitor;
use requests::Requests;
use transfer::Transfer;
use view_change::ViewChanges;

/// What the shell hands to the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// One tick of logical time has passed.
    Tick,
    /// A verified message from a replica. `from` is the peer the transport authenticated;
    /// the core judges messages by their signed authors, so relayed messages work.
    Message {
        from: ReplicaId,
        message: Verified<Message>,
    },
    /// A verified request straight from a client: to order, or, if read-only, to answer
    /// from the current state (PBFT §5.1.3, see `reads.rs`).
    Request(Verified<Signed<Request>>),
    /// The results of an [`Action::Execute`], one per request, in order; for a checkpoint
    /// sequence number also the digest of the application snapshot taken right after.
    Executed {
        seq: Seq,
        results: Vec<Bytes>,
        app_digest: Option<Digest>,
    },
    /// Part of the state asked for by [`Action::FetchState`] arrived and checked out against
    /// the digest a quorum signed: the transfer is making progress, so its deadline moves.
    StateProgress { seq: Seq },
    /// The state asked for by [`Action::FetchState`] arrived from `from`. The shell keeps
    /// the application snapshot (whose manifest root is `app_digest`) until the core
    /// answers with [`Action::InstallState`] or asks again.
    StateFetched {
        seq: Seq,
        from: ReplicaId,
        app_digest: Digest,
        client_table: ClientTable,
    },
    /// A batch a peer sent in answer to [`Action::FetchBatch`], its requests' signatures
    /// checked. Accepted only if it hashes to a digest waited for (`batch_fetch.rs`).
    BatchFetched { batch: Verified<Arc<Batch>> },
    /// A peer asks for the batch with `digest`.
    BatchRequested { from: ReplicaId, digest: Digest },
}

/// A message to send: a payload the shell must sign first, or a message signed already
/// (a relay of this replica's own earlier message or of another replica's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    Sign(Payload),
    Relay(Message),
}

/// A request the shell must execute: already deduplicated against the reply cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    pub seq: Seq,
    pub view: View,
    /// The digest of the committed batch (the requests below are its not-yet-executed part).
    pub digest: Digest,
    pub requests: Vec<Signed<Request>>,
    /// Take a checkpoint right after this sequence number: snapshot the application and
    /// report the snapshot's digest in [`Input::Executed`].
    pub checkpoint: bool,
    /// The batch has prepared but not committed (PBFT §5.1.2). Its effects stand once the
    /// core reports [`Action::Committed`]; if it commits with another digest, the core asks
    /// for [`Action::Rollback`] instead. Never set at a checkpoint sequence number.
    pub tentative: bool,
}

/// What the core asks the shell to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send to one replica.
    Send { to: ReplicaId, message: Outbound },
    /// Send to every other replica. For a [`Outbound::Sign`] payload the shell signs it,
    /// makes the signed message durable (except STATUS) together with the `Persist`
    /// operations of the same `handle` call, sends it, and hands it back to the core as
    /// [`Input::Message`] from this replica.
    Broadcast(Outbound),
    /// Make these operations durable before any later `Send` or `Broadcast`.
    Persist(Vec<PersistOp>),
    /// Execute a committed batch (PBFT §4.2: strictly in sequence-number order).
    Execute(Execution),
    /// Send a reply to a client.
    Reply(Reply),
    /// Answer a read-only request from the application's current state, which holds every
    /// committed batch up to `seq` and nothing else, as a reply in `view` (PBFT §5.1.3).
    Query {
        request: Signed<Request>,
        view: View,
        seq: Seq,
    },
    /// Tell a client that its request will not be executed, and why. Only for requests
    /// that came straight from the client: a client hears from the replicas it asked.
    Refuse {
        client: ClientId,
        number: u64,
        refusal: Refusal,
    },
    /// The batch executed tentatively at `seq` committed with the digest it ran with, so
    /// its effects are final. `replies` are its committed replies: the clients got
    /// tentative ones already, so they matter only to a client still waiting for a
    /// committed reply (one that retransmitted, or asked for a commit certificate).
    Committed {
        seq: Seq,
        digest: Digest,
        replies: Vec<Reply>,
    },
    /// The batch executed tentatively at `last_executed + 1` will not commit as executed:
    /// throw away the application state and this core, and rebuild both from durable state
    /// as after a crash ([`Replica::recover`]). Durable state never holds a tentative
    /// execution, and a replica survives a crash at any point, so this is always safe.
    /// The core executes nothing more.
    Rollback,
    /// Ask `from` for the batch with `digest`, known only by digest (`batch_fetch.rs`).
    FetchBatch { digest: Digest, from: ReplicaId },
    /// Send a batch a peer asked for.
    SendBatch { to: ReplicaId, batch: Arc<Batch> },
    /// Keep the checkpoint just taken at `seq`: the application snapshot and this reply
    /// cache, whose combined digest is `state_digest`. Peers fetch it by state transfer.
    StoreCheckpoint {
        seq: Seq,
        state_digest: Digest,
        client_table: ClientTable,
    },
    /// Fetch the state of stable checkpoint `seq` from `from` (in order of preference),
    /// report each part that checks out with [`Input::StateProgress`] and the whole with
    /// [`Input::StateFetched`]. Asked again for the state it is fetching, the shell goes on
    /// where it is, giving every source another chance; a state it holds already needs no
    /// fetching.
    FetchState {
        seq: Seq,
        state_digest: Digest,
        from: Vec<ReplicaId>,
    },
    /// The fetched state checked out: restore the application from its snapshot and keep
    /// it as the checkpoint at `seq`.
    InstallState { seq: Seq, state_digest: Digest },
}

/// A replica's status, named after PBFT's.
///
/// The view-change protocol gives a replica two states (§4.4): normal operation in its
/// view, or a view change to it. A state transfer (§5.3.2) runs beside them: a replica
/// fetching state still takes part in agreement in its view, or in a view change, and only
/// its execution waits. [`Replica::status`] reports the one that says most about the
/// replica: Recovering, then Transferring, then Normal or ViewChange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Normal operation (PBFT §4.2): the replica orders and executes requests in its view.
    #[default]
    Normal,
    /// A view change (PBFT §4.4): the replica left its old view and waits for the NEW-VIEW
    /// of the current one, accepting only CHECKPOINT, VIEW-CHANGE and NEW-VIEW messages
    /// (and commit certificates) meanwhile.
    ViewChange,
    /// State transfer (PBFT §5.3.2): the replica fetches the state of a stable checkpoint
    /// above its execution, which waits until the state is installed.
    Transferring,
    /// The replica rebuilds its state from durable storage: while [`Replica::recover`]
    /// restores it, and after [`Action::Rollback`], until the shell replaces the core with
    /// a recovered one. It takes no input meanwhile.
    Recovering,
}

impl Status {
    /// A short name for logs, metrics and `rampart status`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Normal => "normal",
            Status::ViewChange => "view-change",
            Status::Transferring => "transferring",
            Status::Recovering => "recovering",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters for refused inputs, by reason.
pub type RejectCounts = BTreeMap<Reject, u64>;

/// One PBFT replica's protocol state.
#[derive(Debug)]
pub struct Replica {
    config: Arc<Config>,
    id: ReplicaId,
    /// Ticks since start.
    now: u64,
    /// The current view; during a view change, the view this replica is changing to.
    view: View,
    /// Normal, ViewChange or Recovering (see [`Status`]); never Transferring, which
    /// [`Replica::status`] derives from `transfer`, since a state transfer runs beside the
    /// view-change protocol rather than instead of it.
    status: Status,
    log: Log,
    /// The primary's next sequence number to assign.
    next_seq: Seq,
    last_executed: Seq,
    /// The execution handed to the shell and not yet reported back.
    executing: Option<Vec<RequestKey>>,
    /// The batch at `last_executed + 1`, executed before it committed (PBFT §5.1.2).
    tentative: Option<normal::Tentative>,
    clients: ClientTable,
    requests: Requests,
    /// PRE-PREPAREs of the current view whose batch is known only by digest.
    missing_batches: batch_fetch::MissingBatches,
    /// Read-only requests waiting for execution to catch up (PBFT §5.1.3).
    reads: reads::Reads,
    /// The timers with which a backup watches the primary.
    monitor: Monitor,
    checkpoints: Checkpoints,
    view_changes: ViewChanges,
    transfer: Option<Transfer>,
    evidence: EvidenceStore,
    rejects: RejectCounts,
    rng: Rng,
    next_status_at: u64,
    /// When each peer's STATUS was last answered (see `status.rs`).
    status_answered: BTreeMap<ReplicaId, u64>,
    /// Per peer: the view and last executed sequence number of its latest STATUS.
    peer_positions: BTreeMap<ReplicaId, (View, Seq)>,
    /// Per peer: the views (the peer's, this replica's, and whether this one is normal)
    /// at the last VIEW-CHANGE or NEW-VIEW relayed to it, and when (see `status.rs`).
    view_help: BTreeMap<ReplicaId, ((View, View, bool), u64)>,
    /// View changes in a row without executing a request; the timeout doubles with each.
    view_changes_in_a_row: u32,
    /// During recovery only: PRE-PREPAREs of the current view's NEW-VIEW whose batch was
    /// not stored with it, and who to ask for it.
    recovered_without_batch: Vec<(
        Signed<crate::message::PrePrepare>,
        Vec<crate::message::ReplicaId>,
    )>,
    /// During recovery only: this replica's own NEW-VIEW for the view it was entering.
    restored_new_view: Option<(
        Signed<crate::message::NewView>,
        Vec<Arc<crate::message::Batch>>,
    )>,
    out: Vec<Action>,
}

impl Replica {
    /// A replica starting from the genesis state.
    pub fn new(config: Arc<Config>, id: ReplicaId, seed: u64) -> Replica {
        assert!(
            (id.0 as usize) < config.replica_count(),
            "replica id {id} outside the cluster"
        );
        let status_interval = config.status_interval_ticks;
        Replica {
            config,
            id,
            now: 0,
            view: View(0),
            status: Status::Normal,
            log: Log::default(),
            next_seq: Seq(1),
            last_executed: Seq(0),
            executing: None,
            tentative: None,
            clients: ClientTable::default(),
            requests: Requests::default(),
            reads: reads::Reads::default(),
            missing_batches: batch_fetch::MissingBatches::default(),
            monitor: Monitor::default(),
            checkpoints: Checkpoints::default(),
            view_changes: ViewChanges::default(),
            transfer: None,
            evidence: EvidenceStore::default(),
            rejects: RejectCounts::new(),
            rng: Rng::new(seed ^ (u64::from(id.0) << 32)),
            // Spread the replicas' STATUS messages over the interval.
            next_status_at: status_interval + u64::from(id.0) % status_interval,
            status_answered: BTreeMap::new(),
            peer_positions: BTreeMap::new(),
            view_help: BTreeMap::new(),
            view_changes_in_a_row: 0,
            restored_new_view: None,
            recovered_without_batch: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Takes one input and returns what the shell must do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        if self.status == Status::Recovering {
            // See `Action::Rollback`: the shell replaces this core before it matters.
            self.count_reject(Reject::Recovering);
            return Vec::new();
        }
        let result = match input {
            Input::Tick => {
                self.on_tick();
                Ok(())
            }
            Input::Message { from, message } => self.on_message(from, message.into_inner()),
            Input::BatchFetched { batch } => self.on_batch_fetched(batch.into_inner()),
            Input::BatchRequested { from, digest } => self.on_batch_requested(from, digest),
            Input::Request(request) if request.value.read_only => {
                self.on_read_only(request.into_inner())
            }
            Input::Request(request) => self.on_request(request.into_inner(), None),
            Input::Executed {
                seq,
                results,
                app_digest,
            } => self.on_executed(seq, results, app_digest),
            Input::StateProgress { seq } => {
                self.on_state_progress(seq);
                Ok(())
            }
            Input::StateFetched {
                seq,
                from,
                app_digest,
                client_table,
            } => self.on_state_fetched(seq, from, app_digest, client_table),
        };
        if let Err(reason) = result {
            self.count_reject(reason);
        }
        self.answer_waiting_reads();
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        std::mem::take(&mut self.out)
    }

    fn on_message(&mut self, from: ReplicaId, message: Message) -> Result<(), Reject> {
        match message {
            Message::Request(request) => self.on_request(request, Some(from)),
            Message::PrePrepare { pre_prepare, batch } => self.on_pre_prepare(pre_prepare, batch),
            Message::Prepare(prepare) => self.on_prepare(prepare),
            Message::Commit(commit) => self.on_commit(commit),
            Message::Checkpoint(checkpoint) => self.on_checkpoint(checkpoint),
            Message::ViewChange {
                view_change,
                batches,
            } => self.on_view_change(view_change, batches),
            Message::NewView { new_view, batches } => self.on_new_view(new_view, batches),
            Message::Status(status) => self.on_status(from, status),
            Message::CommitCertificate(certificate) => self.on_commit_certificate(certificate),
        }
    }

    fn on_tick(&mut self) {
        self.now += 1;
        if self.now >= self.next_status_at {
            self.next_status_at = self.now + self.config.status_interval_ticks;
            self.send_status();
            self.reforward_waiting_requests();
        }
        self.check_primary();
        self.check_view_change_timer();
        self.ask_for_batches();
        self.check_transfer_timer();
        self.propose();
    }

    fn count_reject(&mut self, reason: Reject) {
        *self.rejects.entry(reason).or_default() += 1;
        // Counted, and logged by the node at most once a minute per reason: a faulty peer
        // must not be able to make a replica write a line per message it sends.
        if reason.is_byzantine() {
            tracing::debug!(replica = %self.id, view = %self.view, %reason, "input rejected");
        } else {
            tracing::trace!(replica = %self.id, view = %self.view, %reason, "input dropped");
        }
    }

    // Small helpers shared by the handlers.

    fn emit(&mut self, action: Action) {
        self.out.push(action);
    }

    fn persist(&mut self, op: PersistOp) {
        // Consecutive operations of one input travel as one atomic batch.
        if let Some(Action::Persist(ops)) = self.out.last_mut() {
            ops.push(op);
        } else {
            self.out.push(Action::Persist(vec![op]));
        }
    }

    fn broadcast(&mut self, payload: Payload) {
        self.emit(Action::Broadcast(Outbound::Sign(payload)));
    }

    fn relay(&mut self, to: ReplicaId, message: Message) {
        self.emit(Action::Send {
            to,
            message: Outbound::Relay(message),
        });
    }

    /// Whether the message was signed by this replica (a loopback of its own broadcast).
    fn is_own(&self, author: ReplicaId) -> bool {
        author == self.id
    }

    fn primary(&self) -> ReplicaId {
        self.view.primary(self.config.replica_count())
    }

    fn is_primary(&self) -> bool {
        self.primary() == self.id
    }

    fn quorums(&self) -> Quorums {
        self.config.quorums()
    }

    fn low_watermark(&self) -> Seq {
        self.checkpoints.stable.seq
    }

    fn high_watermark(&self) -> Seq {
        Seq(self.low_watermark().0 + self.config.log_window)
    }

    /// The current view-change timeout: the base, doubled for each view change in a row.
    fn view_change_timeout(&self) -> u64 {
        let doubled = self
            .config
            .view_change_timeout_ticks
            .saturating_mul(1u64 << self.view_changes_in_a_row.min(32));
        doubled.min(self.config.view_change_timeout_max_ticks)
    }

    // Read-only views of the state, for the shell, tests and checkers.

    pub fn id(&self) -> ReplicaId {
        self.id
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// What the replica is doing (see [`Status`]).
    pub fn status(&self) -> Status {
        match self.status {
            Status::Normal | Status::ViewChange if self.transfer.is_some() => Status::Transferring,
            status => status,
        }
    }

    /// Whether the replica takes part in the normal case of its view (PBFT §4.2): false
    /// while changing views or recovering, whether or not a state transfer runs.
    pub fn is_normal(&self) -> bool {
        self.status == Status::Normal
    }

    /// Whether the replica is changing views (PBFT §4.4), whether or not a state transfer
    /// runs.
    fn is_changing_view(&self) -> bool {
        self.status == Status::ViewChange
    }

    pub fn current_primary(&self) -> ReplicaId {
        self.primary()
    }

    /// The last sequence number whose committed batch was executed.
    pub fn last_executed(&self) -> Seq {
        self.last_executed
    }

    /// Whether the application holds the effects of a batch that has not committed yet
    /// (PBFT §5.1.2).
    pub fn has_tentative_execution(&self) -> bool {
        self.tentative.is_some()
    }

    pub fn stable_checkpoint(&self) -> &crate::message::CheckpointCertificate {
        &self.checkpoints.stable
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn client_table(&self) -> &ClientTable {
        &self.clients
    }

    pub fn evidence(&self) -> &EvidenceStore {
        &self.evidence
    }

    pub fn rejects(&self) -> &RejectCounts {
        &self.rejects
    }

    /// View changes started, by cause, and completed.
    pub fn view_change_counts(&self) -> &ViewChangeCounts {
        &self.view_changes.counts
    }

    /// Goes on counting rejects and view changes where `previous` stopped: for a core
    /// rebuilt from the store in place of `previous` (a rollback), so that the counters an
    /// operator watches never go back.
    pub fn inherit_counters(&mut self, previous: &Replica) {
        for (reason, count) in &previous.rejects {
            *self.rejects.entry(*reason).or_default() += count;
        }
        self.view_changes.counts.add(&previous.view_changes.counts);
    }

    /// Whether a state transfer is under way.
    pub fn is_transferring(&self) -> bool {
        self.transfer.is_some()
    }

    /// How many messages the replica holds in memory, by store: what the watermark window
    /// must bound over an unbounded run.
    pub fn memory_footprint(&self) -> MemoryFootprint {
        MemoryFootprint {
            log_slots: self.log.len(),
            checkpoint_messages: self.checkpoints.message_count(),
            view_change_messages: self.view_changes.message_count(),
            waiting_requests: self.requests.waiting_count(),
            waiting_reads: self.reads.len(),
            missing_batches: self.missing_batches.len(),
            cached_replies: self.clients.records().map(|(_, r)| r.replies.len()).sum(),
        }
    }
}

/// Sizes of the replica's in-memory stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryFootprint {
    pub log_slots: usize,
    pub checkpoint_messages: usize,
    pub view_change_messages: usize,
    pub waiting_requests: usize,
    pub waiting_reads: usize,
    pub missing_batches: usize,
    pub cached_replies: usize,
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests;
