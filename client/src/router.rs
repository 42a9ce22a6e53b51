//! The client's one background task: it reads every frame the replicas send and hands each
//! reply to the request waiting for it.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use rampart_replica::message::{ReplicaId, Reply, decode};
use rampart_replica::wire::{CommitProof, ReplicaFrame};

use crate::certificate::Certificate;
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
        } => on_reply(shared, from, reply, read_only, certificate),
        ReplicaFrame::Refused { number, reason } => {
            let mut state = shared.lock();
            let Some(pending) = state.pending.get_mut(&number) else {
                shared.counters.stale_reply();
                return;
            };
            debug!(replica = %from, number, %reason, "request refused");
            pending.vote(from, Vote::Refused(reason));
            pending.settle(shared.thresholds);
        }
    }
}

fn on_reply(
    shared: &Shared,
    from: ReplicaId,
    reply: Reply,
    read_only: bool,
    proof: Option<CommitProof>,
) {
    if reply.client != shared.client {
        warn!(replica = %from, client = %reply.client, "ignoring a reply for another client");
        shared.counters.malformed_frame();
        return;
    }
    let number = reply.number;
    let candidate = {
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
        pending.vote(from, Vote::Result(reply.result));
        pending.settle(shared.thresholds);
        match (proof, pending.wants_certificate()) {
            (Some(proof), Some(request)) => Certificate {
                request: request.clone(),
                seq: reply.seq,
                proof,
            },
            _ => return,
        }
    };
    // Checking a quorum of signatures takes a while; other calls need not wait for it.
    if let Err(error) = candidate.verify_with(&shared.cluster, &shared.verifier) {
        warn!(replica = %from, number, %error, "ignoring a commit proof that does not verify");
        shared.counters.certificate_refused();
        return;
    }
    let mut state = shared.lock();
    if let Some(pending) = state.pending.get_mut(&number) {
        pending.add_certificate(candidate);
        pending.settle(shared.thresholds);
    }
}
