//! Verification: every signature a message carries, checked against the key that must
//! have made it, after the size limits that bound what a peer can make a replica verify.
//! Only verification creates a [`Verified`] value.

use std::ops::Deref;
use std::sync::Arc;

use rampart_crypto::{CryptoError, PublicKey, Signable, SignatureCheck, Signed, Verifier};

use super::checkpoint::Checkpoint;
use super::envelope::Message;
use super::ids::ReplicaId;
use super::normal::PrePrepare;
use super::request::{Batch, Request};
use super::view_change::ViewChange;
use crate::cluster::Cluster;

/// A value whose signatures have all been checked. Only verification (or a shell that made
/// the signatures itself) creates one, so the core cannot see an unverified signature.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// Wraps a value whose signatures the caller has established some other way: messages
    /// this replica signed itself, or values read back from its own storage.
    pub fn assume_verified(value: T) -> Verified<T> {
        Verified(value)
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Size limits checked before any signature is: they bound the work a peer can cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub batch_size_max: usize,
    pub operation_bytes_max: usize,
    /// L, the log window: the most prepared certificates a VIEW-CHANGE may carry.
    pub log_window: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            batch_size_max: 512,
            operation_bytes_max: 1 << 20,
            log_window: 256,
        }
    }
}

/// Why a message was refused before it reached the protocol core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message names replica {replica}, which is not in the cluster")]
    UnknownReplica { replica: u32 },
    #[error("{what} has {count} entries, more than the limit of {limit}")]
    TooLarge {
        what: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("an operation of {bytes} bytes exceeds the limit of {limit}")]
    OperationTooLarge { bytes: usize, limit: usize },
    #[error("the client is not allowed to use this cluster")]
    UnknownClient,
    #[error("cannot encode message for verification: {reason}")]
    Encode { reason: String },
    #[error("invalid signature in {kind}")]
    InvalidSignature { kind: &'static str },
}

impl From<CryptoError> for MessageError {
    fn from(error: CryptoError) -> MessageError {
        MessageError::Encode {
            reason: error.to_string(),
        }
    }
}

/// Collects every signature a message carries, with the key that must have made it.
struct SignatureCollector<'a> {
    cluster: &'a Cluster,
    limits: &'a Limits,
    checks: Vec<SignatureCheck>,
    /// Requests whose signature was verified already (see [`signature_checks_except`]).
    known: &'a dyn Fn(&Signed<Request>) -> bool,
}

/// Knows no request: every signature is checked.
fn none_known(_: &Signed<Request>) -> bool {
    false
}

