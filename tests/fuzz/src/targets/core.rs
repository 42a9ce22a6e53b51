//! The protocol core (`replica/protocol/src/core`): one [`Replica`] fed an arbitrary sequence of
//! validly signed messages, client requests, ticks and shell reports, with
//! [`Replica::check_invariants`] after every input.
//!
//! The harness plays the shell and the rest of the cluster. Like the shell, it signs the
//! replica's broadcasts and hands them back, reports executions (when the input says so,
//! or at once in auto-execute mode), and answers state transfers. As the other replicas
//! and clients, it sends what the input chooses, from small ranges of views, sequence
//! numbers, batches and digests, so that messages meet in the same slots: every signature
//! is valid, so everything reaches the protocol rules.
//!
//! Input: a header byte (which replica, tentative execution, auto-execute), then [`Op`]s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{Digest, Signed};
use rampart_replica::core::{Action, ClientTable, Execution, Input, Outbound, Replica};
use rampart_replica::message::{
    Batch, CheckpointCertificate, Message, PreparedCertificate, ReplicaId, Seq, Verified,
    ViewChange,
};

use crate::fixture::{CLUSTER_ID, Fixture, REPLICA_COUNT, fixture};
use crate::{Choices, Outcome};

/// One step of the input. Every field is a byte taken modulo its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Tick {
        ticks: u8,
    },
    PrePrepare {
        from: u8,
        view: u8,
        seq: u8,
        batch: u8,
        digest: u8,
    },
    Prepare {
        replica: u8,
        view: u8,
        seq: u8,
        digest: u8,
    },
    Commit {
        replica: u8,
        view: u8,
        seq: u8,
        digest: u8,
    },
    Checkpoint {
        replica: u8,
        seq: u8,
        digest: u8,
    },
    ViewChange {
        replica: u8,
        new_view: u8,
        checkpoint: u8,
        prepared: [u8; 3],
    },
    NewView {
        view: u8,
        absent: u8,
        checkpoint: u8,
        prepared: [[u8; 3]; 3],
    },
    Status {
        replica: u8,
        view: u8,
        executed: u8,
    },
    CommitCertificate {
        view: u8,
        seq: u8,
        batch: u8,
    },
    Request {
        client: u8,
        number: u8,
        via: u8,
    },
    Execute,
    Batch {
        from: u8,
        batch: u8,
        fetched: u8,
    },
    State {
        from: u8,
        kind: u8,
    },
}

/// The header bits.
pub const HEADER_TENTATIVE: u8 = 1 << 2;
pub const HEADER_AUTO_EXECUTE: u8 = 1 << 3;

/// The most inputs one step may cause by loopback before the core counts as looping.
const LOOPBACK_MAX: usize = 10_000;

impl Op {
    const KINDS: u8 = 13;

    pub fn read(choices: &mut Choices<'_>) -> Op {
        let mut b = || choices.byte();
        match b() % Op::KINDS {
            0 => Op::Tick { ticks: b() },
            1 => Op::PrePrepare {
                from: b(),
                view: b(),
                seq: b(),
                batch: b(),
                digest: b(),
            },
            2 => Op::Prepare {
                replica: b(),
                view: b(),
                seq: b(),
                digest: b(),
            },
            3 => Op::Commit {
                replica: b(),
                view: b(),
                seq: b(),
                digest: b(),
            },
            4 => Op::Checkpoint {
                replica: b(),
                seq: b(),
                digest: b(),
            },
            5 => Op::ViewChange {
                replica: b(),
                new_view: b(),
                checkpoint: b(),
                prepared: [b(), b(), b()],
            },
            6 => Op::NewView {
                view: b(),
                absent: b(),
                checkpoint: b(),
                prepared: [[b(), b(), b()], [b(), b(), b()], [b(), b(), b()]],
            },
            7 => Op::Status {
                replica: b(),
                view: b(),
                executed: b(),
            },
            8 => Op::CommitCertificate {
                view: b(),
                seq: b(),
                batch: b(),
            },
            9 => Op::Request {
                client: b(),
                number: b(),
                via: b(),
            },
            10 => Op::Execute,
            11 => Op::Batch {
                from: b(),
                batch: b(),
                fetched: b(),
            },
            _ => Op::State {
                from: b(),
                kind: b(),
            },
        }
    }

