//! Keys, requests and commit proofs for tests, signed with the real ed25519 keys of a
//! four-replica test cluster.

use bytes::Bytes;

use rampart_crypto::{ClusterId, KeyPair, Signed};
use rampart_protocol::cluster::Cluster;
use rampart_protocol::message::{
    ClientId, Commit, ReplicaId, Reply, Request, Seq, View, batch_digest, request_digest,
};
use rampart_protocol::wire::CommitProof;

pub(crate) const CLUSTER_ID: ClusterId = ClusterId(0x5eed);

/// The keys of replicas 0 to 3, and the cluster they form.
pub(crate) fn test_cluster() -> (Cluster, Vec<KeyPair>) {
    let keys: Vec<KeyPair> = (0..4).map(KeyPair::from_seed).collect();
    let cluster = Cluster::new(CLUSTER_ID, keys.iter().map(KeyPair::public_key).collect())
        .expect("four distinct keys form a valid cluster");
    (cluster, keys)
}

pub(crate) fn client_key() -> KeyPair {
    KeyPair::from_seed(1_000)
}

pub(crate) fn signed_request(
    client: &KeyPair,
    number: u64,
    operation: &'static [u8],
) -> Signed<Request> {
    let request = Request {
        client: ClientId(client.public_key()),
        number,
        operation: Bytes::from_static(operation),
        read_only: false,
    };
    Signed::sign(CLUSTER_ID, request, client).expect("signing a request cannot fail")
}

/// A COMMIT for (view, seq, digest of `request_digests`) signed by `replica`'s key.
pub(crate) fn signed_commit(
    keys: &[KeyPair],
    replica: u32,
    view: View,
    seq: Seq,
    request_digests: &[rampart_crypto::Digest],
) -> Signed<Commit> {
    let commit = Commit {
        view,
        seq,
        digest: batch_digest(request_digests),
        replica: ReplicaId(replica),
    };
    Signed::sign(CLUSTER_ID, commit, &keys[replica as usize]).expect("signing cannot fail")
}

/// A genuine proof that `request` was committed at `seq`, in a batch after `before` other
/// requests, signed by `signers`.
pub(crate) fn commit_proof(
    keys: &[KeyPair],
    signers: &[u32],
    request: &Signed<Request>,
    view: View,
    seq: Seq,
    before: &[Signed<Request>],
) -> CommitProof {
    let mut request_digests: Vec<_> = before.iter().map(request_digest).collect();
    let position = request_digests.len() as u32;
    request_digests.push(request_digest(request));
    let commits = signers
        .iter()
        .map(|&replica| signed_commit(keys, replica, view, seq, &request_digests))
        .collect();
    CommitProof {
        commits,
        request_digests,
        position,
    }
}

/// A reply to `request` at `seq` with `result`, signed by `replica`'s key.
pub(crate) fn signed_reply(
    keys: &[KeyPair],
    replica: u32,
    request: &Signed<Request>,
    seq: Seq,
    result: &'static [u8],
) -> Signed<Reply> {
    let reply = Reply {
        view: View(0),
        seq,
        client: request.value.client,
        number: request.value.number,
        replica: ReplicaId(replica),
        result: Bytes::from_static(result),
        tentative: false,
    };
    Signed::sign(CLUSTER_ID, reply, &keys[replica as usize]).expect("signing cannot fail")
}
