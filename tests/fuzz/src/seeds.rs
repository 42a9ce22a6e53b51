//! Seed inputs: valid encodings of everything each target decodes, so that fuzzing starts
//! from deep inputs rather than from bytes that fail on the first field.
//!
//! `cargo run -p rampart-fuzz --bin seed-corpus` writes them to `corpus/<target>/seed-*`;
//! `tests/replay.rs` checks that every seed is still accepted by its target, so a change of
//! format that leaves the seeds behind fails a test.

use std::path::Path;

use bytes::Bytes;
use rampart_crypto::{ClusterId, Digest, KeyPair, Signed, Signer, save_key_pair, save_public_key};
use rampart_replica::app::encode_command;
use rampart_replica::apps::interlock::{self, Interlock};
use rampart_replica::apps::kv::{self, KvStore};
use rampart_replica::core::{Evidence, MessageKey};
use rampart_replica::fault::StateService;
use rampart_replica::message::{
    Message, Refusal, ReplicaId, Reply, Seq, View, encode, request_digest,
};
use rampart_replica::store::inspect::message_key;
use rampart_replica::transfer::{Fetcher, Manifest, StateFrame, answer};
use rampart_replica::wire::{ClientFrame, CommitProof, PeerFrame, ReplicaFrame};
use serde::Serialize;

use rampart_client::Certificate;
use rampart_deploy::client::certificate::HEADER;
use rampart_deploy::files::client::ClientFile;
use rampart_deploy::files::clients::ClientsTable;
use rampart_deploy::files::cluster::{
    ApplicationKind, ClusterFile, ClusterProtocol, InterlockGenesis, ReplicaEntry,
};
use rampart_deploy::files::encoding::{ClusterIdHex, KeyHex};
use rampart_deploy::files::replica::ReplicaFile;

use crate::fixture::{CLUSTER_ID, Fixture, fixture};
use crate::targets::core::{HEADER_AUTO_EXECUTE, HEADER_TENTATIVE, Op};
use crate::targets::{app, store, transfer};

/// A named seed input.
pub type Seed = (String, Vec<u8>);

/// The seeds of the target called `name`.
pub fn seeds(name: &str) -> Vec<Seed> {
    match name {
        "frame" => frame(),
        "peer_frame" => peer_frames()
            .into_iter()
            .map(|(n, f)| (n, encode(&f)))
            .collect(),
        "client_frame" => client_frames(),
        "message" => messages(),
        "replica_frame" => replica_frames(),
        "certificate_file" => certificate_file(),
        "state_transfer" => state_transfer(),
        "store_record" => store_records(),
        "cluster_toml" => cluster_toml(),
        "replica_toml" => replica_toml(),
        "client_toml" => client_toml(),
        "key_file" => key_files(),
        "app_operation" => app_operations(),
        "core" => core(),
        _ => Vec::new(),
    }
}

fn named<T: Serialize>(name: impl Into<String>, value: &T) -> Seed {
    (name.into(), encode(value))
}

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