    /// The bytes [`Op::read`] reads back as this op.
    pub fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Op::Tick { ticks } => out.extend([0, ticks]),
            Op::PrePrepare {
                from,
                view,
                seq,
                batch,
                digest,
            } => {
                out.extend([1, from, view, seq, batch, digest]);
            }
            Op::Prepare {
                replica,
                view,
                seq,
                digest,
            } => out.extend([2, replica, view, seq, digest]),
            Op::Commit {
                replica,
                view,
                seq,
                digest,
            } => out.extend([3, replica, view, seq, digest]),
            Op::Checkpoint {
                replica,
                seq,
                digest,
            } => out.extend([4, replica, seq, digest]),
            Op::ViewChange {
                replica,
                new_view,
                checkpoint,
                prepared,
            } => {
                out.extend([5, replica, new_view, checkpoint]);
                out.extend(prepared);
            }
            Op::NewView {
                view,
                absent,
                checkpoint,
                prepared,
            } => {
                out.extend([6, view, absent, checkpoint]);
                out.extend(prepared.into_iter().flatten());
            }
            Op::Status {
                replica,
                view,
                executed,
            } => out.extend([7, replica, view, executed]),
            Op::CommitCertificate { view, seq, batch } => out.extend([8, view, seq, batch]),
            Op::Request {
                client,
                number,
                via,
            } => out.extend([9, client, number, via]),
            Op::Execute => out.push(10),
            Op::Batch {
                from,
                batch,
                fetched,
            } => out.extend([11, from, batch, fetched]),
            Op::State { from, kind } => out.extend([12, from, kind]),
        }
    }
}

/// Views 0..4, sequence numbers 0..13 (the log window is 8, checkpoints every 4).
fn view(byte: u8) -> u64 {
    u64::from(byte % 4)
}

fn seq(byte: u8) -> u64 {
    u64::from(byte % 13)
}

fn replica(byte: u8) -> u32 {
    u32::from(byte) % REPLICA_COUNT as u32
}

/// The application digest every correct replica reports for the checkpoint at `seq`.
fn app_digest(seq: Seq) -> Digest {
    Digest::of(&seq.0.to_le_bytes())
}

struct Harness {
    f: &'static Fixture,
    replica: Replica,
    id: ReplicaId,
    auto_execute: bool,
    /// The execution the core handed out and awaits the report of.
    execution: Option<Execution>,
    /// The checkpoint states the replica stored, by sequence number.
    stored: BTreeMap<Seq, (Digest, ClientTable)>,
    /// The state transfer the replica asked for.
    fetch: Option<(Seq, Vec<ReplicaId>)>,
    rolled_back: bool,
}

