//! The messages of PBFT (Castro and Liskov, TOCS 2002, §4) and of Rampart's client protocol.
//!
//! Replica-to-replica messages are [`Message`]s whose parts are [`Signed`] by their
//! authors. The protocol core emits unsigned [`Payload`]s; the shell signs them
//! ([`Payload::sign`]) and verifies incoming messages ([`verify_message`]) before the core
//! sees them, as [`Verified`] values.
//!
//! A PRE-PREPARE signs only the digest of its batch, as in PBFT, and carries the batch
//! beside the signature. Certificates (prepared certificates in VIEW-CHANGE, the
//! pre-prepares of NEW-VIEW) therefore stay small; the batches they refer to travel beside
//! them, in `batches`, and are bound to the certificates by their digests.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use rampart_crypto::{
    ClusterId, CryptoError, Digest, PublicKey, Signable, SignatureCheck, Signed, Signer, Verifier,
};

use crate::cluster::Cluster;

/// A replica's index in the cluster description.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
pub struct ReplicaId(pub u32);

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A view number. The primary of view v is replica v mod n (PBFT §4.1).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
pub struct View(pub u64);

impl View {
    pub fn primary(self, replica_count: usize) -> ReplicaId {
        ReplicaId((self.0 % replica_count as u64) as u32)
    }

    pub fn next(self) -> View {
        View(self.0 + 1)
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A sequence number assigned by the primary.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
pub struct Seq(pub u64);

impl Seq {
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A client, identified by its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ClientId(pub PublicKey);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0.short())
    }
}

/// REQUEST (PBFT §4.1): a client asks for `operation` to be executed. `number` is PBFT's
/// timestamp: it grows with every new request of the client, and a replica executes each
/// (client, number) at most once.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Request {
    pub client: ClientId,
    pub number: u64,
    pub operation: Bytes,
    /// A read-only request may be answered at once from the current state (PBFT §5.1.3);
    /// it is never ordered.
    pub read_only: bool,
}

impl Signable for Request {
    const KIND: &'static str = "request";
}

impl Request {
    pub fn key(&self) -> RequestKey {
        RequestKey {
            client: self.client,
            number: self.number,
        }
    }
}

/// What identifies a request: its client and number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct RequestKey {
    pub client: ClientId,
    pub number: u64,
}

pub use crate::refusal::{REQUEST_NUMBER_MAX, Refusal};

/// An upper bound on what a signed request's encoding adds to its operation: the client
/// key, the number, the length prefix, the read-only flag and the signature.
pub const REQUEST_OVERHEAD_BYTES: usize = 128;

/// The bytes a request counts for in a batch (see `Config::batch_bytes_max`): an upper
/// bound on its encoded size, computed without encoding it.
pub fn request_bytes(request: &Signed<Request>) -> usize {
    request.value.operation.len() + REQUEST_OVERHEAD_BYTES
}

/// An upper bound on a batch's encoded size: its requests' [`request_bytes`] and the
/// length prefix.
pub fn batch_bytes(batch: &Batch) -> usize {
    batch.requests.iter().map(request_bytes).sum::<usize>() + 16
}

/// An upper bound on the encoded size of one signed protocol message of a few fixed
/// fields (PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT): view and sequence number (bincode's
/// variable-length integers at their longest), a digest, a replica id, a signature.
pub const SIGNED_MESSAGE_BYTES_MAX: usize = 160;

/// The digest of a signed request, as it enters a batch digest.
pub fn request_digest(request: &Signed<Request>) -> Digest {
    Digest::of(&encode(request))
}

/// REPLY (PBFT §4.1). Replies travel over the client's authenticated connection and are
/// not signed one by one; a client that needs transferable proof asks for a commit
/// certificate instead.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Reply {
    pub view: View,
    pub seq: Seq,
    pub client: ClientId,
    pub number: u64,
    pub replica: ReplicaId,
    pub result: Bytes,
    /// Executed tentatively (PBFT §5.1.2): the batch had prepared in `view` but not yet
    /// committed. A client accepts a tentative result only from 2f + 1 replicas that agree
    /// on view, sequence number and result; f + 1 committed replies suffice.
    pub tentative: bool,
}

