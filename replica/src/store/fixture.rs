//! Test fixtures: a four-replica cluster's keys, real signed messages, and seeded random
//! sequences of persist operations.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use rampart_crypto::{ClusterId, Digest, KeyPair, Signed};

use crate::core::{ClientTable, Evidence, PersistOp, Rng};
use crate::message::{
    Batch, Checkpoint, CheckpointCertificate, ClientId, Commit, CommitCertificate, Message,
    Payload, PrePrepare, Prepare, PreparedCertificate, ReplicaId, Request, RequestKey, Seq, Status,
    View, ViewChange,
};

use super::{Store, StoreIdentity, StoreOptions};

pub const CLUSTER: ClusterId = ClusterId(7);
pub const REPLICA_COUNT: usize = 4;

pub fn key(replica: u32) -> KeyPair {
    KeyPair::from_seed(u64::from(replica))
}

pub fn identity(replica: u32) -> StoreIdentity {
    StoreIdentity {
        cluster: CLUSTER,
        replica: ReplicaId(replica),
        key: key(replica).public_key(),
    }
}

pub fn open(path: &Path, options: StoreOptions) -> Store {
    Store::open(path, &identity(0), options, REPLICA_COUNT).expect("store opens")
}

pub fn unsynced() -> StoreOptions {
    StoreOptions {
        sync: false,
        ..StoreOptions::default()
    }
}

/// The number of records in a column family.
pub fn count(store: &Store, cf: &'static str) -> usize {
    store.raw_entries(cf).len()
}

/// The number of records in every column family but `meta`.
pub fn record_count(store: &Store) -> usize {
    super::layout::COLUMN_FAMILIES
        .iter()
        .filter(|cf| **cf != super::layout::META)
        .map(|cf| count(store, cf))
        .sum()
}

/// Pseudo-random bytes, so that a misplaced chunk shows.
pub fn snapshot_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A reply cache with one entry, different for each sequence number.
pub fn client_table(seq: Seq) -> ClientTable {
    let mut table = ClientTable::default();
    let client = ClientId(KeyPair::from_seed(100).public_key());
    let key = RequestKey {
        client,
        number: seq.0,
    };
    table.record(key, seq, Bytes::from_static(b"ok"), 4);
    table
}

pub fn digest(n: u64) -> Digest {
    Digest::of(&n.to_le_bytes())
}

fn sign(payload: Payload, signer: u32) -> Message {
    payload.sign(CLUSTER, &key(signer)).expect("signs")
}

pub fn batch(requests: u64, operation_bytes: usize) -> Arc<Batch> {
    let client = KeyPair::from_seed(100);
    let requests = (0..requests)
        .map(|number| {
            let request = Request {
                client: ClientId(client.public_key()),
                number,
                operation: Bytes::from(vec![number as u8; operation_bytes]),
                read_only: false,
            };
            Signed::sign(CLUSTER, request, &client).expect("signs")
        })
        .collect();
    Arc::new(Batch::new(requests))
}

pub fn pre_prepare(view: View, seq: Seq, batch: Arc<Batch>) -> Message {
    let primary = view.primary(REPLICA_COUNT).0;
    let pre_prepare = PrePrepare {
        view,
        seq,
        digest: batch.digest(),
    };
    sign(Payload::PrePrepare { pre_prepare, batch }, primary)
}

pub fn prepare(view: View, seq: Seq, digest: Digest, replica: u32) -> Message {
    let replica_id = ReplicaId(replica);
    let prepare = Prepare {
        view,
        seq,
        digest,
        replica: replica_id,
    };
    sign(Payload::Prepare(prepare), replica)
}

pub fn commit(view: View, seq: Seq, digest: Digest, replica: u32) -> Message {
    let commit = Commit {
        view,
        seq,
        digest,
        replica: ReplicaId(replica),
    };
    sign(Payload::Commit(commit), replica)
}

pub fn checkpoint(seq: Seq, state_digest: Digest, replica: u32) -> Message {
    let checkpoint = Checkpoint {
        seq,
        state_digest,
        replica: ReplicaId(replica),
    };
    sign(Payload::Checkpoint(checkpoint), replica)
}

pub fn status(replica: u32) -> Message {
    let status = Status {
        replica: ReplicaId(replica),
        view: View(0),
        normal: true,
        last_executed: Seq(0),
        stable_seq: Seq(0),
    };
    sign(Payload::Status(status), replica)
}

pub fn view_change(new_view: View, replica: u32, prepared: Vec<PreparedCertificate>) -> Message {
    let view_change = ViewChange {
        new_view,
        replica: ReplicaId(replica),
        checkpoint: CheckpointCertificate::genesis(),
        prepared,
    };
    sign(
        Payload::ViewChange {
            view_change,
            batches: vec![batch(1, 8)],
        },
        replica,
    )
}

pub fn new_view(view: View, seq: Seq) -> Message {
    let pre_prepares = vec![PrePrepare {
        view,
        seq,
        digest: Batch::null().digest(),
    }];
    let payload = Payload::NewView {
        view,
        view_changes: Vec::new(),
        pre_prepares,
        batches: Vec::new(),
    };
    sign(payload, view.primary(REPLICA_COUNT).0)
}

