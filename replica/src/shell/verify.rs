//! The inbound pipeline: frames from the transport are decoded and their signatures
//! verified in batches on dedicated verifier threads, never on the thread that runs the
//! core, and never on the async runtime. What fails is dropped and counted, and logged
//! at debug level: the node's watch logs each reason at most once a minute
//! (`ops::refusals`), so that a peer sending garbage cannot fill the log. What passes
//! reaches the core as [`Verified`].

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use rampart_crypto::{Digest, PublicKey, SignatureCheck, Signed, Verifier};

use crate::cluster::Cluster;
use crate::message::{
    Batch, Limits, Message, Refusal, ReplicaId, Request, Verified, batch_signature_checks, decode,
    signature_checks_except,
};
use crate::net::Inbound;
use crate::transfer::StateFrame;
use crate::wire::{ClientFrame, PeerFrame};

use super::progress::Progress;
use super::verified::VerifiedRequests;

/// What the shell receives from the verifier threads.
#[derive(Debug)]
pub enum CoreInput {
    Message {
        from: ReplicaId,
        message: Verified<Message>,
    },
    Request {
        request: Verified<Signed<Request>>,
        certify: bool,
        all_answer: bool,
    },
    /// A peer asks for a batch by digest.
    BatchRequest { from: ReplicaId, digest: Digest },
    /// A batch a peer sent, its requests' signatures checked.
    Batch {
        from: ReplicaId,
        batch: Verified<Arc<Batch>>,
    },
    /// A client asks which view this replica is in (see [`ClientFrame::Status`]).
    StatusRequest { client: PublicKey },
    /// A client frame that could not be accepted; the client hears why.
    Refused {
        client: PublicKey,
        number: u64,
        refusal: Refusal,
    },
    /// A state transfer frame from a peer.
    State { from: ReplicaId, frame: StateFrame },
}

/// Counters of what the pipeline refused.
#[derive(Debug, Default)]
pub struct InboundCounters {
    pub frames_undecodable: AtomicU64,
    pub messages_refused: AtomicU64,
    pub signatures_invalid: AtomicU64,
    pub messages_verified: AtomicU64,
    /// PREPAREs and COMMITs dropped unverified because their slot had already moved on
    /// (see `progress.rs`).
    pub messages_redundant: AtomicU64,
    /// Batch verifications run over the frames the verifier threads took together, the
    /// signatures they checked, and their distinct signers, summed over the batches: a
    /// batch costs less per signature the more signatures share a signer.
    pub verify_batches: AtomicU64,
    pub verify_batch_signatures: AtomicU64,
    pub verify_batch_signers: AtomicU64,
}

/// Decodes and verifies frames: on the node's verifier threads, and inline in the
/// simulator, which hands it the encoded frames its network carries.
#[derive(Debug)]
pub struct Checker {
    cluster: Cluster,
    limits: Limits,
    verifier: Arc<dyn Verifier>,
    counters: Arc<InboundCounters>,
    progress: Arc<Progress>,
    /// Requests verified on arrival from their clients (see `verified.rs`).
    verified_requests: VerifiedRequests,
}

/// One decoded frame waiting for its signatures to be checked: `checks` is where they lie
/// among all the checks of its batch.
enum Pending {
    Message {
        from: ReplicaId,
        message: Message,
        checks: Range<usize>,
    },
    Request {
        client: PublicKey,
        request: Signed<Request>,
        certify: bool,
        all_answer: bool,
        checks: Range<usize>,
    },
    /// A batch fetched by digest, waiting for its requests' signatures.
    Batch {
        from: ReplicaId,
        batch: Arc<Batch>,
        checks: Range<usize>,
    },
    Ready(CoreInput),
}

impl Checker {
    /// A checker for `cluster`'s frames, refusing what exceeds `limits`. `progress` is the
    /// shell's (see [`super::Shell::progress`]): it lets the checker drop PREPAREs and
    /// COMMITs whose slot moved on without verifying them.
    pub fn new(
        cluster: Cluster,
        limits: Limits,
        verifier: Arc<dyn Verifier>,
        progress: Arc<Progress>,
    ) -> Checker {
        Checker {
            cluster,
            limits,
            verifier,
            counters: Arc::default(),
            progress,
            verified_requests: VerifiedRequests::default(),
        }
    }

    /// What the checker refused and verified so far.
    pub fn counters(&self) -> &Arc<InboundCounters> {
        &self.counters
    }