impl Reply {
    /// The request this answers.
    pub fn key(&self) -> RequestKey {
        RequestKey {
            client: self.client,
            number: self.number,
        }
    }

    /// What this reply weighs in [`accepted_result`].
    pub fn vote(&self) -> ResultVote<'_> {
        ResultVote {
            view: self.view,
            seq: self.seq,
            result: &self.result,
            tentative: self.tentative,
        }
    }
}

impl Signable for Reply {
    const KIND: &'static str = "reply";
}

/// One replica's latest result for an ordered request, as a client weighs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultVote<'a> {
    /// The view the replica executed the request in.
    pub view: View,
    pub seq: Seq,
    pub result: &'a Bytes,
    pub tentative: bool,
}

/// The result a client may accept for an ordered request, given each replica's latest
/// result (one vote per replica), the one rule the client SDK and the simulated clients
/// share:
///
/// - f + 1 (`weak_quorum`) matching committed results (PBFT §4.1): one of those replicas
///   is correct;
/// - or, when `tentative_counts`, `quorum` (2f + 1) results that match in view, sequence
///   number and result, tentative or committed (§5.1.2). Those include f + 1 correct
///   replicas, each of which either committed the request there or had it prepared there,
///   so any view change keeps it there; either way the result, which depends only on the
///   committed batches before it, stands.
pub fn accepted_result<'a>(
    votes: &[ResultVote<'a>],
    weak_quorum: usize,
    quorum: usize,
    tentative_counts: bool,
) -> Option<&'a Bytes> {
    let count =
        |matches: &dyn Fn(&ResultVote<'a>) -> bool| votes.iter().filter(|v| matches(v)).count();
    let executed_alike = votes.iter().find(|vote| {
        tentative_counts
            && count(&|other| {
                (other.view, other.seq, other.result) == (vote.view, vote.seq, vote.result)
            }) >= quorum
    });
    let committed = || {
        votes.iter().find(|vote| {
            !vote.tentative
                && count(&|other| !other.tentative && other.result == vote.result) >= weak_quorum
        })
    };
    executed_alike.or_else(committed).map(|vote| vote.result)
}

/// The requests a PRE-PREPARE orders, in execution order. An empty batch is PBFT's null
/// request, used to fill gaps in a new view.
#[derive(Default, Serialize, Deserialize)]
pub struct Batch {
    pub requests: Vec<Signed<Request>>,
    #[serde(skip)]
    digest: OnceLock<Digest>,
}

impl Batch {
    pub fn new(requests: Vec<Signed<Request>>) -> Batch {
        Batch {
            requests,
            digest: OnceLock::new(),
        }
    }

    /// An empty batch: PBFT's null request.
    pub fn null() -> Arc<Batch> {
        Arc::new(Batch::default())
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The digest the PRE-PREPARE signs: over the digests of the requests, so that a
    /// commit certificate can prove a request's place in the batch with the list of
    /// request digests alone.
    pub fn digest(&self) -> Digest {
        *self.digest.get_or_init(|| {
            let digests: Vec<Digest> = self.requests.iter().map(request_digest).collect();
            batch_digest(&digests)
        })
    }
}

/// The batch digest of a list of request digests (see [`Batch::digest`]).
pub fn batch_digest(request_digests: &[Digest]) -> Digest {
    let mut builder = Digest::builder();
    builder
        .update(b"rampart/batch/v1")
        .update(&(request_digests.len() as u64).to_le_bytes());
    for digest in request_digests {
        builder.update(digest.as_bytes());
    }
    builder.finish()
}

impl Clone for Batch {
    fn clone(&self) -> Batch {
        Batch {
            requests: self.requests.clone(),
            digest: self.digest.clone(),
        }
    }
}

impl PartialEq for Batch {
    fn eq(&self, other: &Batch) -> bool {
        self.requests == other.requests
    }
}

impl Eq for Batch {}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch({} requests)", self.requests.len())
    }
}

