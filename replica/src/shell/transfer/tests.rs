//! The shell's side of state transfer on a real store: a state the store holds is
//! installed without a fetch, and a diverged state of this replica's own is replaced.

use bytes::Bytes;
use rampart_crypto::Digest;

use super::super::send::Outgoing;
use super::super::tests::{deliver, shell};
use crate::core::{ClientTable, checkpoint_digest};
use crate::message::{ReplicaId, Seq, encode};
use crate::store::fixture;
use crate::transfer::{Manifest, SNAPSHOT_CHUNK_BYTES, StateFrame};
use crate::wire::PeerFrame;

/// The first checkpoint of the shell's default configuration.
const SEQ: Seq = Seq(128);

/// A journal snapshot (the shell tests' application) holding `entries`.
fn journal(entries: &[&[u8]]) -> Vec<u8> {
    encode(&entries.iter().map(|e| e.to_vec()).collect::<Vec<_>>())
}

fn state_digest(snapshot: &[u8]) -> (Manifest, Digest) {
    let manifest = Manifest::of(snapshot, SNAPSHOT_CHUNK_BYTES);
    let digest = checkpoint_digest(SEQ, manifest.root(), &ClientTable::default());
    (manifest, digest)
}

/// Until now a fetch of a state the store held stopped the replica: the first chunk met
/// `CheckpointExists`. Now the stored state is installed as it is.
#[tokio::test]
async fn a_transfer_to_a_stored_checkpoint_is_a_no_op() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _status) = shell(dir.path()).await;
    let snapshot = journal(&[b"x"]);
    let (manifest, digest) = state_digest(&snapshot);
    shell
        .store
        .put_checkpoint(SEQ, digest, &ClientTable::default(), &manifest, &snapshot)
        .expect("stores");
    for from in [0, 2, 3] {
        deliver(&mut shell, from, fixture::checkpoint(SEQ, digest, from));
    }
    assert_eq!(shell.core.last_executed(), SEQ);
    assert!(!shell.core.is_transferring());
    assert_eq!(shell.app.snapshot(), snapshot);
    assert_eq!(shell.last_checkpoint, Some((SEQ, digest)));
    assert_eq!(
        shell.transfer.stats().fetches_started,
        0,
        "nothing was fetched"
    );
}

/// This replica's own checkpoint differs from the one 2f + 1 replicas signed: it is
/// replaced by the fetched state, checked chunk by chunk.
#[tokio::test]
async fn a_diverged_own_checkpoint_is_replaced_by_the_fetched_state() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _status) = shell(dir.path()).await;
    let own = journal(&[b"diverged"]);
    let (own_manifest, own_digest) = state_digest(&own);
    shell
        .store
        .put_checkpoint(
            SEQ,
            own_digest,
            &ClientTable::default(),
            &own_manifest,
            &own,
        )
        .expect("stores");
    let signed = journal(&[b"agreed", b"by a quorum"]);
    let (manifest, digest) = state_digest(&signed);
    for from in [0, 2, 3] {
        deliver(&mut shell, from, fixture::checkpoint(SEQ, digest, from));
    }
    assert!(shell.core.is_transferring());
    assert_eq!(shell.store.checkpoint_meta(SEQ).expect("reads"), None);
    // Every peer answers; the fetcher takes the answers of the peers it asked.
    for from in [0, 2, 3].map(ReplicaId) {
        let frame = StateFrame::Manifest {
            seq: SEQ,
            manifest: manifest.clone(),
            client_table: ClientTable::default(),
        };
        shell.on_state_frame(from, frame).expect("carried out");
    }
    for from in [0, 2, 3].map(ReplicaId) {
        let frame = StateFrame::Chunk {
            seq: SEQ,
            index: 0,
            data: Bytes::from(signed.clone()),
        };
        shell.on_state_frame(from, frame).expect("carried out");
    }
    assert_eq!(shell.core.last_executed(), SEQ);
    assert_eq!(shell.app.snapshot(), signed);
    let stored = shell
        .store
        .checkpoint_meta(SEQ)
        .expect("reads")
        .expect("stored");
    assert_eq!(stored.state_digest, digest);
    let stats = shell.transfer.stats();
    assert_eq!((stats.chunks_received, stats.fetches_completed), (1, 1));
}

/// A chunk that does not match the manifest is refused, counted against its sender, and
/// asked of another replica.
#[tokio::test]
async fn a_corrupt_chunk_is_refused_and_asked_of_another_replica() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _status) = shell(dir.path()).await;
    let signed = journal(&[b"agreed"]);
    let (manifest, digest) = state_digest(&signed);
    for from in [0, 2, 3] {
        deliver(&mut shell, from, fixture::checkpoint(SEQ, digest, from));
    }
    for from in [0, 2, 3].map(ReplicaId) {
        let frame = StateFrame::Manifest {
            seq: SEQ,
            manifest: manifest.clone(),
            client_table: ClientTable::default(),
        };
        shell.on_state_frame(from, frame).expect("carried out");
    }
    let mut corrupt = signed.clone();
    corrupt[0] ^= 1;
    for from in [0, 2, 3].map(ReplicaId) {
        let frame = StateFrame::Chunk {
            seq: SEQ,
            index: 0,
            data: Bytes::from(corrupt.clone()),
        };
        shell
            .on_state_frame(from, frame)
            .expect("a bad chunk does not stop the replica");
    }
    let stats = shell.transfer.stats().clone();
    assert_eq!(stats.chunks_refused, 1);
    let (liar, faults) = stats.faults_by_source.first_key_value().expect("a fault");
    assert_eq!(*faults, 1);
    assert!(shell.core.is_transferring());
    for from in [0, 2, 3].map(ReplicaId).into_iter().filter(|r| r != liar) {
        let frame = StateFrame::Chunk {
            seq: SEQ,
            index: 0,
            data: Bytes::from(signed.clone()),
        };
        shell.on_state_frame(from, frame).expect("carried out");
    }
    assert_eq!(shell.core.last_executed(), SEQ);
    assert_eq!(shell.transfer.stats().chunks_refetched, 1);
}

/// A stored state whose chunk the medium damaged is not served: the requesting peer gets
/// no answer for that chunk (its fetcher asks another replica) and gets the intact
/// chunks, and this replica goes on.
#[tokio::test]
async fn a_damaged_stored_chunk_is_not_served() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut shell, _status) = shell(dir.path()).await;
    let large_entry = vec![7u8; SNAPSHOT_CHUNK_BYTES as usize + 10];
    let snapshot = journal(&[&large_entry]);
    let (manifest, digest) = state_digest(&snapshot);
    assert!(
        manifest.chunk_digests().len() >= 2,
        "a state of several chunks"
    );
    shell
        .store
        .put_checkpoint(SEQ, digest, &ClientTable::default(), &manifest, &snapshot)
        .expect("stores");
    shell
        .store
        .damage_snapshot_chunk(&manifest.chunk_digests()[1]);
    for index in [0, 1] {
        shell
            .on_state_frame(ReplicaId(2), StateFrame::ChunkRequest { seq: SEQ, index })
            .expect("a damaged chunk does not stop the replica");
    }
    let served: Vec<u32> = shell
        .outgoing
        .iter()
        .filter_map(|outgoing| match outgoing {
            Outgoing::Peer {
                to: ReplicaId(2),
                frame: PeerFrame::State(StateFrame::Chunk { index, .. }),
            } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(served, vec![0], "the intact chunk only");
}
