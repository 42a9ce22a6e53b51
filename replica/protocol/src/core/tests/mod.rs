//! Step tests for the protocol core: one replica, inputs fed by hand, the actions it
//! returns checked one by one. Table-driven where a rule has many cases. No sockets, no
//! files: signatures are real, but made in memory.

use std::sync::Arc;

use bytes::Bytes;
use rampart_crypto::{ClusterId, Digest, KeyPair, Signable, Signed};

use super::checkpoint::CHECKPOINTS_PER_REPLICA_MAX;
use super::*;
use crate::cluster::{ClientAdmission, Cluster};
use crate::message::{
    Batch, Checkpoint, ClientId, Commit, Message, NewView, Payload, PrePrepare, Prepare, ReplicaId,
    Reply, Request, Seq, Status, Verified, View, ViewChange,
};

const CLUSTER: ClusterId = ClusterId(77);

struct Harness {
    keys: Vec<KeyPair>,
    client: KeyPair,
    config: Arc<Config>,
}

impl Harness {
    /// Most step tests check the committed path, so tentative execution is off unless a
    /// test asks for it ([`Harness::tentative`]).
    fn new(n: usize) -> Harness {
        let keys: Vec<KeyPair> = (0..n as u64).map(KeyPair::from_seed).collect();
        let cluster = Cluster::new(CLUSTER, keys.iter().map(|k| k.public_key()).collect())
            .expect("valid cluster");
        let config = Config {
            checkpoint_interval: 4,
            log_window: 8,
            batch_size_max: 4,
            view_change_timeout_ticks: 10,
            status_interval_ticks: 1_000,
            tentative_execution: false,
            clients: ClientAdmission::Open,
            ..Config::new(cluster)
        };
        Harness {
            keys,
            client: KeyPair::from_seed(1_000),
            config: Arc::new(config),
        }
    }

    /// With tentative execution (PBFT §5.1.2).
    fn tentative(n: usize) -> Harness {
        let mut h = Harness::new(n);
        Arc::make_mut(&mut h.config).tentative_execution = true;
        h
    }

    fn replica(&self, id: u32) -> Replica {
        Replica::new(self.config.clone(), ReplicaId(id), 0)
    }

    fn sign<T: Signable>(&self, signer: u32, value: T) -> Signed<T> {
        Signed::sign(CLUSTER, value, &self.keys[signer as usize]).expect("signs")
    }

    fn request(&self, number: u64) -> Signed<Request> {
        let request = Request {
            client: ClientId(self.client.public_key()),
            number,
            operation: Bytes::from(format!("op {number}")),
            read_only: false,
        };
        Signed::sign(CLUSTER, request, &self.client).expect("signs")
    }

    fn batch(&self, numbers: &[u64]) -> Arc<Batch> {
        Arc::new(Batch::new(
            numbers.iter().map(|&n| self.request(n)).collect(),
        ))
    }

    fn pre_prepare(&self, view: u64, seq: u64, batch: &Arc<Batch>) -> Message {
        let primary = View(view).primary(self.keys.len()).0;
        Message::PrePrepare {
            pre_prepare: self.sign(
                primary,
                PrePrepare {
                    view: View(view),
                    seq: Seq(seq),
                    digest: batch.digest(),
                },
            ),
            batch: batch.clone(),
        }
    }

    fn prepare(&self, from: u32, view: u64, seq: u64, digest: Digest) -> Message {
        Message::Prepare(self.sign(
            from,
            Prepare {
                view: View(view),
                seq: Seq(seq),
                digest,
                replica: ReplicaId(from),
            },
        ))
    }

    fn commit(&self, from: u32, view: u64, seq: u64, digest: Digest) -> Message {
        Message::Commit(self.sign(
            from,
            Commit {
                view: View(view),
                seq: Seq(seq),
                digest,
                replica: ReplicaId(from),
            },
        ))
    }

    fn checkpoint(&self, from: u32, seq: u64, digest: Digest) -> Message {
        Message::Checkpoint(self.sign(
            from,
            Checkpoint {
                seq: Seq(seq),
                state_digest: digest,
                replica: ReplicaId(from),
            },
        ))
    }
}

fn deliver(replica: &mut Replica, from: u32, message: Message) -> Vec<Action> {
    replica.handle(Input::Message {
        from: ReplicaId(from),
        message: Verified::assume_verified(message),
    })
}