pub fn prepared_certificate(view: View, seq: Seq, batch: &Arc<Batch>) -> PreparedCertificate {
    let Message::PrePrepare { pre_prepare, .. } = pre_prepare(view, seq, batch.clone()) else {
        unreachable!("pre_prepare builds a PRE-PREPARE");
    };
    let prepares = (1..3)
        .map(|replica| {
            let primary = view.primary(REPLICA_COUNT).0;
            let backup = (primary + replica) % REPLICA_COUNT as u32;
            match prepare(view, seq, batch.digest(), backup) {
                Message::Prepare(signed) => signed,
                _ => unreachable!("prepare builds a PREPARE"),
            }
        })
        .collect();
    PreparedCertificate {
        pre_prepare,
        prepares,
    }
}

/// A commit certificate: three matching COMMITs and the batch.
pub fn commit_certificate(view: View, seq: Seq, batch: &Arc<Batch>) -> CommitCertificate {
    let commits = (0..3)
        .map(|replica| match commit(view, seq, batch.digest(), replica) {
            Message::Commit(signed) => signed,
            _ => unreachable!("commit builds a COMMIT"),
        })
        .collect();
    CommitCertificate {
        commits,
        batch: batch.clone(),
    }
}

pub fn stable_certificate(seq: Seq) -> CheckpointCertificate {
    let proof = (0..3)
        .map(|replica| match checkpoint(seq, digest(seq.0), replica) {
            Message::Checkpoint(signed) => signed,
            _ => unreachable!("checkpoint builds a CHECKPOINT"),
        })
        .collect();
    CheckpointCertificate {
        seq,
        state_digest: digest(seq.0),
        proof,
    }
}

/// Evidence that `culprit` sent two PREPAREs for one slot; `variant` picks the second
/// digest, so different variants are different evidence.
pub fn evidence(culprit: u32, variant: u64) -> Evidence {
    let prepare_of = |d| match prepare(View(0), Seq(1), digest(d), culprit) {
        Message::Prepare(signed) => signed,
        _ => unreachable!("prepare builds a PREPARE"),
    };
    Evidence::Prepare {
        first: prepare_of(0),
        second: prepare_of(1000 + variant),
    }
}

/// One core input's worth of storage work.
#[derive(Clone, Debug)]
pub struct Input {
    pub ops: Vec<PersistOp>,
    pub own: Vec<Message>,
}

/// Seeded random inputs covering every operation, with plenty of collisions: messages
/// for keys already stored, prepared certificates of lower views, stable checkpoints that
/// go backwards, repeated evidence, and pruning.
#[derive(Debug)]
pub struct RandomInputs {
    rng: Rng,
    view: u64,
    stable: u64,
}

impl RandomInputs {
    pub fn new(seed: u64) -> RandomInputs {
        RandomInputs {
            rng: Rng::new(seed),
            view: 0,
            stable: 0,
        }
    }

    fn pick(&mut self, bound: u64) -> u64 {
        self.rng.below(bound)
    }

    /// A view near the current one.
    fn view(&mut self) -> View {
        View((self.view + self.pick(2)).saturating_sub(self.pick(2)))
    }

    /// A sequence number near the low watermark (some below it).
    fn seq(&mut self) -> Seq {
        Seq((self.stable + 1 + self.pick(12)).saturating_sub(3))
    }

    fn message(&mut self) -> Message {
        let (view, seq) = (self.view(), self.seq());
        let replica = self.pick(REPLICA_COUNT as u64) as u32;
        // Few distinct digests, so that one key often meets different contents.
        let digest = digest(self.pick(3));
        match self.pick(7) {
            0 => pre_prepare(view, seq, batch(self.pick(3), 16)),
            1 => prepare(view, seq, digest, replica),
            2 => commit(view, seq, digest, replica),
            3 => checkpoint(seq, digest, replica),
            4 => view_change(view, replica, Vec::new()),
            5 => new_view(view, seq),
            _ => status(replica),
        }
    }

    fn op(&mut self) -> PersistOp {
        match self.pick(10) {
            0 => {
                if self.rng.chance(1, 3) {
                    self.view += 1;
                }
                PersistOp::ViewState {
                    view: View(self.view),
                    normal: self.rng.chance(1, 2),
                }
            }
            1..=3 => PersistOp::Message(self.message()),
            4 => {
                let (view, seq) = (self.view(), self.seq());
                let batch = batch(self.pick(3), 16);
                PersistOp::Prepared {
                    certificate: prepared_certificate(view, seq, &batch),
                    batch,
                }
            }
            5 => {
                let (view, seq) = (self.view(), self.seq());
                PersistOp::Decided(commit_certificate(view, seq, &batch(self.pick(3), 16)))
            }
            6 => {
                let seq = (self.stable + self.pick(6)).saturating_sub(2);
                if seq > self.stable {
                    self.stable = seq;
                }
                PersistOp::StableCheckpoint(stable_certificate(Seq(seq)))
            }
            7 => {
                let culprit = self.pick(REPLICA_COUNT as u64) as u32;
                PersistOp::Evidence(evidence(culprit, self.pick(7)))
            }
            8 => PersistOp::PruneBelow {
                seq: Seq(self.stable),
            },
            _ => PersistOp::PruneViewsBelow {
                view: View(self.view.saturating_sub(1)),
            },
        }
    }

    pub fn input(&mut self) -> Input {
        let ops = (0..1 + self.pick(5)).map(|_| self.op()).collect();
        let own = (0..self.pick(3)).map(|_| self.message()).collect();
        Input { ops, own }
    }
}
