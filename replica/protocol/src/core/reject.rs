//! Why the core refused an input. Every refusal is counted; none is a panic.

use std::fmt;

/// A typed reason for dropping an input. Some reasons are ordinary (a message from an
/// older view arrives late); others can only come from a faulty peer or client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reject {
    /// The message belongs to a view this replica has left.
    OldView,
    /// The message belongs to a view this replica has not entered yet.
    FutureView,
    /// The replica is changing views and accepts only CHECKPOINT, VIEW-CHANGE and NEW-VIEW.
    NotNormal,
    /// The replica rolled back a tentative execution and waits to be rebuilt from durable
    /// state ([`Status::Recovering`](super::Status::Recovering)): it takes no more input.
    Recovering,
    /// The sequence number is at or below the low watermark (already garbage-collected).
    BelowLowWatermark,
    /// The sequence number is above the high watermark (PBFT §4.2).
    AboveHighWatermark,
    /// The same message arrived again.
    Duplicate,
    /// A PRE-PREPARE's digest does not match its batch.
    WrongDigest,
    /// The primary sent a second PRE-PREPARE for the same view and sequence number with a
    /// different digest: equivocation, kept as evidence.
    ConflictingPrePrepare,
    /// A replica sent two different PREPAREs, COMMITs, CHECKPOINTs or VIEW-CHANGEs where it
    /// may send one: kept as evidence.
    ConflictingMessage,
    /// The primary of a view sent a PREPARE, which only backups send.
    PrepareFromPrimary,
    /// A batch holds more requests than `batch_size_max`.
    BatchTooLarge,
    /// A batch holds a read-only request, which is never ordered.
    ReadOnlyInBatch,
    /// A CHECKPOINT for a sequence number that is not a multiple of the interval.
    NotCheckpointBoundary,
    /// A checkpoint certificate without a quorum of matching, distinct CHECKPOINTs.
    InvalidCheckpointCertificate,
    /// A prepared certificate without a quorum of matching, distinct messages, or outside
    /// the window its VIEW-CHANGE allows.
    InvalidPreparedCertificate,
    /// A commit certificate without a quorum of matching COMMITs from distinct replicas.
    InvalidCommitCertificate,
    /// A VIEW-CHANGE that breaks a rule of PBFT §4.4.
    InvalidViewChange,
    /// A VIEW-CHANGE or NEW-VIEW does not carry the batch one of its certificates needs.
    MissingBatch,
    /// A NEW-VIEW that is not built from a quorum of valid VIEW-CHANGEs for its view.
    InvalidNewView,
    /// A NEW-VIEW whose pre-prepares differ from the ones recomputed from its VIEW-CHANGEs.
    NewViewMismatch,
    /// A state received by state transfer does not match the stable checkpoint's digest.
    StateDigestMismatch,
    /// A state transfer result that no transfer in progress asked for.
    UnexpectedState,
    /// An execution result that does not match the execution in progress.
    UnexpectedExecution,
    /// The shell reported an execution without one result per executed request, or
    /// without the snapshot digest a checkpoint needs: a bug in the shell, never a peer's
    /// doing. The execution stays in progress.
    MalformedExecution,
    /// A read-only request reached the ordering path; the shell answers those itself.
    ReadOnlyRequest,
    /// A request that was already executed and whose reply is no longer cached.
    RequestTooOld,
    /// A batch nobody waits for (see `batch_fetch.rs`).
    UnexpectedBatch,
    /// A peer asked for a batch this replica does not hold.
    UnknownBatch,
    /// A peer asked for more batches in a status interval than its share.
    TooManyBatchRequests,
    /// A peer's STATUS came sooner than half a status interval after the last one answered.
    StatusTooSoon,
    /// A request number above [`crate::message::REQUEST_NUMBER_MAX`].
    RequestNumberExhausted,
    /// The client has `client_window` requests waiting already from the same origin (sent
    /// straight to this replica, or forwarded by one backup).
    OverQuota,
    /// The client's requests sent straight to this replica and waiting hold
    /// `client_bytes_in_flight_max` bytes already.
    OverBytesQuota,
    /// A request of a client the configuration does not admit, relayed by a replica or in
    /// a PRE-PREPARE.
    ClientNotAdmitted,
}

impl Reject {
    /// Whether only a faulty peer or client causes this reason; the others also happen in
    /// runs where everyone is correct (late, duplicated or reordered messages).
    pub fn is_byzantine(self) -> bool {
        !matches!(
            self,
            Reject::OldView
                | Reject::FutureView
                | Reject::NotNormal
                | Reject::Recovering
                | Reject::BelowLowWatermark
                | Reject::AboveHighWatermark
                | Reject::Duplicate
                | Reject::UnexpectedState
                | Reject::UnexpectedExecution
                | Reject::RequestTooOld
                | Reject::OverQuota
                | Reject::OverBytesQuota
                | Reject::StatusTooSoon
                | Reject::UnexpectedBatch
                | Reject::UnknownBatch
        )
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