    /// Decodes, checks limits and verifies a batch of frames: one batch verification for
    /// all of them, falling back to one per frame only if the batch fails.
    pub fn check(&self, frames: Vec<Inbound>) -> Vec<CoreInput> {
        let mut all = Vec::new();
        let pending: Vec<Pending> = frames
            .into_iter()
            .filter_map(|frame| self.decode(frame, &mut all))
            .collect();
        let all_valid = self.verifier.verify_batch(&all).is_ok();
        if !all.is_empty() {
            let signers: HashSet<&PublicKey> = all.iter().map(|check| &check.key).collect();
            let counters = &self.counters;
            counters.verify_batches.fetch_add(1, Ordering::Relaxed);
            counters
                .verify_batch_signatures
                .fetch_add(all.len() as u64, Ordering::Relaxed);
            counters
                .verify_batch_signers
                .fetch_add(signers.len() as u64, Ordering::Relaxed);
        }
        pending
            .into_iter()
            .filter_map(|p| self.finish(p, &all, all_valid))
            .collect()
    }

    fn finish(
        &self,
        pending: Pending,
        all: &[SignatureCheck],
        all_valid: bool,
    ) -> Option<CoreInput> {
        let valid =
            |checks: Range<usize>| all_valid || self.verifier.verify_batch(&all[checks]).is_ok();
        match pending {
            Pending::Ready(input) => Some(input),
            Pending::Batch {
                from,
                batch,
                checks,
            } => {
                if valid(checks) {
                    for request in &batch.requests {
                        self.verified_requests.insert(request);
                    }
                    Some(CoreInput::Batch {
                        from,
                        batch: Verified::assume_verified(batch),
                    })
                } else {
                    self.counters
                        .signatures_invalid
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, "a fetched batch holds an invalid request signature: dropped");
                    None
                }
            }
            Pending::Message {
                from,
                message,
                checks,
            } => {
                if valid(checks) {
                    self.counters
                        .messages_verified
                        .fetch_add(1, Ordering::Relaxed);
                    // A request may reach a backup in the primary's batch before it comes
                    // from its client: verified here, it need not be verified again then.
                    if let Message::PrePrepare { batch, .. } = &message {
                        for request in &batch.requests {
                            self.verified_requests.insert(request);
                        }
                    }
                    Some(CoreInput::Message {
                        from,
                        message: Verified::assume_verified(message),
                    })
                } else {
                    self.counters
                        .signatures_invalid
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%from, kind = message.kind(), "invalid signature: message dropped");
                    None
                }
            }
            Pending::Request {
                client,
                request,
                certify,
                all_answer,
                checks,
            } => {
                if valid(checks) {
                    self.verified_requests.insert(&request);
                    Some(CoreInput::Request {
                        request: Verified::assume_verified(request),
                        certify,
                        all_answer,
                    })
                } else {
                    self.counters
                        .signatures_invalid
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(client = %client.short(), "invalid request signature");
                    Some(CoreInput::Refused {
                        client,
                        number: request.value.number,
                        refusal: Refusal::Invalid {
                            reason: "the request's signature does not verify against its client \
                                     key"
                            .to_string(),
                        },
                    })
                }
            }
        }
    }

    /// Decodes a frame, appending its signature checks to `checks`.
    fn decode(&self, frame: Inbound, checks: &mut Vec<SignatureCheck>) -> Option<Pending> {
        match frame {
            Inbound::Replica { from, frame } => self.decode_peer(from, &frame, checks),
            Inbound::Client { from, frame } => self.decode_client(from, &frame, checks),
        }
    }

    fn undecodable(&self, who: &str, error: impl std::fmt::Display) -> Option<Pending> {
        self.counters
            .frames_undecodable
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(from = who, %error, "undecodable frame dropped");
        None
    }

    fn decode_peer(
        &self,
        from: ReplicaId,
        frame: &Bytes,
        all: &mut Vec<SignatureCheck>,
    ) -> Option<Pending> {
        let frame: PeerFrame = match decode("peer frame", frame) {
            Ok(frame) => frame,
            Err(error) => return self.undecodable(&from.to_string(), error),
        };
        Some(match frame {
            PeerFrame::Protocol(message) => {
                if self.progress.redundant(&message) {
                    self.counters
                        .messages_redundant
                        .fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                // Hash batches here, before the shell is taken; the digest is cached in the batch.
                if let Message::PrePrepare { batch, .. } = &message {
                    batch.digest();
                }
                let known = |request: &Signed<Request>| self.verified_requests.contains(request);
                match signature_checks_except(&message, &self.cluster, &self.limits, &known) {
                    Ok(checks) => Pending::Message {
                        from,
                        message,
                        checks: append(all, checks),
                    },
                    Err(error) => {
                        self.counters
                            .messages_refused
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%from, %error, "message refused");
                        return None;
                    }
                }
            }
            PeerFrame::State(frame) => Pending::Ready(CoreInput::State { from, frame }),
            PeerFrame::BatchRequest { digest } => {
                Pending::Ready(CoreInput::BatchRequest { from, digest })
            }
            PeerFrame::Batch(batch) => {
                let known = |request: &Signed<Request>| self.verified_requests.contains(request);
                match batch_signature_checks(&batch, &self.cluster, &self.limits, &known) {
                    Ok(checks) => Pending::Batch {
                        from,
                        batch,
                        checks: append(all, checks),
                    },
                    Err(error) => {
                        self.counters
                            .messages_refused
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%from, %error, "fetched batch refused");
                        return None;
                    }
                }
            }
        })
    }

    fn decode_client(
        &self,
        client: PublicKey,
        frame: &Bytes,
        all: &mut Vec<SignatureCheck>,
    ) -> Option<Pending> {
        let frame: ClientFrame = match decode("client frame", frame) {
            Ok(frame) => frame,
            Err(error) => return self.undecodable(&client.short(), error),
        };
        let (request, certify, all_answer) = match frame {
            ClientFrame::Request {
                request,
                certify,
                all_answer,
            } => (request, certify, all_answer),
            // Nothing to verify: the transport authenticated the client.
            ClientFrame::Status => {
                return Some(Pending::Ready(CoreInput::StatusRequest { client }));
            }
        };
        let message = Message::Request(request);
        let known = |request: &Signed<Request>| self.verified_requests.contains(request);
        match signature_checks_except(&message, &self.cluster, &self.limits, &known) {
            Ok(checks) => {
                let Message::Request(request) = message else {
                    unreachable!("built as a request above");
                };
                Some(Pending::Request {
                    client,
                    request,
                    certify,
                    all_answer,
                    checks: append(all, checks),
                })
            }
            Err(error) => {
                self.counters
                    .messages_refused
                    .fetch_add(1, Ordering::Relaxed);
                let Message::Request(request) = message else {
                    unreachable!("built as a request above");
                };
                Some(Pending::Ready(CoreInput::Refused {
                    client,
                    number: request.value.number,
                    refusal: Refusal::Invalid {
                        reason: error.to_string(),
                    },
                }))
            }
        }
    }
}