impl Harness {
    fn batch(&self, byte: u8) -> &'static Arc<Batch> {
        let batches = self.f.batches();
        &batches[usize::from(byte) % batches.len()]
    }

    /// A batch digest, another digest, or no digest of any batch.
    fn digest(&self, byte: u8) -> Digest {
        match byte % 6 {
            4 => Digest::default(),
            5 => Digest::of(b"no batch"),
            index => self.batch(index).digest(),
        }
    }

    /// A checkpoint state digest: the one the replica stored (the correct one), or another.
    fn state_digest(&self, seq: u64, byte: u8) -> Digest {
        match self.stored.get(&Seq(seq)) {
            Some((digest, _)) if byte & 1 == 0 => *digest,
            _ => Digest::of(&[byte, 0xcc]),
        }
    }

    /// Choice 0 is the genesis checkpoint; others a quorum-signed one at 4, 8 or 12.
    fn checkpoint_certificate(&self, byte: u8) -> CheckpointCertificate {
        let seq = u64::from(byte % 4) * 4;
        self.f
            .checkpoint_certificate(seq, self.state_digest(seq, byte >> 2))
    }

    /// A prepared certificate if the first byte says so, for a view below `below`.
    fn prepared(
        &self,
        choice: [u8; 3],
        below: u64,
    ) -> Option<(PreparedCertificate, &'static Arc<Batch>)> {
        let [present, view_seq, batch] = choice;
        if present & 1 == 0 || below == 0 {
            return None;
        }
        let view = u64::from(view_seq >> 4) % below;
        let batch = self.batch(batch);
        let certificate = self
            .f
            .prepared_certificate(view, 1 + seq(view_seq) % 12, batch.digest());
        Some((certificate, batch))
    }

    /// A VIEW-CHANGE of `replica` for `new_view`, and the batches of its certificates.
    fn view_change(
        &self,
        replica: u32,
        new_view: u64,
        checkpoint: u8,
        prepared: [u8; 3],
    ) -> (Signed<ViewChange>, Vec<Arc<Batch>>) {
        let (certificates, batches): (Vec<_>, Vec<_>) =
            self.prepared(prepared, new_view).into_iter().unzip();
        let view_change = self.f.view_change(
            replica,
            new_view,
            self.checkpoint_certificate(checkpoint),
            certificates,
        );
        let batches = batches
            .into_iter()
            .filter(|b| !b.is_empty())
            .cloned()
            .collect();
        (view_change, batches)
    }

    fn deliver(&mut self, from: u32, message: Message) {
        self.input(Input::Message {
            from: ReplicaId(from),
            message: Verified::assume_verified(message),
        });
    }

    /// Hands one input to the core and plays the shell for what comes back.
    fn input(&mut self, input: Input) {
        let mut inputs = VecDeque::from([input]);
        let mut handled = 0;
        while let Some(input) = inputs.pop_front() {
            if self.rolled_back {
                return;
            }
            handled += 1;
            assert!(
                handled <= LOOPBACK_MAX,
                "{}: the core keeps answering itself",
                self.id
            );
            let actions = self.replica.handle(input);
            self.replica.check_invariants();
            for action in actions {
                self.act(action, &mut inputs);
            }
            if self.auto_execute
                && inputs.is_empty()
                && let Some(executed) = self.executed()
            {
                inputs.push_back(executed);
            }
        }
    }

    fn act(&mut self, action: Action, inputs: &mut VecDeque<Input>) {
        match action {
            Action::Broadcast(Outbound::Sign(payload)) => {
                let signer = &self.f.replicas[self.id.0 as usize];
                let message = payload
                    .sign(CLUSTER_ID, signer)
                    .expect("our own payloads sign");
                inputs.push_back(Input::Message {
                    from: self.id,
                    message: Verified::assume_verified(message),
                });
            }
            Action::Execute(execution) => {
                assert!(
                    !execution.checkpoint || !execution.tentative,
                    "{}: a tentative execution at a checkpoint",
                    self.id
                );
                self.execution = Some(execution);
            }
            Action::StoreCheckpoint {
                seq,
                state_digest,
                client_table,
            } => {
                self.stored.insert(seq, (state_digest, client_table));
            }
            Action::FetchState { seq, from, .. } => {
                assert!(
                    !from.contains(&self.id),
                    "{}: fetching state from itself",
                    self.id
                );
                self.fetch = Some((seq, from));
            }
            Action::InstallState { seq, .. } => {
                assert_eq!(
                    self.fetch.as_ref().map(|(s, _)| *s),
                    Some(seq),
                    "an unasked state"
                );
                self.fetch = None;
                self.execution = None;
            }
            Action::Rollback => self.rolled_back = true,
            Action::Send { to, .. } => assert_ne!(to, self.id, "a replica sends to itself"),
            Action::FetchBatch { from, .. } => assert_ne!(from, self.id, "fetching from itself"),
            Action::Broadcast(Outbound::Relay(_))
            | Action::Persist(_)
            | Action::Reply(_)
            | Action::Query { .. }
            | Action::Refuse { .. }
            | Action::Committed { .. }
            | Action::SendBatch { .. } => {}
        }
    }

    /// The report of the execution under way: one result per request, and at a checkpoint
    /// the application digest every correct replica has there.
    fn executed(&mut self) -> Option<Input> {
        let execution = self.execution.take()?;
        Some(Input::Executed {
            seq: execution.seq,
            results: execution
                .requests
                .iter()
                .map(|r| Bytes::from(format!("done {}", r.value.number)))
                .collect(),
            app_digest: execution.checkpoint.then(|| app_digest(execution.seq)),
        })
    }

    fn step(&mut self, op: Op) {
        let f = self.f;
        match op {
            Op::Tick { ticks } => {
                for _ in 0..=ticks % 8 {
                    self.input(Input::Tick);
                }
            }
            Op::PrePrepare {
                from,
                view: v,
                seq: s,
                batch,
                digest,
            } => {
                let batch = self.batch(batch).clone();
                let digest = if digest & 0x80 == 0 {
                    batch.digest()
                } else {
                    self.digest(digest)
                };
                let pre_prepare = f.pre_prepare(view(v), seq(s), digest);
                self.deliver(replica(from), Message::PrePrepare { pre_prepare, batch });
            }
            Op::Prepare {
                replica: r,
                view: v,
                seq: s,
                digest,
            } => {
                let prepare = f.prepare(replica(r), view(v), seq(s), self.digest(digest));
                self.deliver(replica(r), Message::Prepare(prepare));
            }
            Op::Commit {
                replica: r,
                view: v,
                seq: s,
                digest,
            } => {
                let commit = f.commit(replica(r), view(v), seq(s), self.digest(digest));
                self.deliver(replica(r), Message::Commit(commit));
            }
            Op::Checkpoint {
                replica: r,
                seq: s,
                digest,
            } => {
                let seq = u64::from(s % 4) * 4;
                let checkpoint = f.checkpoint(replica(r), seq, self.state_digest(seq, digest));
                self.deliver(replica(r), Message::Checkpoint(checkpoint));
            }
            Op::ViewChange {
                replica: r,
                new_view,
                checkpoint,
                prepared,
            } => {
                let (view_change, batches) =
                    self.view_change(replica(r), view(new_view), checkpoint, prepared);
                self.deliver(
                    replica(r),
                    Message::ViewChange {
                        view_change,
                        batches,
                    },
                );
            }
            Op::NewView {
                view: v,
                absent,
                checkpoint,
                prepared,
            } => {
                let new_view = view(v).max(1);
                let absent = replica(absent);
                let view_changes = (0..REPLICA_COUNT as u32)
                    .filter(|&r| r != absent)
                    .zip(prepared)
                    .map(|(r, choice)| self.view_change(r, new_view, checkpoint, choice).0)
                    .collect();
                let message = f.new_view(new_view, view_changes);
                self.deliver(f.primary(new_view), message);
            }
            Op::Status {
                replica: r,
                view: v,
                executed,
            } => {
                let status = f.status(replica(r), view(v), executed & 0x80 == 0, seq(executed));
                self.deliver(replica(r), Message::Status(status));
            }
            Op::CommitCertificate {
                view: v,
                seq: s,
                batch,
            } => {
                let certificate = f.commit_certificate(view(v), seq(s), self.batch(batch));
                self.deliver(replica(v >> 2), Message::CommitCertificate(certificate));
            }
            Op::Request {
                client,
                number,
                via,
            } => {
                let read_only = number & 0x80 != 0;
                let request = f.request(usize::from(client), 1 + u64::from(number % 4), read_only);
                match via % 5 {
                    0 => self.input(Input::Request(Verified::assume_verified(request))),
                    relay => self.deliver(u32::from(relay - 1), Message::Request(request)),
                }
            }
            Op::Execute => {
                if let Some(executed) = self.executed() {
                    self.input(executed);
                }
            }
            Op::Batch {
                from,
                batch,
                fetched,
            } => {
                if fetched & 1 == 0 {
                    let batch = self.batch(batch).clone();
                    self.input(Input::BatchFetched {
                        batch: Verified::assume_verified(batch),
                    });
                } else {
                    let digest = self.digest(batch);
                    self.input(Input::BatchRequested {
                        from: ReplicaId(replica(from)),
                        digest,
                    });
                }
            }
            Op::State { from, kind } => {
                let Some((seq, sources)) = self.fetch.clone() else {
                    return;
                };
                if kind & 1 == 0 {
                    self.input(Input::StateProgress { seq });
                    return;
                }
                let from = sources
                    .get(usize::from(from) % sources.len().max(1))
                    .copied()
                    .unwrap_or(ReplicaId(replica(from)));
                // The state the replica itself stored at `seq`, if any, or a made-up one.
                let (app_digest, client_table) = match self.stored.get(&seq) {
                    Some((_, table)) if kind & 2 == 0 => (app_digest(seq), table.clone()),
                    _ => (Digest::of(&[kind]), ClientTable::default()),
                };
                self.input(Input::StateFetched {
                    seq,
                    from,
                    app_digest,
                    client_table,
                });
            }
        }
    }
}