/// PRE-PREPARE (PBFT §4.2): the primary of `view` assigns `seq` to the batch with `digest`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PrePrepare {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
}

impl Signable for PrePrepare {
    const KIND: &'static str = "pre-prepare";
}

/// PREPARE (PBFT §4.2): a backup accepted the pre-prepare for (view, seq, digest).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Prepare {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
    pub replica: ReplicaId,
}

impl Signable for Prepare {
    const KIND: &'static str = "prepare";
}

/// COMMIT (PBFT §4.2): the replica has prepared (view, seq, digest).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Commit {
    pub view: View,
    pub seq: Seq,
    pub digest: Digest,
    pub replica: ReplicaId,
}

impl Signable for Commit {
    const KIND: &'static str = "commit";
}

/// CHECKPOINT (PBFT §4.3): the replica's state after executing `seq` has `state_digest`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: Seq,
    pub state_digest: Digest,
    pub replica: ReplicaId,
}

impl Signable for Checkpoint {
    const KIND: &'static str = "checkpoint";
}

/// A stable checkpoint with its proof: a quorum of matching CHECKPOINT messages (PBFT
/// §4.3). The genesis checkpoint, sequence number 0, needs no proof.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CheckpointCertificate {
    pub seq: Seq,
    pub state_digest: Digest,
    pub proof: Vec<Signed<Checkpoint>>,
}

impl CheckpointCertificate {
    pub fn genesis() -> CheckpointCertificate {
        CheckpointCertificate {
            seq: Seq(0),
            state_digest: Digest::default(),
            proof: Vec::new(),
        }
    }
}

/// A prepared certificate (PBFT §4.4): the pre-prepare and a quorum minus one of matching
/// prepares from distinct backups.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PreparedCertificate {
    pub pre_prepare: Signed<PrePrepare>,
    pub prepares: Vec<Signed<Prepare>>,
}

impl PreparedCertificate {
    pub fn view(&self) -> View {
        self.pre_prepare.value.view
    }

    pub fn seq(&self) -> Seq {
        self.pre_prepare.value.seq
    }

    pub fn digest(&self) -> Digest {
        self.pre_prepare.value.digest
    }
}

/// A commit certificate: a quorum (2f + 1) of matching COMMITs for one view, sequence
/// number and digest, with the batch. It proves the batch is committed at that sequence
/// number (PBFT §4.2: committed(m, v, n) holds at f + 1 correct replicas), whatever view
/// the holder is in. Replicas relay it to peers that missed the decision, and clients use
/// it as transferable proof of a result.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CommitCertificate {
    pub commits: Vec<Signed<Commit>>,
    pub batch: Arc<Batch>,
}

impl CommitCertificate {
    /// The (view, seq, digest) the commits are for, taken from the first one; an empty
    /// certificate has none.
    pub fn subject(&self) -> Option<(View, Seq, Digest)> {
        self.commits
            .first()
            .map(|c| (c.value.view, c.value.seq, c.value.digest))
    }
}

/// VIEW-CHANGE (PBFT §4.4): the replica moves to `new_view`, carrying its stable
/// checkpoint with proof (C) and, for every sequence number above it, the prepared
/// certificate with the highest view it has (P).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ViewChange {
    pub new_view: View,
    pub replica: ReplicaId,
    pub checkpoint: CheckpointCertificate,
    pub prepared: Vec<PreparedCertificate>,
}

impl Signable for ViewChange {
    const KIND: &'static str = "view-change";
}