/// Moves `checks` to the end of `all`, returning where they now lie.
fn append(all: &mut Vec<SignatureCheck>, checks: Vec<SignatureCheck>) -> Range<usize> {
    let start = all.len();
    all.extend(checks);
    start..all.len()
}

#[cfg(test)]
mod tests {
    use rampart_crypto::{Ed25519, KeyPair, Signable};

    use super::*;
    use crate::message::{ClientId, Limits, Seq, View, encode};
    use crate::store::fixture::{self, CLUSTER, REPLICA_COUNT};

    fn checker() -> Checker {
        let keys = (0..REPLICA_COUNT as u32)
            .map(|replica| fixture::key(replica).public_key())
            .collect();
        Checker::new(
            Cluster::new(CLUSTER, keys).expect("a valid cluster"),
            Limits::default(),
            Arc::new(Ed25519::new()),
            Arc::default(),
        )
    }

    fn request_frame(client: &KeyPair, number: u64, forged: bool) -> Inbound {
        let request = Request {
            client: ClientId(client.public_key()),
            number,
            operation: Bytes::from_static(b"op"),
            read_only: false,
        };
        let mut request = Signed::sign(CLUSTER, request, client).expect("signs");
        if forged {
            request.signature.0[7] ^= 1;
        }
        let frame = ClientFrame::Request {
            request,
            certify: false,
            all_answer: false,
        };
        Inbound::Client {
            from: client.public_key(),
            frame: Bytes::from(encode(&frame)),
        }
    }

    fn prepare_frame(replica: u32, seq: u64, forged: bool) -> Inbound {
        let mut message = fixture::prepare(View(0), Seq(seq), fixture::digest(seq), replica);
        if forged && let Message::Prepare(prepare) = &mut message {
            prepare.signature.0[3] ^= 1;
        }
        Inbound::Replica {
            from: ReplicaId(replica),
            frame: Bytes::from(encode(&PeerFrame::Protocol(message))),
        }
    }

    fn signed_request(client: &KeyPair, number: u64) -> Signed<Request> {
        let Inbound::Client { frame, .. } = request_frame(client, number, false) else {
            unreachable!("a client frame");
        };
        let Ok(ClientFrame::Request { request, .. }) =
            decode::<ClientFrame>("client frame", &frame)
        else {
            unreachable!("a request frame");
        };
        request
    }

