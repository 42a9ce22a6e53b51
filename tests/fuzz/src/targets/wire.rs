//! `wire.rs`: the frames replicas send each other and clients send replicas, decoded and
//! then checked as the replica's verifier checks them (size limits, who must have signed
//! what, and the signatures themselves).

use rampart_crypto::{Ed25519, Verifier};
use rampart_replica::core::MessageKey;
use rampart_replica::message::{
    Message, batch_signature_checks, signature_checks, verify_message, verify_request,
};
use rampart_replica::wire::{ClientFrame, PeerFrame};

use super::transfer::CHUNK_BYTES;
use super::{decoded, outcome};
use crate::Outcome;
use crate::fixture::{REPLICA_COUNT, fixture};

pub fn peer_frame(data: &[u8]) -> Outcome {
    let Some(frame) = decoded::<PeerFrame>("peer frame", data) else {
        return Outcome::Refused;
    };
    match frame {
        PeerFrame::Protocol(message) => check_message(message),
        PeerFrame::State(state) => super::transfer::check_state_frame(&state, CHUNK_BYTES),
        PeerFrame::BatchRequest { .. } => Outcome::Accepted,
        PeerFrame::Batch(batch) => {
            let f = fixture();
            batch.digest();
            match batch_signature_checks(&batch, &f.cluster, &f.limits(), &|_| false) {
                Ok(checks) => outcome(Ed25519::new().verify_batch(&checks)),
                Err(_) => Outcome::Refused,
            }
        }
    }
}

/// Checks a protocol message as the verifier does, then verifies its signatures.
pub(crate) fn check_message(message: Message) -> Outcome {
    let f = fixture();
    message.kind();
    message.author(REPLICA_COUNT);
    MessageKey::of(&message, REPLICA_COUNT);
    if signature_checks(&message, &f.cluster, &f.limits()).is_err() {
        return Outcome::Refused;
    }
    outcome(verify_message(
        message,
        &f.cluster,
        &f.limits(),
        &Ed25519::new(),
    ))
}

pub fn client_frame(data: &[u8]) -> Outcome {
    let request = match decoded::<ClientFrame>("client frame", data) {
        Some(ClientFrame::Request { request, .. }) => request,
        // Nothing to check: the replica answers with its view.
        Some(ClientFrame::Status) => return Outcome::Accepted,
        None => return Outcome::Refused,
    };
    let f = fixture();
    request.value.key();
    outcome(verify_request(
        request,
        &f.cluster,
        &f.limits(),
        &Ed25519::new(),
    ))
}