fn peer_frames() -> Vec<(String, PeerFrame)> {
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

fn frame() -> Vec<Seed> {
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

fn client_frames() -> Vec<Seed> {
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
    .collect()
}

fn messages() -> Vec<Seed> {
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

fn replica_frames() -> Vec<Seed> {
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
    ]
}

fn certificate_file() -> Vec<Seed> {
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
fn state_transfer() -> Vec<Seed> {
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

/// The records of `store/`, in the shapes the store writes them.
fn store_records() -> Vec<Seed> {
    /// `store/identity.rs`'s record, field for field.
    #[derive(Serialize)]
    struct IdentityRecord(u32, ClusterId, ReplicaId, rampart_crypto::PublicKey);
    /// `store/batches.rs`'s `messages` record.
    #[derive(Serialize)]
    enum StoredMessage {
        PrePrepare {
            pre_prepare: Signed<rampart_replica::message::PrePrepare>,
            batch: Digest,
        },
        Whole(Message),
    }
    /// `store/checkpoint.rs`'s summary of a checkpoint state.
    #[derive(Serialize)]
    struct SnapshotSummary(Seq, Digest, Manifest);

    let f = fixture();
    let batch = f.batches()[2].clone();
    let digest = batch.digest();
    let state = transfer::state();
    let record = |name: &str, cf: &str, key: &[u8], payload: Vec<u8>| {
        let cf_index = store::COLUMN_FAMILIES
            .iter()
            .position(|c| *c == cf)
            .expect("a cf") as u8;
        let mut bytes = vec![cf_index];
        bytes.extend((key.len() as u16).to_le_bytes());
        bytes.extend(key);
        bytes.extend(payload);
        (name.to_string(), bytes)
    };
    let prepare = Message::Prepare(f.prepare(1, 0, 3, digest));
    let prepare_key = MessageKey::of(&prepare, 4).expect("a prepare has a key");
    let pre_prepare = f.pre_prepare(0, 3, digest);
    let pre_prepare_key = MessageKey::of(
        &Message::PrePrepare {
            pre_prepare: pre_prepare.clone(),
            batch: batch.clone(),
        },
        4,
    )
    .expect("a pre-prepare has a key");
    let seq_key = 3u64.to_be_bytes();
    let evidence = Evidence::Prepare {
        first: f.prepare(1, 0, 3, digest),
        second: f.prepare(1, 0, 3, Digest::of(b"other")),
    };
    let checkpoint_key = |part: u8| [&8u64.to_be_bytes()[..], &[part]].concat();
    let identity = IdentityRecord(3, CLUSTER_ID, ReplicaId(1), f.replicas[1].public_key());
    let commits = f.commit_certificate(0, 3, &batch).commits;
    let chunk = &state.snapshot[..64];
    vec![
        record("identity", "meta", b"identity", encode(&identity)),
        record("view", "meta", b"view", encode(&(View(2), true))),
        record(
            "stable",
            "meta",
            b"stable",
            encode(&f.checkpoint_certificate(4, Digest::of(b"s"))),
        ),
        record(
            "partial",
            "meta",
            &[&b"partial/"[..], &8u64.to_be_bytes()].concat(),
            encode(&state.manifest),
        ),
        record(
            "message-prepare",
            "messages",
            &message_key(&prepare_key),
            encode(&StoredMessage::Whole(prepare)),
        ),
        record(
            "message-pre-prepare",
            "messages",
            &message_key(&pre_prepare_key),
            encode(&StoredMessage::PrePrepare {
                pre_prepare,
                batch: digest,
            }),
        ),
        record(
            "prepared",
            "prepared",
            &seq_key,
            encode(&(f.prepared_certificate(0, 3, digest), digest)),
        ),
        record("decided", "decided", &seq_key, encode(&(commits, digest))),
        record(
            "batch",
            "batches",
            &[&seq_key[..], digest.as_bytes()].concat(),
            encode(&*batch),
        ),
        record(
            "evidence",
            "evidence",
            &0u64.to_be_bytes(),
            encode(&evidence),
        ),
        record(
            "summary",
            "checkpoints",
            &checkpoint_key(0),
            encode(&SnapshotSummary(
                Seq(8),
                state.target.state_digest,
                state.manifest.clone(),
            )),
        ),
        record(
            "client-table",
            "checkpoints",
            &checkpoint_key(1),
            encode(&state.client_table),
        ),
        record(
            "chunk",
            "snapshots",
            rampart_replica::transfer::chunk_digest(chunk).as_bytes(),
            chunk.to_vec(),
        ),
    ]
}

fn cluster_file(application: ApplicationKind) -> ClusterFile {
    let key = |seed| KeyHex(KeyPair::from_seed(seed).public_key());
    ClusterFile {
        cluster_id: ClusterIdHex(ClusterId(0x5f1c_0e9a_7d3b_2a41)),
        application,
        replicas: (0..4)
            .map(|i| ReplicaEntry {
                key: key(i),
                address: format!("127.0.0.1:{}", 7100 + i),
                metrics: None,
            })
            .collect(),
        protocol: ClusterProtocol::default(),
        clients: ClientsTable::listed((0..3).map(|i| KeyPair::from_seed(3_000 + i).public_key())),
        interlock: (application == ApplicationKind::Interlock).then(|| InterlockGenesis {
            registered_agents: (0..7).map(|i| key(2_000 + i)).collect(),
            units: vec!["reactor-1".into(), "valve \"2\"".into()],
            shutdown_quorum: 5,
            faulty_agents_tolerated: 2,
            min_confidence_percent: 50,
        }),
    }
}

fn cluster_toml() -> Vec<Seed> {
    [ApplicationKind::Kv, ApplicationKind::Interlock]
        .into_iter()
        .map(|kind| {
            (
                kind.name().to_string(),
                cluster_file(kind).render().into_bytes(),
            )
        })
        .collect()
}

fn replica_toml() -> Vec<Seed> {
    let mut restricted = ReplicaFile::new(2, "127.0.0.1:7102".parse().expect("an address"));
    restricted.limits.client_bytes_in_flight_max = 1 << 20;
    restricted.limits.client_requests_in_flight_max = Some(8);
    restricted.limits.connections_max = 16;
    restricted.tick_ms = 5;
    vec![
        (
            "default".into(),
            ReplicaFile::new(0, "0.0.0.0:7100".parse().expect("an address"))
                .render()
                .into_bytes(),
        ),
        ("limits".into(), restricted.render().into_bytes()),
    ]
}

fn client_toml() -> Vec<Seed> {
    vec![("default".into(), ClientFile::new(0).render(0).into_bytes())]
}

fn key_files() -> Vec<Seed> {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let read = |path: &Path| std::fs::read(path).expect("the key file");
    let secret = directory.path().join("replica.key");
    save_key_pair(&secret, &KeyPair::from_seed(7)).expect("saves");
    let public = directory.path().join("replica.pub");
    save_public_key(&public, &KeyPair::from_seed(7).public_key()).expect("saves");
    vec![
        ("secret".into(), read(&secret)),
        ("public".into(), read(&public)),
    ]
}

fn app_operations() -> Vec<Seed> {
    let step = |out: &mut Vec<u8>, kind: u8, client: u8, bytes: &[u8]| {
        out.push(kind | client << 2);
        out.extend((bytes.len() as u16).to_le_bytes());
        out.extend(bytes);
    };
    let bytes = |text: &str| Bytes::copy_from_slice(text.as_bytes());
    let mut kv = vec![0];
    for command in [
        kv::Command::Put {
            key: bytes("a"),
            value: bytes("1"),
        },
        kv::Command::CompareAndSwap {
            key: bytes("a"),
            expected: Some(bytes("1")),
            new: None,
        },
        kv::Command::Get { key: bytes("a") },
        kv::Command::Delete { key: bytes("b") },
    ] {
        step(
            &mut kv,
            app::STEP_APPLY,
            0,
            &encode_command::<KvStore>(&command),
        );
    }
    let query = encode(
        &rampart_replica::app::Operation::<kv::Command, kv::Query>::Query(kv::Query::Get {
            key: bytes("a"),
        }),
    );
    step(&mut kv, app::STEP_QUERY, 0, &query);
    step(&mut kv, app::STEP_RESTORE, 0, &encode(&KvStore::new()));

    let mut interlock = vec![1];
    for agent in 0..6 {
        let vote = interlock::Command::Vote {
            unit: "reactor-1".into(),
            round: 0,
            choice: interlock::Choice::Shutdown,
            confidence_percent: 90,
        };
        step(
            &mut interlock,
            app::STEP_APPLY,
            agent,
            &encode_command::<Interlock>(&vote),
        );
    }
    let reset = interlock::Command::Reset {
        unit: "reactor-1".into(),
        round: 0,
    };
    step(
        &mut interlock,
        app::STEP_APPLY,
        1,
        &encode_command::<Interlock>(&reset),
    );
    let status = encode(&rampart_replica::app::Operation::<
        interlock::Command,
        interlock::Query,
    >::Query(interlock::Query::Status {
        unit: "reactor-1".into(),
    }));
    step(&mut interlock, app::STEP_QUERY, 7, &status);
    step(
        &mut interlock,
        app::STEP_RESTORE,
        0,
        &encode(&app::interlock()),
    );
    vec![("kv".into(), kv), ("interlock".into(), interlock)]
}

/// Ops that take batch `batch` through sequence number `seq` of `view` at a backup: the
/// PRE-PREPARE, the PREPAREs and the COMMITs of the other replicas.
fn agreement(ops: &mut Vec<Op>, view: u8, seq: u8, batch: u8) {
    let primary = view % 4;
    ops.push(Op::PrePrepare {
        from: primary,
        view,
        seq,
        batch,
        digest: 0,
    });
    for replica in 0..4 {
        if replica != primary {
            ops.push(Op::Prepare {
                replica,
                view,
                seq,
                digest: batch,
            });
        }
        ops.push(Op::Commit {
            replica,
            view,
            seq,
            digest: batch,
        });
    }
}

fn core() -> Vec<Seed> {
    let write = |header: u8, ops: &[Op]| {
        let mut bytes = vec![header];
        for op in ops {
            op.write(&mut bytes);
        }
        bytes
    };
    // The normal case to the first stable checkpoint, at backup 1.
    let mut normal = vec![
        Op::Request {
            client: 0,
            number: 0,
            via: 0,
        },
        Op::Request {
            client: 1,
            number: 0,
            via: 2,
        },
    ];
    for (seq, batch) in [(1, 1), (2, 2), (3, 3), (4, 0)] {
        agreement(&mut normal, 0, seq, batch);
    }
    normal.extend((0..4).map(|replica| Op::Checkpoint {
        replica,
        seq: 1,
        digest: 0,
    }));
    normal.push(Op::Tick { ticks: 7 });
    normal.push(Op::Request {
        client: 0,
        number: 0x80,
        via: 0,
    });

    // The primary of view 0 orders what clients send it.
    let mut primary = vec![
        Op::Request {
            client: 0,
            number: 0,
            via: 0,
        },
        Op::Request {
            client: 1,
            number: 0,
            via: 0,
        },
        Op::Tick { ticks: 1 },
    ];
    primary.extend((1..4).map(|replica| Op::Prepare {
        replica,
        view: 0,
        seq: 1,
        digest: 1,
    }));
    primary.extend((1..4).map(|replica| Op::Commit {
        replica,
        view: 0,
        seq: 1,
        digest: 1,
    }));

    // A silent primary: the backups time out, change views, and replica 1 leads view 1.
    let mut view_change = vec![Op::Request {
        client: 0,
        number: 0,
        via: 0,
    }];
    agreement(&mut view_change, 0, 1, 1);
    view_change.extend([Op::Tick { ticks: 7 }, Op::Tick { ticks: 7 }]);
    view_change.extend((0..4).map(|replica| Op::ViewChange {
        replica,
        new_view: 1,
        checkpoint: 0,
        prepared: [1, 2, 2],
    }));
    view_change.push(Op::NewView {
        view: 1,
        absent: 0,
        checkpoint: 0,
        prepared: [[1, 2, 2]; 3],
    });
    agreement(&mut view_change, 1, 3, 3);
    view_change.push(Op::Status {
        replica: 3,
        view: 1,
        executed: 2,
    });

    // A replica left behind: commit certificates, then a stable checkpoint it lacks.
    let mut behind: Vec<Op> = (1..=4)
        .map(|seq| Op::CommitCertificate {
            view: 0,
            seq,
            batch: seq % 4,
        })
        .collect();
    behind.extend((0..3).map(|replica| Op::Checkpoint {
        replica,
        seq: 2,
        digest: 1,
    }));
    behind.extend([
        Op::State { from: 0, kind: 0 },
        Op::State { from: 1, kind: 1 },
        Op::Batch {
            from: 2,
            batch: 1,
            fetched: 1,
        },
        Op::Batch {
            from: 2,
            batch: 2,
            fetched: 0,
        },
        Op::Tick { ticks: 7 },
    ]);
    vec![
        (
            "normal-case".into(),
            write(1 | HEADER_AUTO_EXECUTE, &normal),
        ),
        (
            "normal-case-tentative".into(),
            write(1 | HEADER_AUTO_EXECUTE | HEADER_TENTATIVE, &normal),
        ),
        ("normal-case-explicit-execute".into(), {
            // The shell reports each execution once the last COMMIT is in.
            let ops: Vec<Op> = normal
                .iter()
                .flat_map(|&op| match op {
                    Op::Commit { replica: 3, .. } => vec![op, Op::Execute],
                    _ => vec![op],
                })
                .collect();
            write(1, &ops)
        }),
        ("primary".into(), write(HEADER_AUTO_EXECUTE, &primary)),
        (
            "view-change".into(),
            write(2 | HEADER_AUTO_EXECUTE, &view_change),
        ),
        (
            "view-change-new-primary".into(),
            write(1 | HEADER_AUTO_EXECUTE, &view_change),
        ),
        (
            "state-transfer".into(),
            write(3 | HEADER_AUTO_EXECUTE, &behind),
        ),
    ]
}

/// Every seed of every target, for the seed writer.
pub fn all() -> Vec<(&'static str, Seed)> {
    crate::TARGETS
        .iter()
        .flat_map(|target| {
            seeds(target.name)
                .into_iter()
                .map(move |seed| (target.name, seed))
        })
        .collect()
}