/// NEW-VIEW (PBFT §4.4): the primary of `view` shows the quorum of VIEW-CHANGEs (V) it
/// used and the pre-prepares (O) it derived from them, so every backup can recompute O.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NewView {
    pub view: View,
    pub view_changes: Vec<Signed<ViewChange>>,
    pub pre_prepares: Vec<Signed<PrePrepare>>,
}

impl Signable for NewView {
    const KIND: &'static str = "new-view";
}

/// STATUS (after PBFT's status messages, TOCS §5.2): a replica's summary of where it is,
/// sent periodically; peers answer with what it lacks. This makes progress independent
/// of whether any one message is lost.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Status {
    pub replica: ReplicaId,
    pub view: View,
    /// false while the replica is changing views to `view`.
    pub normal: bool,
    pub last_executed: Seq,
    pub stable_seq: Seq,
}

impl Signable for Status {
    const KIND: &'static str = "status";
}

/// A message between replicas, with every part signed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Message {
    /// A client's request, forwarded by a backup to the primary.
    Request(Signed<Request>),
    PrePrepare {
        pre_prepare: Signed<PrePrepare>,
        batch: Arc<Batch>,
    },
    Prepare(Signed<Prepare>),
    Commit(Signed<Commit>),
    Checkpoint(Signed<Checkpoint>),
    ViewChange {
        view_change: Signed<ViewChange>,
        /// The batches of the prepared certificates, so the new primary can order them.
        batches: Vec<Arc<Batch>>,
    },
    NewView {
        new_view: Signed<NewView>,
        /// The batches of the non-null pre-prepares in O.
        batches: Vec<Arc<Batch>>,
    },
    Status(Signed<Status>),
    /// A decision relayed to a replica that missed it.
    CommitCertificate(CommitCertificate),
}

impl Message {
    /// A short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Request(_) => Request::KIND,
            Message::PrePrepare { .. } => PrePrepare::KIND,
            Message::Prepare(_) => Prepare::KIND,
            Message::Commit(_) => Commit::KIND,
            Message::Checkpoint(_) => Checkpoint::KIND,
            Message::ViewChange { .. } => ViewChange::KIND,
            Message::NewView { .. } => NewView::KIND,
            Message::Status(_) => Status::KIND,
            Message::CommitCertificate(_) => "commit-certificate",
        }
    }

    /// The replica that signed the outermost part, if a replica did.
    pub fn author(&self, replica_count: usize) -> Option<ReplicaId> {
        match self {
            Message::Request(_) => None,
            Message::PrePrepare { pre_prepare, .. } => {
                Some(pre_prepare.value.view.primary(replica_count))
            }
            Message::Prepare(m) => Some(m.value.replica),
            Message::Commit(m) => Some(m.value.replica),
            Message::Checkpoint(m) => Some(m.value.replica),
            Message::ViewChange { view_change, .. } => Some(view_change.value.replica),
            Message::NewView { new_view, .. } => Some(new_view.value.view.primary(replica_count)),
            Message::Status(m) => Some(m.value.replica),
            Message::CommitCertificate(_) => None,
        }
    }
}

/// An unsigned message the protocol core wants sent; the shell signs it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    PrePrepare {
        pre_prepare: PrePrepare,
        batch: Arc<Batch>,
    },
    Prepare(Prepare),
    Commit(Commit),
    Checkpoint(Checkpoint),
    ViewChange {
        view_change: ViewChange,
        batches: Vec<Arc<Batch>>,
    },
    /// The pre-prepares of O are signed one by one, then the NEW-VIEW as a whole.
    NewView {
        view: View,
        view_changes: Vec<Signed<ViewChange>>,
        pre_prepares: Vec<PrePrepare>,
        batches: Vec<Arc<Batch>>,
    },
    Status(Status),
}

