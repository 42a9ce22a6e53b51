//! The shell's per-message costs: signing ([`Payload::sign`]) and verifying
//! ([`verify_message`]) each kind of message, the wire encoding, and batch digests.
//!
//! Run with `cargo bench -p rampart-replica --bench messages`. Verification benches report
//! their throughput in signatures, so a message that carries many (a PRE-PREPARE carries
//! its requests', a VIEW-CHANGE its certificates') shows its cost per signature too.

mod fixture;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_crypto::{Digest, Ed25519, Signed};
use rampart_replica::message::{
    Batch, Checkpoint, CheckpointCertificate, Commit, Limits, Message, Payload, PrePrepare,
    Prepare, PreparedCertificate, ReplicaId, Seq, View, ViewChange, decode, encode,
    signature_checks, verify_message,
};

use fixture::{CLUSTER, Fixture};

const BATCH_SIZES: [usize; 3] = [1, 16, 128];

/// The prepared certificates a VIEW-CHANGE carries, and the requests in each of their batches.
const PREPARED_CERTIFICATES: usize = 16;
const CERTIFICATE_BATCH_SIZE: usize = 16;

/// The stable checkpoint the VIEW-CHANGE starts from; its certificates lie just above it.
const STABLE_SEQ: u64 = 128;

fn pre_prepare(view: u64, seq: u64, batch: &Arc<Batch>) -> PrePrepare {
    PrePrepare {
        view: View(view),
        seq: Seq(seq),
        digest: batch.digest(),
    }
}

fn pre_prepare_payload(batch: &Arc<Batch>) -> Payload {
    Payload::PrePrepare {
        pre_prepare: pre_prepare(0, 1, batch),
        batch: batch.clone(),
    }
}

fn prepare(replica: u32) -> Prepare {
    Prepare {
        view: View(0),
        seq: Seq(1),
        digest: Digest::of(b"batch"),
        replica: ReplicaId(replica),
    }
}

fn commit(replica: u32) -> Commit {
    Commit {
        view: View(0),
        seq: Seq(1),
        digest: Digest::of(b"batch"),
        replica: ReplicaId(replica),
    }
}

fn checkpoint(replica: u32) -> Checkpoint {
    Checkpoint {
        seq: Seq(STABLE_SEQ),
        state_digest: Digest::of(b"state"),
        replica: ReplicaId(replica),
    }
}

/// A VIEW-CHANGE to view 1 from `replica`: a stable checkpoint with a quorum of proofs, and
/// a prepared certificate (the pre-prepare and 2f prepares of view 0) for each of
/// `PREPARED_CERTIFICATES` sequence numbers above it, with their batches.
fn view_change(fixture: &Fixture, replica: u32) -> (ViewChange, Vec<Arc<Batch>>) {
    let quorum = fixture.cluster.quorum();
    let proof = (0..quorum as u32)
        .map(|r| fixture.sign(r, checkpoint(r)))
        .collect();
    let mut prepared = Vec::new();
    let mut batches = Vec::new();
    for index in 0..PREPARED_CERTIFICATES {
        let seq = STABLE_SEQ + 1 + index as u64;
        let batch = fixture::batch(
            (index * CERTIFICATE_BATCH_SIZE) as u64,
            CERTIFICATE_BATCH_SIZE,
        );
        let pre_prepare = fixture.sign(0, pre_prepare(0, seq, &batch));
        let prepares = (1..quorum as u32)
            .map(|r| {
                let value = Prepare {
                    view: View(0),
                    seq: Seq(seq),
                    digest: batch.digest(),
                    replica: ReplicaId(r),
                };
                fixture.sign(r, value)
            })
            .collect();
        prepared.push(PreparedCertificate {
            pre_prepare,
            prepares,
        });
        batches.push(batch);
    }
    let view_change = ViewChange {
        new_view: View(1),
        replica: ReplicaId(replica),
        checkpoint: CheckpointCertificate {
            seq: Seq(STABLE_SEQ),
            state_digest: Digest::of(b"state"),
            proof,
        },
        prepared,
    };
    (view_change, batches)
}