impl SignatureCollector<'_> {
    fn replica_key(&self, replica: ReplicaId) -> Result<PublicKey, MessageError> {
        self.cluster
            .key(replica)
            .ok_or(MessageError::UnknownReplica { replica: replica.0 })
    }

    fn add<T: Signable>(&mut self, signed: &Signed<T>, key: PublicKey) -> Result<(), MessageError> {
        self.checks.push(signed.check(self.cluster.id, key)?);
        Ok(())
    }

    fn limit(&self, what: &'static str, count: usize, limit: usize) -> Result<(), MessageError> {
        if count > limit {
            return Err(MessageError::TooLarge { what, count, limit });
        }
        Ok(())
    }

    fn request(&mut self, request: &Signed<Request>) -> Result<(), MessageError> {
        let bytes = request.value.operation.len();
        if bytes > self.limits.operation_bytes_max {
            return Err(MessageError::OperationTooLarge {
                bytes,
                limit: self.limits.operation_bytes_max,
            });
        }
        if (self.known)(request) {
            return Ok(());
        }
        self.add(request, request.value.client.0)
    }

    fn pre_prepare(&mut self, pre_prepare: &Signed<PrePrepare>) -> Result<(), MessageError> {
        let primary = pre_prepare.value.view.primary(self.cluster.size());
        self.add(pre_prepare, self.replica_key(primary)?)
    }

    fn batch(&mut self, batch: &Batch) -> Result<(), MessageError> {
        self.limit("batch", batch.len(), self.limits.batch_size_max)?;
        batch.requests.iter().try_for_each(|r| self.request(r))
    }

    fn batches(&mut self, batches: &[Arc<Batch>], limit: usize) -> Result<(), MessageError> {
        self.limit("attached batches", batches.len(), limit)?;
        batches.iter().try_for_each(|b| self.batch(b))
    }

    fn checkpoint(&mut self, checkpoint: &Signed<Checkpoint>) -> Result<(), MessageError> {
        self.add(checkpoint, self.replica_key(checkpoint.value.replica)?)
    }

    fn view_change(&mut self, view_change: &Signed<ViewChange>) -> Result<(), MessageError> {
        let value = &view_change.value;
        self.add(view_change, self.replica_key(value.replica)?)?;
        let size = self.cluster.size();
        self.limit("checkpoint proof", value.checkpoint.proof.len(), size)?;
        value
            .checkpoint
            .proof
            .iter()
            .try_for_each(|c| self.checkpoint(c))?;
        let window = self.limits.log_window as usize;
        self.limit("prepared certificates", value.prepared.len(), window)?;
        for certificate in &value.prepared {
            self.pre_prepare(&certificate.pre_prepare)?;
            self.limit("prepares", certificate.prepares.len(), size)?;
            for prepare in &certificate.prepares {
                self.add(prepare, self.replica_key(prepare.value.replica)?)?;
            }
        }
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), MessageError> {
        let window = self.limits.log_window as usize;
        match message {
            Message::Request(request) => self.request(request),
            Message::PrePrepare { pre_prepare, batch } => {
                self.pre_prepare(pre_prepare)?;
                self.batch(batch)
            }
            Message::Prepare(m) => self.add(m, self.replica_key(m.value.replica)?),
            Message::Commit(m) => self.add(m, self.replica_key(m.value.replica)?),
            Message::Checkpoint(m) => self.checkpoint(m),
            Message::Status(m) => self.add(m, self.replica_key(m.value.replica)?),
            Message::CommitCertificate(certificate) => {
                self.limit("commits", certificate.commits.len(), self.cluster.size())?;
                for commit in &certificate.commits {
                    self.add(commit, self.replica_key(commit.value.replica)?)?;
                }
                self.batch(&certificate.batch)
            }
            Message::ViewChange {
                view_change,
                batches,
            } => {
                self.view_change(view_change)?;
                self.batches(batches, window)
            }
            Message::NewView { new_view, batches } => {
                let value = &new_view.value;
                let primary = value.view.primary(self.cluster.size());
                self.add(new_view, self.replica_key(primary)?)?;
                self.limit(
                    "view changes",
                    value.view_changes.len(),
                    self.cluster.size(),
                )?;
                value
                    .view_changes
                    .iter()
                    .try_for_each(|v| self.view_change(v))?;
                self.limit("pre-prepares", value.pre_prepares.len(), window)?;
                value
                    .pre_prepares
                    .iter()
                    .try_for_each(|p| self.pre_prepare(p))?;
                self.batches(batches, window)
            }
        }
    }
}

/// Every signature in `message`, with the key that must have made it, after checking the
/// message's size limits. The shell verifies these in batches on worker threads.
pub fn signature_checks(
    message: &Message,
    cluster: &Cluster,
    limits: &Limits,
) -> Result<Vec<SignatureCheck>, MessageError> {
    let mut collector = SignatureCollector {
        cluster,
        limits,
        checks: Vec::new(),
        known: &none_known,
    };
    collector.message(message)?;
    Ok(collector.checks)
}

/// Like [`signature_checks`], leaving out the signatures of the requests `known` says were
/// verified already: clients send every request to every replica, which verifies it on
/// arrival, so a backup need not verify it again inside the primary's PRE-PREPARE. `known`
/// must recognize a request by all its signed bytes and its signature (its
/// [`request_digest`](super::request::request_digest)), never by its signature alone.
pub fn signature_checks_except(
    message: &Message,
    cluster: &Cluster,
    limits: &Limits,
    known: &dyn Fn(&Signed<Request>) -> bool,
) -> Result<Vec<SignatureCheck>, MessageError> {
    collect_checks(cluster, limits, known, |collector| {
        collector.message(message)
    })
}

/// The signature checks of a batch's requests (a batch fetched by digest), leaving out
/// those `known` says were verified already, after checking its size limits.
pub fn batch_signature_checks(
    batch: &Batch,
    cluster: &Cluster,
    limits: &Limits,
    known: &dyn Fn(&Signed<Request>) -> bool,
) -> Result<Vec<SignatureCheck>, MessageError> {
    collect_checks(cluster, limits, known, |collector| collector.batch(batch))
}

fn collect_checks(
    cluster: &Cluster,
    limits: &Limits,
    known: &dyn Fn(&Signed<Request>) -> bool,
    collect: impl FnOnce(&mut SignatureCollector) -> Result<(), MessageError>,
) -> Result<Vec<SignatureCheck>, MessageError> {
    let mut collector = SignatureCollector {
        cluster,
        limits,
        checks: Vec::new(),
        known,
    };
    collect(&mut collector)?;
    Ok(collector.checks)
}

