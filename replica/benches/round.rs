//! The protocol core's own cost for one batch: a backup of a four-replica cluster taking a
//! PRE-PREPARE, the PREPAREs, the COMMITs and the execution report (PBFT §4.2), as
//! `Replica::handle` calls only.
//!
//! Every message is signed before the timed part, and no signature is checked: the shell
//! verifies before the core sees a message. What is timed is the core's bookkeeping, the
//! batch digest it checks (a batch decoded from the wire has none cached), and the actions
//! it returns. Run with `cargo bench -p rampart-replica --bench round`; the throughput is
//! in requests, so the report reads as the core's cost per request.

mod fixture;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_crypto::Signed;
use rampart_replica::cluster::ClientAdmission;
use rampart_replica::core::{Action, Config, Input, Replica};
use rampart_replica::message::{
    Batch, Commit, Message, PrePrepare, Prepare, ReplicaId, Request, Seq, Verified, View,
};

use fixture::Fixture;

const BATCH_SIZES: [usize; 2] = [16, 128];

/// The backup under test; replica 0 is the primary of view 0.
const BACKUP: u32 = 1;

/// Everything one backup receives for sequence number 1, in the order it arrives: the
/// PRE-PREPARE, the PREPAREs (its own looped back first, as the shell hands it back right
/// after sending), its own COMMIT and the other replicas' COMMITs, then the execution
/// report. Only the batch is built per round, so its digest is not cached.
struct Round {
    config: Arc<Config>,
    requests: Vec<Signed<Request>>,
    pre_prepare: Signed<PrePrepare>,
    /// (sender, message) after the PRE-PREPARE.
    votes: Vec<(u32, Message)>,
}

impl Round {
    fn new(size: usize) -> Round {
        let fixture = Fixture::new(4);
        let mut config = Config::new(fixture.cluster.clone());
        config.clients = ClientAdmission::Open;
        config.batch_size_max = config.batch_size_max.max(size);
        let requests = fixture::requests(0, size);
        let digest = Batch::new(requests.clone()).digest();
        let (view, seq) = (View(0), Seq(1));
        let pre_prepare = fixture.sign(0, PrePrepare { view, seq, digest });
        let prepare = |r: u32| {
            let value = Prepare {
                view,
                seq,
                digest,
                replica: ReplicaId(r),
            };
            (r, Message::Prepare(fixture.sign(r, value)))
        };
        let commit = |r: u32| {
            let value = Commit {
                view,
                seq,
                digest,
                replica: ReplicaId(r),
            };
            (r, Message::Commit(fixture.sign(r, value)))
        };
        let votes = vec![
            prepare(BACKUP),
            prepare(2),
            prepare(3),
            commit(BACKUP),
            commit(0),
            commit(2),
            commit(3),
        ];
        Round {
            config: Arc::new(config),
            requests,
            pre_prepare,
            votes,
        }
    }

    /// A fresh backup and its inputs, in order.
    fn inputs(&self) -> (Replica, Vec<Input>) {
        let replica = Replica::new(self.config.clone(), ReplicaId(BACKUP), 0);
        let batch = Arc::new(Batch::new(self.requests.clone()));
        let mut inputs = vec![message(
            0,
            Message::PrePrepare {
                pre_prepare: self.pre_prepare.clone(),
                batch,
            },
        )];
        inputs.extend(self.votes.iter().cloned().map(|(r, m)| message(r, m)));
        inputs.push(Input::Executed {
            seq: Seq(1),
            results: vec![Bytes::from_static(b"ok"); self.requests.len()],
            app_digest: None,
        });
        (replica, inputs)
    }
}

fn message(from: u32, message: Message) -> Input {
    Input::Message {
        from: ReplicaId(from),
        message: Verified::assume_verified(message),
    }
}

/// Feeds every input; the actions are returned so that dropping them is not timed.
fn run(mut replica: Replica, inputs: Vec<Input>) -> (Replica, Vec<Vec<Action>>) {
    let mut actions = Vec::with_capacity(inputs.len());
    for input in inputs {
        actions.push(replica.handle(input));
    }
    (replica, actions)
}

/// Runs one round outside the benchmark and checks it does what is measured: the batch
/// executes, every request is answered, and nothing is refused.
fn check(round: &Round) {
    let (replica, inputs) = round.inputs();
    let (replica, actions) = run(replica, inputs);
    let actions: Vec<&Action> = actions.iter().flatten().collect();
    let executed = actions.iter().any(|a| {
        matches!(a, Action::Execute(e) if e.seq == Seq(1) && e.requests.len() == round.requests.len())
    });
    let replies = actions
        .iter()
        .filter(|a| matches!(a, Action::Reply(_)))
        .count();
    assert!(executed, "the batch did not execute: {actions:?}");
    assert_eq!(replies, round.requests.len());
    assert_eq!(replica.last_executed(), Seq(1));
    assert!(replica.rejects().is_empty(), "{:?}", replica.rejects());
}

fn batch_round(c: &mut Criterion) {
    let mut group = c.benchmark_group("core");
    for size in BATCH_SIZES {
        let round = Round::new(size);
        check(&round);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("backup_round/{size}"), |b| {
            b.iter_batched(
                || round.inputs(),
                |(replica, inputs)| run(replica, inputs),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = batch_round
}
criterion_main!(benches);