/// The NEW-VIEW for view 1 its primary (replica 1) would send after a quorum of the
/// VIEW-CHANGEs above: O re-proposes every prepared batch in view 1.
fn new_view_payload(fixture: &Fixture) -> Payload {
    let mut view_changes = Vec::new();
    let mut batches = Vec::new();
    for replica in 0..fixture.cluster.quorum() as u32 {
        let (view_change, attached) = view_change(fixture, replica);
        view_changes.push(fixture.sign(replica, view_change));
        batches = attached;
    }
    let pre_prepares = batches
        .iter()
        .enumerate()
        .map(|(index, batch)| pre_prepare(1, STABLE_SEQ + 1 + index as u64, batch))
        .collect();
    Payload::NewView {
        view: View(1),
        view_changes,
        pre_prepares,
        batches,
    }
}

/// Every message kind the benches sign and verify, by name, as the shell sees it: an
/// unsigned payload, except for requests, which clients sign.
fn payloads(fixture: &Fixture) -> Vec<(String, Payload)> {
    let mut payloads = Vec::new();
    for size in BATCH_SIZES {
        let batch = fixture::batch(0, size);
        payloads.push((format!("pre_prepare/{size}"), pre_prepare_payload(&batch)));
    }
    payloads.push(("prepare".to_string(), Payload::Prepare(prepare(1))));
    payloads.push(("commit".to_string(), Payload::Commit(commit(1))));
    payloads.push(("checkpoint".to_string(), Payload::Checkpoint(checkpoint(1))));
    let (view_change, batches) = view_change(fixture, 1);
    payloads.push((
        format!("view_change/{PREPARED_CERTIFICATES}"),
        Payload::ViewChange {
            view_change,
            batches,
        },
    ));
    payloads.push(("new_view".to_string(), new_view_payload(fixture)));
    payloads
}

/// The replica that signs each payload: the primary of its view for PRE-PREPARE and
/// NEW-VIEW, replica 1 otherwise.
fn author(payload: &Payload) -> u32 {
    match payload {
        Payload::PrePrepare { .. } => 0,
        _ => 1,
    }
}

fn signing(c: &mut Criterion) {
    let fixture = Fixture::new(4);
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    let request = fixture::request(0).value;
    let client = rampart_crypto::KeyPair::from_seed(1_000_000);
    group.bench_function("request", |b| {
        b.iter_batched(
            || request.clone(),
            |request| Signed::sign(CLUSTER, request, &client),
            BatchSize::SmallInput,
        )
    });
    for (name, payload) in payloads(&fixture) {
        let signer = &fixture.keys[author(&payload) as usize];
        group.bench_function(name, |b| {
            b.iter_batched(
                || payload.clone(),
                |payload| payload.sign(CLUSTER, signer),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn verification(c: &mut Criterion) {
    let fixture = Fixture::new(4);
    let limits = Limits::default();
    let verifier = Ed25519::new();
    let mut messages = vec![("request".to_string(), Message::Request(fixture::request(0)))];
    for (name, payload) in payloads(&fixture) {
        let signer = &fixture.keys[author(&payload) as usize];
        messages.push((name, payload.sign(CLUSTER, signer).expect("signs")));
    }
    let mut group = c.benchmark_group("verify");
    for (name, message) in messages {
        let signatures = signature_checks(&message, &fixture.cluster, &limits)
            .expect("within limits")
            .len();
        verify_message(message.clone(), &fixture.cluster, &limits, &verifier)
            .expect("a valid message");
        // A message decoded from the wire has no batch digests cached; verification does
        // not compute them, so sharing the batches with the original changes nothing.
        group.throughput(Throughput::Elements(signatures as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || message.clone(),
                |message| verify_message(message, &fixture.cluster, &limits, &verifier),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let fixture = Fixture::new(4);
    let size = 128;
    let message = pre_prepare_payload(&fixture::batch(0, size))
        .sign(CLUSTER, &fixture.keys[0])
        .expect("signs");
    let bytes = encode(&message);
    let mut group = c.benchmark_group("encoding");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(format!("encode/pre_prepare/{size}"), |b| {
        b.iter(|| encode(black_box(&message)))
    });
    group.bench_function(format!("decode/pre_prepare/{size}"), |b| {
        b.iter(|| decode::<Message>("message", black_box(&bytes)))
    });
    group.finish();
}

fn digests(c: &mut Criterion) {
    let mut group = c.benchmark_group("digest");
    for size in BATCH_SIZES {
        let requests = fixture::requests(0, size);
        group.throughput(Throughput::Elements(size as u64));
        // A fresh batch every time: the digest is cached once computed.
        group.bench_function(format!("batch/{size}"), |b| {
            b.iter_batched(
                || Batch::new(requests.clone()),
                |batch| batch.digest(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = signing, verification, encoding, digests
}
criterion_main!(benches);
