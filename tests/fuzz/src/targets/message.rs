//! `message.rs`: every protocol message kind and the certificates nested in them, each
//! decoded on its own, so that fuzzing starts right at the nested types.
//!
//! Input: a byte choosing the type, then its encoding.

use std::sync::Arc;

use rampart_crypto::Signed;
use rampart_replica::message::{
    Batch, CheckpointCertificate, CommitCertificate, Message, NewView, PreparedCertificate,
    Request, ViewChange,
};
use rampart_replica::wire::CommitProof;

use super::decoded;
use super::wire::check_message;
use crate::Outcome;

/// The types, in the order of the selector byte.
pub const KINDS: [&str; 9] = [
    "message",
    "request",
    "batch",
    "commit certificate",
    "view change",
    "new view",
    "prepared certificate",
    "checkpoint certificate",
    "commit proof",
];

pub fn run(data: &[u8]) -> Outcome {
    let Some((&kind, bytes)) = data.split_first() else {
        return Outcome::Refused;
    };
    let what = KINDS[usize::from(kind) % KINDS.len()];
    let message = match usize::from(kind) % KINDS.len() {
        0 => decoded::<Message>(what, bytes),
        1 => decoded::<Signed<Request>>(what, bytes).map(Message::Request),
        2 => decoded::<Batch>(what, bytes).map(|batch| {
            let digest = batch.digest();
            let batch = Arc::new(batch);
            let header = crate::fixture::fixture().pre_prepare(0, 1, digest);
            Message::PrePrepare {
                pre_prepare: header,
                batch,
            }
        }),
        3 => decoded::<CommitCertificate>(what, bytes).map(|certificate| {
            certificate.subject();
            Message::CommitCertificate(certificate)
        }),
        4 => decoded::<Signed<ViewChange>>(what, bytes).map(|view_change| Message::ViewChange {
            view_change,
            batches: Vec::new(),
        }),
        5 => decoded::<Signed<NewView>>(what, bytes).map(|new_view| Message::NewView {
            new_view,
            batches: Vec::new(),
        }),
        6 => decoded::<PreparedCertificate>(what, bytes).map(|certificate| {
            // Checked as the certificate travels: inside a VIEW-CHANGE.
            let f = crate::fixture::fixture();
            let new_view = certificate.view().0.saturating_add(1);
            let view_change = f.view_change(
                1,
                new_view,
                CheckpointCertificate::genesis(),
                vec![certificate],
            );
            Message::ViewChange {
                view_change,
                batches: Vec::new(),
            }
        }),
        7 => decoded::<CheckpointCertificate>(what, bytes).map(|certificate| {
            let f = crate::fixture::fixture();
            let view_change = f.view_change(0, 1, certificate, Vec::new());
            Message::ViewChange {
                view_change,
                batches: Vec::new(),
            }
        }),
        _ => {
            return match decoded::<CommitProof>(what, bytes) {
                Some(proof) => super::client::check_proof(proof),
                None => Outcome::Refused,
            };
        }
    };
    match message {
        Some(message) => check_message(message),
        None => Outcome::Refused,
    }
}