/// Verifies every signature in `message` (nested ones included) in one batch.
pub fn verify_message(
    message: Message,
    cluster: &Cluster,
    limits: &Limits,
    verifier: &dyn Verifier,
) -> Result<Verified<Message>, MessageError> {
    let checks = signature_checks(&message, cluster, limits)?;
    verifier
        .verify_batch(&checks)
        .map_err(|_| MessageError::InvalidSignature {
            kind: message.kind(),
        })?;
    Ok(Verified(message))
}

/// Verifies a client's request.
pub fn verify_request(
    request: Signed<Request>,
    cluster: &Cluster,
    limits: &Limits,
    verifier: &dyn Verifier,
) -> Result<Verified<Signed<Request>>, MessageError> {
    let mut collector = SignatureCollector {
        cluster,
        limits,
        checks: Vec::new(),
        known: &none_known,
    };
    collector.request(&request)?;
    verifier
        .verify_batch(&collector.checks)
        .map_err(|_| MessageError::InvalidSignature {
            kind: Request::KIND,
        })?;
    Ok(Verified(request))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rampart_crypto::{Digest, Ed25519, KeyPair};

    use super::*;
    use crate::message::envelope::Payload;
    use crate::message::ids::{Seq, View};
    use crate::message::normal::Prepare;
    use crate::message::test_support::{cluster, request};

    #[test]
    fn a_signed_pre_prepare_with_its_batch_verifies() {
        let (cluster, keys) = cluster();
        let client = KeyPair::from_seed(100);
        let batch = Arc::new(Batch::new(vec![request(&client, 1), request(&client, 2)]));
        let payload = Payload::PrePrepare {
            pre_prepare: PrePrepare {
                view: View(1),
                seq: Seq(1),
                digest: batch.digest(),
            },
            batch,
        };
        let message = payload.sign(cluster.id, &keys[1]).expect("signs");
        let verified = verify_message(
            message.clone(),
            &cluster,
            &Limits::default(),
            &Ed25519::new(),
        )
        .expect("verifies");
        assert_eq!(*verified, message);

        // Signed by a replica that is not the primary of view 1.
        let forged = Payload::PrePrepare {
            pre_prepare: PrePrepare {
                view: View(1),
                seq: Seq(1),
                digest: Digest::default(),
            },
            batch: Batch::null(),
        }
        .sign(cluster.id, &keys[2])
        .expect("signs");
        assert!(matches!(
            verify_message(forged, &cluster, &Limits::default(), &Ed25519::new()),
            Err(MessageError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn a_tampered_request_inside_a_batch_fails_verification() {
        let (cluster, keys) = cluster();
        let client = KeyPair::from_seed(100);
        let mut tampered = request(&client, 1);
        tampered.value.operation = Bytes::from_static(b"put x 2");
        let batch = Arc::new(Batch::new(vec![tampered]));
        let message = Payload::PrePrepare {
            pre_prepare: PrePrepare {
                view: View(0),
                seq: Seq(1),
                digest: batch.digest(),
            },
            batch,
        }
        .sign(cluster.id, &keys[0])
        .expect("signs");
        assert!(verify_message(message, &cluster, &Limits::default(), &Ed25519::new()).is_err());
    }

    #[test]
    fn oversized_and_unknown_parts_are_refused_before_verification() {
        let (cluster, keys) = cluster();
        let prepare = Payload::Prepare(Prepare {
            view: View(0),
            seq: Seq(1),
            digest: Digest::default(),
            replica: ReplicaId(9),
        })
        .sign(cluster.id, &keys[1])
        .expect("signs");
        assert_eq!(
            verify_message(prepare, &cluster, &Limits::default(), &Ed25519::new()),
            Err(MessageError::UnknownReplica { replica: 9 })
        );

        let client = KeyPair::from_seed(100);
        let limits = Limits {
            batch_size_max: 1,
            ..Limits::default()
        };
        let batch = Arc::new(Batch::new(vec![request(&client, 1), request(&client, 2)]));
        let message = Payload::PrePrepare {
            pre_prepare: PrePrepare {
                view: View(0),
                seq: Seq(1),
                digest: batch.digest(),
            },
            batch,
        }
        .sign(cluster.id, &keys[0])
        .expect("signs");
        assert!(matches!(
            verify_message(message, &cluster, &limits, &Ed25519::new()),
            Err(MessageError::TooLarge { what: "batch", .. })
        ));
    }
}
