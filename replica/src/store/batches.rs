//! How records that carry a batch are stored: the batch once, in [`BATCHES`] under
//! (sequence number, digest), and each record naming it by its digest.
//!
//! In the normal case one slot's batch reaches the store three times: in the accepted
//! PRE-PREPARE, in the prepared certificate and in the decision. Written whole each time,
//! it made up nearly all of a slot's bytes; written once, a slot costs about a third as
//! much to encode, checksum, log and compact. The digest a record keeps is the batch's own
//! (not the one its signed header names), so loading gives back exactly what was
//! committed, even for a header and batch that disagree.
//!
//! [`BATCHES`]: super::layout::BATCHES

use serde::{Deserialize, Serialize};

use rampart_crypto::{Digest, Signed};

use crate::message::{Commit, Message, PrePrepare, PreparedCertificate};

/// A `messages` record as written.
#[derive(Serialize)]
pub(super) enum StoredMessageRef<'a> {
    /// A PRE-PREPARE; its batch is stored apart.
    PrePrepare {
        pre_prepare: &'a Signed<PrePrepare>,
        batch: Digest,
    },
    /// Any other message, whole.
    Whole(&'a Message),
}

/// A `messages` record as read: [`StoredMessageRef`]'s encoding, owned.
#[derive(Deserialize)]
pub(super) enum StoredMessage {
    PrePrepare {
        pre_prepare: Signed<PrePrepare>,
        batch: Digest,
    },
    Whole(Message),
}

/// A `prepared` record as read: the certificate and its batch's digest.
pub(super) type StoredPrepared = (PreparedCertificate, Digest);

/// A `decided` record as read: the COMMITs and the batch's digest.
pub(super) type StoredDecided = (Vec<Signed<Commit>>, Digest);