impl Payload {
    /// Signs the payload (and, for NEW-VIEW, the pre-prepares inside it).
    pub fn sign(self, cluster: ClusterId, signer: &dyn Signer) -> Result<Message, CryptoError> {
        Ok(match self {
            Payload::PrePrepare { pre_prepare, batch } => Message::PrePrepare {
                pre_prepare: Signed::sign(cluster, pre_prepare, signer)?,
                batch,
            },
            Payload::Prepare(m) => Message::Prepare(Signed::sign(cluster, m, signer)?),
            Payload::Commit(m) => Message::Commit(Signed::sign(cluster, m, signer)?),
            Payload::Checkpoint(m) => Message::Checkpoint(Signed::sign(cluster, m, signer)?),
            Payload::Status(m) => Message::Status(Signed::sign(cluster, m, signer)?),
            Payload::ViewChange {
                view_change,
                batches,
            } => Message::ViewChange {
                view_change: Signed::sign(cluster, view_change, signer)?,
                batches,
            },
            Payload::NewView {
                view,
                view_changes,
                pre_prepares,
                batches,
            } => {
                let pre_prepares = pre_prepares
                    .into_iter()
                    .map(|pre_prepare| Signed::sign(cluster, pre_prepare, signer))
                    .collect::<Result<Vec<_>, _>>()?;
                let new_view = NewView {
                    view,
                    view_changes,
                    pre_prepares,
                };
                Message::NewView {
                    new_view: Signed::sign(cluster, new_view, signer)?,
                    batches,
                }
            }
        })
    }
}

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
/// [`request_digest`]), never by its signature alone.
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

/// The bincode configuration of every Rampart encoding.
pub fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes a value with Rampart's bincode configuration. Encoding our own types into
/// memory cannot fail (they hold no maps with non-string keys or other unsupported data).
///
/// The value is sized first and written once into a vector of that size: a growing vector
/// would copy a batch's bytes several times over.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    fn failed(error: bincode::error::EncodeError) -> ! {
        unreachable!("in-memory bincode encoding failed: {error}")
    }
    let mut size = bincode::enc::write::SizeWriter::default();
    if let Err(error) = bincode::serde::encode_into_writer(value, &mut size, bincode_config()) {
        failed(error);
    }
    let mut bytes = Vec::with_capacity(size.bytes_written);
    if let Err(error) = bincode::serde::encode_into_std_write(value, &mut bytes, bincode_config()) {
        failed(error);
    }
    bytes
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {what}: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

/// The most memory one decoded value may claim. Bincode allocates what a length prefix
/// says before reading it; without a limit, a few crafted bytes could ask for exabytes.
pub const DECODED_BYTES_MAX: usize = 64 << 20;