pub fn run(data: &[u8]) -> Outcome {
    play(data);
    Outcome::Accepted
}

/// Where an input took the replica: for tests that check the seeds go deep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    pub view: u64,
    pub normal: bool,
    pub last_executed: u64,
    pub stable_seq: u64,
    /// Rejected inputs, by reason.
    pub rejects: Vec<String>,
}

pub fn reached(data: &[u8]) -> Reached {
    let replica = play(data).replica;
    Reached {
        view: replica.view().0,
        normal: replica.is_normal(),
        last_executed: replica.last_executed().0,
        stable_seq: replica.stable_checkpoint().seq.0,
        rejects: replica
            .rejects()
            .iter()
            .map(|(reason, count)| format!("{reason:?} x{count}"))
            .collect(),
    }
}

fn play(data: &[u8]) -> Harness {
    let f = fixture();
    let mut choices = Choices::new(data);
    let header = choices.byte();
    let id = ReplicaId(replica(header));
    let config = f.configs[usize::from(header & HEADER_TENTATIVE != 0)].clone();
    let mut harness = Harness {
        f,
        replica: Replica::new(config, id, u64::from(header)),
        id,
        auto_execute: header & HEADER_AUTO_EXECUTE != 0,
        execution: None,
        stored: BTreeMap::new(),
        fetch: None,
        rolled_back: false,
    };
    harness.replica.check_invariants();
    while !choices.is_empty() && !harness.rolled_back {
        let op = Op::read(&mut choices);
        harness.step(op);
    }
    harness
}
