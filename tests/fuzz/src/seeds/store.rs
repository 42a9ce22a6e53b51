//! Seeds for the store's records, in the shapes the store writes them.

use rampart_crypto::{ClusterId, Digest, Signed, Signer};
use rampart_replica::core::{Evidence, MessageKey};
use rampart_replica::message::{Message, ReplicaId, Seq, View, encode};
use rampart_replica::store::inspect::message_key;
use rampart_replica::transfer::Manifest;
use serde::Serialize;

use super::Seed;
use crate::fixture::{CLUSTER_ID, fixture};
use crate::targets::{store, transfer};

/// The records of `store/`, in the shapes the store writes them.
pub(super) fn store_records() -> Vec<Seed> {
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