/// Decodes a value, refusing trailing bytes and anything that would claim more than
/// [`DECODED_BYTES_MAX`] of memory.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    let config = bincode::config::standard().with_limit::<DECODED_BYTES_MAX>();
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|error| DecodeError {
            what,
            reason: error.to_string(),
        })?;
    if read != bytes.len() {
        return Err(DecodeError {
            what,
            reason: format!("{} trailing bytes", bytes.len() - read),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::{Ed25519, KeyPair};

    #[test]
    fn request_bytes_bounds_the_encoded_size_of_any_request() {
        let key = KeyPair::from_seed(3);
        for (number, operation_bytes) in [(0, 0), (u64::MAX, 0), (u64::MAX, 70_000), (7, 1 << 20)] {
            let request = Request {
                client: ClientId(key.public_key()),
                number,
                operation: Bytes::from(vec![0xab; operation_bytes]),
                read_only: true,
            };
            let signed = Signed::sign(ClusterId(1), request, &key).expect("signs");
            let encoded = encode(&signed).len();
            assert!(
                encoded <= request_bytes(&signed),
                "{encoded} bytes encoded, {} counted",
                request_bytes(&signed)
            );
        }
    }

    #[test]
    fn a_client_accepts_f_plus_1_committed_or_2f_plus_1_executed_alike() {
        // n = 4: f + 1 = 2, 2f + 1 = 3.
        let (ok, other) = (Bytes::from_static(b"ok"), Bytes::from_static(b"other"));
        let vote = |view, seq, result, tentative| ResultVote {
            view: View(view),
            seq: Seq(seq),
            result,
            tentative,
        };
        let accepted = |votes: &[ResultVote<'_>], tentative_counts| {
            accepted_result(votes, 2, 3, tentative_counts).cloned()
        };
        let committed = [vote(0, 1, &ok, false), vote(0, 1, &ok, false)];
        assert_eq!(accepted(&committed, false), Some(ok.clone()));
        let split = [vote(0, 1, &ok, false), vote(0, 1, &other, false)];
        assert_eq!(accepted(&split, true), None);

        let tentative = [
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, true),
        ];
        assert_eq!(accepted(&tentative[..2], true), None, "f + 1 tentative");
        assert_eq!(accepted(&tentative, true), Some(ok.clone()));
        assert_eq!(
            accepted(&tentative, false),
            None,
            "tentative replies do not count"
        );
        for (view, seq) in [(1, 1), (0, 2)] {
            let mixed = [
                vote(0, 1, &ok, true),
                vote(0, 1, &ok, true),
                vote(view, seq, &ok, true),
            ];
            assert_eq!(accepted(&mixed, true), None, "view {view}, seq {seq}");
        }
        let with_committed = [
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, false),
        ];
        assert_eq!(accepted(&with_committed, true), Some(ok));
    }

    fn cluster() -> (Cluster, Vec<KeyPair>) {
        let keys: Vec<KeyPair> = (0..4).map(KeyPair::from_seed).collect();
        let cluster = Cluster::new(ClusterId(7), keys.iter().map(|k| k.public_key()).collect())
            .expect("valid cluster");
        (cluster, keys)
    }

    fn request(client: &KeyPair, number: u64) -> Signed<Request> {
        let request = Request {
            client: ClientId(client.public_key()),
            number,
            operation: Bytes::from_static(b"put x 1"),
            read_only: false,
        };
        Signed::sign(ClusterId(7), request, client).expect("signs")
    }

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

    #[test]
    fn messages_round_trip_through_the_wire_encoding() {
        let (cluster, keys) = cluster();
        let client = KeyPair::from_seed(100);
        let batch = Arc::new(Batch::new(vec![request(&client, 1)]));
        let message = Payload::PrePrepare {
            pre_prepare: PrePrepare {
                view: View(0),
                seq: Seq(3),
                digest: batch.digest(),
            },
            batch,
        }
        .sign(cluster.id, &keys[0])
        .expect("signs");
        let bytes = encode(&message);
        let decoded: Message = decode("message", &bytes).expect("decodes");
        assert_eq!(decoded, message);
        assert!(decode::<Message>("message", &bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<Message>("message", &longer).is_err());
    }

    #[test]
    fn crafted_length_prefixes_are_refused_without_allocating() {
        // A request whose operation claims u64::MAX bytes.
        let mut bytes = vec![0u8; 32];
        bytes.extend_from_slice(&[0x01, 0xff]);
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Request>("request", &bytes).is_err());
        let mut message = vec![0x00];
        message.extend_from_slice(&bytes);
        assert!(decode::<Message>("message", &message).is_err());
    }

    #[test]
    fn the_batch_digest_binds_every_request_and_their_order() {
        let client = KeyPair::from_seed(100);
        let (a, b) = (request(&client, 1), request(&client, 2));
        let forward = Batch::new(vec![a.clone(), b.clone()]);
        let backward = Batch::new(vec![b.clone(), a.clone()]);
        assert_ne!(forward.digest(), backward.digest());
        assert_ne!(forward.digest(), Batch::new(vec![a.clone()]).digest());
        assert_eq!(
            forward.digest(),
            batch_digest(&[request_digest(&a), request_digest(&b)])
        );
    }
}
