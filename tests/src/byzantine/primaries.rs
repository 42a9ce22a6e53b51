//! Byzantine primaries that do their job badly rather than loudly: one that censors a
//! client, one that orders nothing but empty batches, and one that orders everything late.
//! None of them sends anything a correct replica could refuse on its face.

use std::collections::VecDeque;

use rampart_replica::message::{
    Batch, ClientId, Message, PrePrepare, ReplicaId, Request, Seq, View,
};

use super::{Behaviour, Context};

/// Ignores every request of one client (the first client it hears from), as primary and
/// as backup, and orders everything else: PBFT §4.5.2's request timer must catch it.
#[derive(Debug, Default)]
pub struct Censor {
    victim: Option<ClientId>,
}

impl Behaviour for Censor {
    fn name(&self) -> &'static str {
        "censor"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, message: Message) -> Vec<Message> {
        vec![message]
    }

    fn censors(&mut self, request: &Request) -> bool {
        *self.victim.get_or_insert(request.client) == request.client
    }
}

/// What a behaviour learns of its own replica's position from what the replica sends.
#[derive(Clone, Copy, Debug, Default)]
struct Position {
    view: View,
    normal: bool,
    stable: Seq,
    /// The highest sequence number seen in any agreement message.
    highest: Seq,
}

impl Position {
    /// Learns from a message: the view and stable checkpoint only from the replica's own
    /// STATUS (`own`), sequence numbers from any agreement message.
    fn learn(&mut self, message: &Message, own: bool) {
        match message {
            Message::Status(status) if own => {
                self.view = self.view.max(status.value.view);
                self.normal = status.value.normal;
                self.stable = self.stable.max(status.value.stable_seq);
            }
            Message::PrePrepare { pre_prepare, .. } => {
                self.highest = self.highest.max(pre_prepare.value.seq);
            }
            Message::Prepare(prepare) => self.highest = self.highest.max(prepare.value.seq),
            Message::Commit(commit) => self.highest = self.highest.max(commit.value.seq),
            _ => {}
        }
    }
}

/// Ignores every client request and, as primary, keeps the sequence numbers moving with
/// null batches, one every few ticks: the cluster executes all the time and orders
/// nothing. A request timer that restarted on any execution would never expire.
#[derive(Debug, Default)]
pub struct EmptyBatches {
    position: Position,
    next: Seq,
}

/// How often an empty-batch primary sends a null batch, and how far ahead of the stable
/// checkpoint it goes (within any log window the tests use).
const EMPTY_BATCH_INTERVAL_TICKS: u64 = 3;
const EMPTY_BATCHES_AHEAD_MAX: u64 = 8;

impl Behaviour for EmptyBatches {
    fn name(&self) -> &'static str {
        "empty-batches"
    }

    fn outbound(&mut self, _: &mut Context<'_>, _: ReplicaId, message: Message) -> Vec<Message> {
        self.position.learn(&message, true);
        vec![message]
    }

    fn observe(&mut self, message: &Message) {
        self.position.learn(message, false);
    }

    fn censors(&mut self, _request: &Request) -> bool {
        true
    }

    fn on_tick(&mut self, context: &mut Context<'_>) -> Vec<(ReplicaId, Message)> {
        let position = self.position;
        let primary = position.view.primary(context.replica_count) == context.me;
        if !primary || !position.normal || !context.now.is_multiple_of(EMPTY_BATCH_INTERVAL_TICKS) {
            return Vec::new();
        }
        let seq = self
            .next
            .max(position.highest.next())
            .max(position.stable.next());
        if seq.0 > position.stable.0 + EMPTY_BATCHES_AHEAD_MAX {
            return Vec::new();
        }
        self.next = seq.next();
        let batch = Batch::null();
        let pre_prepare = context.sign(PrePrepare {
            view: position.view,
            seq,
            digest: batch.digest(),
        });
        let message = Message::PrePrepare { pre_prepare, batch };
        (0..context.replica_count as u32)
            .map(ReplicaId)
            .filter(|&to| to != context.me)
            .map(|to| (to, message.clone()))
            .collect()
    }
}

/// Holds every PRE-PREPARE (and NEW-VIEW) it sends for `delay_ticks` before letting it
/// go: everything is ordered, each batch just before a timer would expire.
#[derive(Debug)]
pub struct SlowPrimary {
    pub delay_ticks: u64,
    held: VecDeque<(u64, ReplicaId, Message)>,
}

impl SlowPrimary {
    pub fn new(delay_ticks: u64) -> SlowPrimary {
        SlowPrimary {
            delay_ticks,
            held: VecDeque::new(),
        }
    }
}

/// Just under the simulator's default view-change timeout (80 ticks).
pub const SLOW_PRIMARY_DELAY_TICKS: u64 = 75;

impl Default for SlowPrimary {
    fn default() -> SlowPrimary {
        SlowPrimary::new(SLOW_PRIMARY_DELAY_TICKS)
    }
}

impl Behaviour for SlowPrimary {
    fn name(&self) -> &'static str {
        "slow-primary"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        match message {
            Message::PrePrepare { .. } | Message::NewView { .. } => {
                self.held
                    .push_back((context.now + self.delay_ticks, to, message));
                Vec::new()
            }
            other => vec![other],
        }
    }

    fn on_tick(&mut self, context: &mut Context<'_>) -> Vec<(ReplicaId, Message)> {
        let mut due = Vec::new();
        while self
            .held
            .front()
            .is_some_and(|(release_at, _, _)| *release_at <= context.now)
        {
            if let Some((_, to, message)) = self.held.pop_front() {
                due.push((to, message));
            }
        }
        due
    }
}
