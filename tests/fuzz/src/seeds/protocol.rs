//! Seeds for what travels between replicas and clients: protocol messages, frames,
//! replies and certificates, and state transfer.

use bytes::Bytes;
use rampart_client::Certificate;
use rampart_crypto::Digest;
use rampart_deploy::client::certificate::HEADER;
use rampart_replica::fault::StateService;
use rampart_replica::message::{
    Message, Refusal, ReplicaId, Reply, Seq, View, encode, request_digest,
};
use rampart_replica::transfer::{Fetcher, StateFrame, answer};
use rampart_replica::wire::{ClientFrame, CommitProof, PeerFrame, ReplicaFrame};

use super::{Seed, named};
use crate::fixture::{Fixture, fixture};
use crate::targets::transfer;

/// One of every protocol message kind, validly signed.
fn protocol_messages(f: &Fixture) -> Vec<(&'static str, Message)> {
    let batch = &f.batches()[2];
    let digest = batch.digest();
    let pre_prepare = Message::PrePrepare {
        pre_prepare: f.pre_prepare(1, 3, digest),
        batch: batch.clone(),
    };
    let view_change = |replica| {
        f.view_change(
            replica,
            2,
            f.checkpoint_certificate(4, Digest::of(b"state 4")),
            vec![f.prepared_certificate(1, 6, digest)],
        )
    };
    vec![
        ("request", Message::Request(f.request(0, 1, false))),
        ("pre-prepare", pre_prepare),
        ("prepare", Message::Prepare(f.prepare(2, 1, 3, digest))),
        ("commit", Message::Commit(f.commit(3, 1, 3, digest))),
        (
            "checkpoint",
            Message::Checkpoint(f.checkpoint(1, 4, Digest::of(b"state 4"))),
        ),
        (
            "view-change",
            Message::ViewChange {
                view_change: view_change(3),
                batches: vec![batch.clone()],
            },
        ),
        ("new-view", f.new_view(2, (0..3).map(view_change).collect())),
        ("status", Message::Status(f.status(2, 1, true, 5))),
        (
            "commit-certificate",
            Message::CommitCertificate(f.commit_certificate(1, 3, batch)),
        ),
    ]
}

fn state_frames() -> Vec<(&'static str, StateFrame)> {
    let state = transfer::state();
    let seq = state.target.seq;
    vec![
        ("manifest-request", StateFrame::ManifestRequest { seq }),
        (
            "manifest",
            StateFrame::Manifest {
                seq,
                manifest: state.manifest.clone(),
                client_table: state.client_table.clone(),
            },
        ),
        ("chunk-request", StateFrame::ChunkRequest { seq, index: 1 }),
        (
            "chunk",
            StateFrame::Chunk {
                seq,
                index: 1,
                data: Bytes::copy_from_slice(&state.snapshot[64..128]),
            },
        ),
        ("unavailable", StateFrame::Unavailable { seq }),
    ]
}

pub(super) fn peer_frames() -> Vec<(String, PeerFrame)> {
    let f = fixture();
    let mut frames: Vec<(String, PeerFrame)> = protocol_messages(f)
        .into_iter()
        .map(|(kind, message)| (format!("protocol-{kind}"), PeerFrame::Protocol(message)))
        .collect();
    frames.extend(
        state_frames()
            .into_iter()
            .map(|(kind, frame)| (format!("state-{kind}"), PeerFrame::State(frame))),
    );
    let batch = f.batches()[1].clone();
    frames.push((
        "batch-request".into(),
        PeerFrame::BatchRequest {
            digest: batch.digest(),
        },
    ));
    frames.push(("batch".into(), PeerFrame::Batch(batch)));
    frames
}

pub(super) fn frame() -> Vec<Seed> {
    let frames: Vec<Vec<u8>> = peer_frames()
        .into_iter()
        .take(4)
        .map(|(_, f)| encode(&f))
        .collect();
    let mut stream = Vec::new();
    for frame in &frames {
        stream.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        stream.extend_from_slice(frame);
    }
    let with = |limit: u8, delivery: u8, stream: &[u8]| [&[limit, delivery][..], stream].concat();
    vec![
        ("whole".into(), with(255, 0x3f, &stream)),
        ("trickle".into(), with(255, 0x40 | 2, &stream)),
        (
            "refused-truncated".into(),
            with(255, 7, &stream[..stream.len() - 3]),
        ),
        ("refused-too-large".into(), with(1, 0x3f, &stream)),
        ("empty-frames".into(), with(0, 0, &[0; 12])),
    ]
}

pub(super) fn client_frames() -> Vec<Seed> {
    let f = fixture();
    [
        (false, false, false),
        (true, true, false),
        (false, true, true),
    ]
    .into_iter()
    .map(|(read_only, certify, all_answer)| {
        let frame = ClientFrame::Request {
            request: f.request(1, 3, read_only),
            certify,
            all_answer,
        };
        named(
            format!("request-{read_only}-{certify}-{all_answer}"),
            &frame,
        )
    })
    .chain([named("status", &ClientFrame::Status)])
    .collect()
}

