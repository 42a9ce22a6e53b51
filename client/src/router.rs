//! The client's one background task: it reads every frame the replicas send and hands each
//! reply to the request waiting for it.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use rampart_crypto::{Signature, Signed};
use rampart_protocol::message::{ReplicaId, Reply, decode};
use rampart_protocol::wire::{CommitProof, ReplicaFrame};

use crate::certificate::{verify_commit, verify_reply};
use crate::pending::Vote;
use crate::shared::Shared;

/// Routes frames until the transport stops, then closes the client.
pub(crate) async fn run(shared: Arc<Shared>, mut inbound: mpsc::Receiver<(ReplicaId, Bytes)>) {
    while let Some((from, frame)) = inbound.recv().await {
        route(&shared, from, &frame);
    }
    debug!("the transport stopped; closing the client");
    shared.close();
}

/// Handles one frame from replica `from`, whose identity the transport authenticated.
/// Replica input may be Byzantine: whatever it is, it is counted and dropped, never trusted
/// beyond one vote for `from`.
fn route(shared: &Shared, from: ReplicaId, frame: &[u8]) {
    let frame: ReplicaFrame = match decode("replica frame", frame) {
        Ok(frame) => frame,
        Err(error) => {
            warn!(replica = %from, %error, "ignoring a malformed frame");
            shared.counters.malformed_frame();
            return;
        }
    };
    match frame {
        ReplicaFrame::Reply {
            reply,
            read_only,
            certificate,
            signature,
        } => on_reply(shared, from, reply, read_only, certificate, signature),
        ReplicaFrame::StatusAnswer { replica, view } => {
            // A correct replica names itself; the vote is the authenticated sender's.
            if replica != from {
                warn!(replica = %from, claimed = %replica, "ignoring a status answer for another replica");
                shared.counters.malformed_frame();
                return;
            }
            shared.lock().views.observe(from, view);
            shared.views_reported.notify_waiters();
        }
        ReplicaFrame::Refused { number, refusal } => {
            let mut state = shared.lock();
            let Some(pending) = state.pending.get_mut(&number) else {
                shared.counters.stale_reply();
                return;
            };
            debug!(replica = %from, number, %refusal, "request refused");
            pending.vote(from, Vote::Refused(refusal));
            pending.settle(shared.quorums);
        }
    }
}

fn on_reply(
    shared: &Shared,
    from: ReplicaId,
    reply: Reply,
    read_only: bool,
    proof: Option<CommitProof>,
    signature: Option<Signature>,
) {
    if reply.client != shared.client {
        warn!(replica = %from, client = %reply.client, "ignoring a reply for another client");
        shared.counters.malformed_frame();
        return;
    }
    let number = reply.number;
    let (request, needs_proof) = {
        let mut state = shared.lock();
        state.views.observe(from, reply.view);
        let Some(pending) = state.pending.get_mut(&number) else {
            shared.counters.stale_reply();
            return;
        };
        if pending.is_read_only() != read_only {
            warn!(replica = %from, number, read_only, "ignoring a reply of the wrong kind");
            shared.counters.malformed_frame();
            return;
        }
        pending.vote(
            from,
            Vote::Result {
                view: reply.view,
                seq: reply.seq,
                result: reply.result.clone(),
                tentative: reply.tentative && !read_only,
            },
        );
        pending.settle(shared.quorums);
        match pending.wants_certificate() {
            Some(request) => (request.clone(), !pending.has_proof()),
            None => return,
        }
    };
    // Checking signatures takes a while; other calls need not wait for it, so the state
    // is unlocked meanwhile.
    let verified_proof = proof.filter(|_| needs_proof).and_then(|proof| {
        match verify_commit(&request, reply.seq, &proof, &shared.cluster, &shared.verifier) {
            Ok(_) => Some(proof),
            Err(error) => {
                warn!(replica = %from, number, %error, "ignoring a commit proof that does not verify");
                shared.counters.certificate_refused();
                None
            }
        }
    });
    let signed = signature.map(|signature| Signed {
        value: reply.clone(),
        signature,
    });
    // The reply must be the authenticated sender's own: a replica cannot lend its vote.
    let verified_reply = signed.filter(|signed| signed.value.replica == from).and_then(|signed| {
        match verify_reply(&request, reply.seq, &signed, &shared.cluster, &shared.verifier) {
            Ok(()) => Some(signed),
            Err(error) => {
                warn!(replica = %from, number, %error, "ignoring a signed reply that does not verify");
                shared.counters.certificate_refused();
                None
            }
        }
    });
    let mut state = shared.lock();
    if let Some(pending) = state.pending.get_mut(&number) {
        if let Some(proof) = verified_proof {
            pending.add_proof(reply.seq, proof);
        }
        if let Some(signed) = verified_reply {
            pending.add_signed_reply(from, signed);
        }
        pending.settle(shared.quorums);
    }
}