    fn pre_prepare_frame(requests: Vec<Signed<Request>>) -> Inbound {
        let batch = Arc::new(crate::message::Batch::new(requests));
        let message = fixture::pre_prepare(View(0), Seq(1), batch);
        Inbound::Replica {
            from: ReplicaId(0),
            frame: Bytes::from(encode(&PeerFrame::Protocol(message))),
        }
    }

    /// Clients send every request to every replica: a request verified on arrival is not
    /// verified again inside the PRE-PREPARE, but a request the replica has not seen, or one
    /// changed since, is.
    #[test]
    fn requests_verified_on_arrival_are_not_verified_again_in_a_pre_prepare() {
        let checker = checker();
        let client = KeyPair::from_seed(50);
        let known = signed_request(&client, 1);
        assert_eq!(
            checker.check(vec![request_frame(&client, 1, false)]).len(),
            1
        );
        let signatures = || {
            checker
                .counters
                .verify_batch_signatures
                .load(Ordering::Relaxed)
        };
        let before = signatures();
        let inputs = checker.check(vec![pre_prepare_frame(vec![known.clone()])]);
        assert_eq!(inputs.len(), 1);
        assert_eq!(signatures() - before, 1, "the PRE-PREPARE's signature only");

        let before = signatures();
        let unseen = signed_request(&client, 2);
        checker.check(vec![pre_prepare_frame(vec![known.clone(), unseen])]);
        assert_eq!(signatures() - before, 2);

        let mut changed = known;
        changed.value.operation = Bytes::from_static(b"another operation");
        let inputs = checker.check(vec![pre_prepare_frame(vec![changed])]);
        assert!(
            inputs.is_empty(),
            "a changed request's old signature does not verify"
        );
    }

    /// One bad signature fails the batch verification; each frame is then checked on its own
    /// signatures, so only the forged ones are refused and the others reach the core.
    #[test]
    fn a_forged_frame_among_valid_ones_is_the_only_one_refused() {
        let checker = checker();
        let (honest, forger) = (KeyPair::from_seed(50), KeyPair::from_seed(51));
        let frames = vec![
            request_frame(&honest, 1, false),
            prepare_frame(1, 1, false),
            request_frame(&forger, 1, true),
            request_frame(&honest, 2, false),
            prepare_frame(2, 1, true),
            prepare_frame(3, 1, false),
            Inbound::Replica {
                from: ReplicaId(2),
                frame: Bytes::from_static(b"\xff\xff not a frame"),
            },
        ];
        let inputs = checker.check(frames);

        let summary: Vec<String> = inputs
            .iter()
            .map(|input| match input {
                CoreInput::Request { request, .. } => format!("request {}", request.value.number),
                CoreInput::Message { from, message } => format!("{} from {from}", message.kind()),
                CoreInput::Refused { client, .. } if *client == forger.public_key() => {
                    "refused the forger".to_string()
                }
                other => format!("unexpected {other:?}"),
            })
            .collect();
        let prepare = crate::message::Prepare::KIND;
        assert_eq!(
            summary,
            [
                "request 1".to_string(),
                format!("{prepare} from r1"),
                "refused the forger".to_string(),
                "request 2".to_string(),
                format!("{prepare} from r3"),
            ]
        );
        let counters = &checker.counters;
        assert_eq!(counters.signatures_invalid.load(Ordering::Relaxed), 2);
        assert_eq!(counters.frames_undecodable.load(Ordering::Relaxed), 1);
        assert_eq!(counters.messages_verified.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_batch_of_valid_frames_passes_whole() {
        let checker = checker();
        let client = KeyPair::from_seed(50);
        let frames = (1..=20)
            .map(|number| request_frame(&client, number, false))
            .chain((1..4).map(|replica| prepare_frame(replica, 9, false)))
            .collect();
        let inputs = checker.check(frames);
        assert_eq!(inputs.len(), 23);
        assert!(
            inputs.iter().all(|input| matches!(
                input,
                CoreInput::Request { .. } | CoreInput::Message { .. }
            ))
        );
        let counters = &checker.counters;
        assert_eq!(counters.signatures_invalid.load(Ordering::Relaxed), 0);
        assert_eq!(counters.verify_batches.load(Ordering::Relaxed), 1);
        assert_eq!(counters.verify_batch_signatures.load(Ordering::Relaxed), 23);
        // The client and three replicas.
        assert_eq!(counters.verify_batch_signers.load(Ordering::Relaxed), 4);
    }
}