pub(super) fn messages() -> Vec<Seed> {
    use crate::targets::message::KINDS;
    let f = fixture();
    let kind = |what: &str| KINDS.iter().position(|k| *k == what).expect("a kind") as u8;
    let with =
        |what: &str, bytes: Vec<u8>| (what.replace(' ', "-"), [vec![kind(what)], bytes].concat());
    let mut seeds: Vec<Seed> = protocol_messages(f)
        .into_iter()
        .map(|(name, message)| {
            (
                format!("message-{name}"),
                [vec![kind("message")], encode(&message)].concat(),
            )
        })
        .collect();
    let batch = &f.batches()[2];
    let view_change = f.view_change(
        1,
        2,
        f.checkpoint_certificate(4, Digest::of(b"state 4")),
        vec![f.prepared_certificate(1, 6, batch.digest())],
    );
    seeds.extend([
        with("request", encode(&f.request(0, 2, true))),
        with("batch", encode(&**batch)),
        with(
            "commit certificate",
            encode(&f.commit_certificate(0, 2, batch)),
        ),
        with("view change", encode(&view_change)),
        with(
            "prepared certificate",
            encode(&f.prepared_certificate(2, 7, batch.digest())),
        ),
        with(
            "checkpoint certificate",
            encode(&f.checkpoint_certificate(8, Digest::of(b"s"))),
        ),
        with("commit proof", encode(&commit_proof(f))),
    ]);
    if let Message::NewView { new_view, .. } = f.new_view(2, vec![view_change.clone(); 3]) {
        seeds.push(with("new view", encode(&new_view)));
    }
    seeds
}

/// The proof that the fixture's first request committed at sequence number 1, alone in
/// its batch, in view 0.
fn commit_proof(f: &Fixture) -> CommitProof {
    let batch = &f.batches()[1];
    CommitProof {
        commits: f.commit_certificate(0, 1, batch).commits,
        request_digests: batch.requests.iter().map(request_digest).collect(),
        position: 0,
    }
}

fn reply(f: &Fixture, replica: u32) -> Reply {
    Reply {
        view: View(0),
        seq: Seq(1),
        client: f.client_id(0),
        number: 1,
        replica: ReplicaId(replica),
        result: Bytes::from_static(b"done 1"),
        tentative: false,
    }
}

pub(super) fn replica_frames() -> Vec<Seed> {
    let f = fixture();
    let signed = f.sign(2, reply(f, 2));
    vec![
        named(
            "reply",
            &ReplicaFrame::Reply {
                reply: reply(f, 1),
                read_only: false,
                certificate: None,
                signature: None,
            },
        ),
        named(
            "reply-certified",
            &ReplicaFrame::Reply {
                reply: signed.value,
                read_only: false,
                certificate: Some(commit_proof(f)),
                signature: Some(signed.signature),
            },
        ),
        named(
            "refused",
            &ReplicaFrame::Refused {
                number: 4,
                refusal: Refusal::TooOld { floor: 3 },
            },
        ),
        named(
            "status-answer",
            &ReplicaFrame::StatusAnswer {
                replica: ReplicaId(2),
                view: View(5),
            },
        ),
    ]
}

pub(super) fn certificate_file() -> Vec<Seed> {
    let f = fixture();
    let certificate = Certificate {
        request: f.request(0, 1, false),
        seq: Seq(1),
        proof: commit_proof(f),
        replies: (0..2).map(|r| f.sign(r, reply(f, r))).collect(),
    };
    certificate
        .verify(&f.cluster)
        .expect("the seed certificate verifies");
    vec![("valid".into(), [HEADER, &encode(&certificate)].concat())]
}

/// A fetch answered honestly throughout, and one that starts with every kind of frame.
pub(super) fn state_transfer() -> Vec<Seed> {
    let state = transfer::state();
    let mut honest = vec![0];
    let mut fetcher = Fetcher::new(ReplicaId(0), transfer::settings());
    let sources = transfer::SOURCES.iter().map(|&r| ReplicaId(r)).collect();
    let mut requests = fetcher.start(state.target, sources, 0).requests;
    while let Some((to, request)) = requests.pop() {
        let Ok(Some(response)) = answer(state, &request, StateService::Honest) else {
            continue;
        };
        let bytes = encode(&response);
        honest.extend([transfer::STEP_FRAME, to.0 as u8]);
        honest.extend((bytes.len() as u16).to_le_bytes());
        honest.extend(bytes);
        let step = fetcher.on_response(to, response, 0, |_| false);
        requests.extend(step.requests);
        if step.complete.is_some() {
            break;
        }
    }
    let mut every_frame = vec![0b101];
    for (_, frame) in state_frames() {
        let bytes = encode(&frame);
        every_frame.extend([transfer::STEP_FRAME, 1]);
        every_frame.extend((bytes.len() as u16).to_le_bytes());
        every_frame.extend(bytes);
        if frame.is_request() {
            every_frame.push(0);
        }
        every_frame.extend([transfer::STEP_TICK, 3, transfer::STEP_RESTART]);
    }
    vec![
        ("honest".into(), honest),
        ("every-frame".into(), every_frame),
    ]
}