/// Signs every payload the replica broadcast and hands it back, as the shell does.
fn loop_back(replica: &mut Replica, keys: &[KeyPair], actions: &[Action]) -> Vec<Action> {
    let id = replica.id();
    let mut more = Vec::new();
    for action in actions {
        if let Action::Broadcast(Outbound::Sign(payload)) = action {
            let message = payload
                .clone()
                .sign(CLUSTER, &keys[id.0 as usize])
                .expect("signs");
            more.extend(deliver(replica, id.0, message));
        }
    }
    more
}

fn broadcasts(actions: &[Action]) -> Vec<&Payload> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Broadcast(Outbound::Sign(payload)) => Some(payload),
            _ => None,
        })
        .collect()
}

fn executions(actions: &[Action]) -> Vec<&Execution> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Execute(execution) => Some(execution),
            _ => None,
        })
        .collect()
}

fn rejected(replica: &Replica, reason: Reject) -> u64 {
    replica.rejects().get(&reason).copied().unwrap_or(0)
}

/// Drives one replica through PRE-PREPARE, PREPARE and COMMIT for `seq`.
/// Backup 1 gets the PRE-PREPARE and two PREPAREs for `seq` in view 0: it has prepared.
fn prepare_slot(h: &Harness, replica: &mut Replica, seq: u64, batch: &Arc<Batch>) -> Vec<Action> {
    let digest = batch.digest();
    let mut all = Vec::new();
    let actions = deliver(replica, 0, h.pre_prepare(0, seq, batch));
    all.extend(loop_back(replica, &h.keys, &actions));
    all.extend(actions);
    for from in [2, 3] {
        let actions = deliver(replica, from, h.prepare(from, 0, seq, digest));
        all.extend(loop_back(replica, &h.keys, &actions));
        all.extend(actions);
    }
    all
}

fn commit_slot(h: &Harness, replica: &mut Replica, seq: u64, batch: &Arc<Batch>) -> Vec<Action> {
    let mut all = prepare_slot(h, replica, seq, batch);
    for from in [0, 2] {
        all.extend(deliver(
            replica,
            from,
            h.commit(from, 0, seq, batch.digest()),
        ));
    }
    all
}

fn view_change_message(h: &Harness, from: u32, view: u64) -> Message {
    let view_change = ViewChange {
        new_view: View(view),
        replica: ReplicaId(from),
        checkpoint: crate::message::CheckpointCertificate::genesis(),
        prepared: Vec::new(),
    };
    Message::ViewChange {
        view_change: h.sign(from, view_change),
        batches: Vec::new(),
    }
}

/// What the shell makes durable of `actions` by replica `id`.
fn persist_into(persisted: &mut PersistedState, h: &Harness, id: u32, actions: &[Action]) {
    let n = h.keys.len();
    for action in actions {
        match action {
            Action::Persist(ops) => ops.iter().for_each(|op| persisted.apply(op, n)),
            Action::Broadcast(Outbound::Sign(payload)) => {
                let message = payload
                    .clone()
                    .sign(CLUSTER, &h.keys[id as usize])
                    .expect("signs");
                persisted.insert_message(&message, n);
            }
            _ => {}
        }
    }
}

/// The VIEW-CHANGEs a replica relays to `to`, as (author, view).
fn relayed_view_changes(actions: &[Action], to: u32) -> Vec<(ReplicaId, View)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send {
                to: target,
                message: Outbound::Relay(Message::ViewChange { view_change, .. }),
            } if *target == ReplicaId(to) => {
                Some((view_change.value.replica, view_change.value.new_view))
            }
            _ => None,
        })
        .collect()
}

/// Replicas 0 and 2 COMMIT `seq` in view 0; with the replica's own COMMIT, a quorum.
fn peers_commit(h: &Harness, replica: &mut Replica, seq: u64, digest: Digest) -> Vec<Action> {
    let mut actions = Vec::new();
    for from in [0, 2] {
        actions.extend(deliver(replica, from, h.commit(from, 0, seq, digest)));
    }
    let own = loop_back(replica, &h.keys, &actions);
    actions.extend(own);
    actions
}

fn report(replica: &mut Replica, seq: u64, results: &[&'static [u8]]) -> Vec<Action> {
    replica.handle(Input::Executed {
        seq: Seq(seq),
        results: results.iter().map(|r| Bytes::from_static(r)).collect(),
        app_digest: None,
    })
}

mod batch_fetch;
mod checkpoints;
mod cluster_position;
mod monitor;
mod normal;
mod reads;
mod recovery;
mod replier;
mod requests;
mod status;
mod storage_bounds;
mod tentative;
mod view_change;
