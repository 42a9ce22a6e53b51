//! The envelope of every message between replicas: [`Message`], each of its parts signed
//! by its author, and [`Payload`], the unsigned form in which the core asks for one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use rampart_crypto::{ClusterId, CryptoError, Signable, Signed, Signer};

use super::checkpoint::Checkpoint;
use super::ids::{ReplicaId, View};
use super::normal::{Commit, CommitCertificate, PrePrepare, Prepare};
use super::request::{Batch, Request};
use super::status::Status;
use super::view_change::{NewView, ViewChange};

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

#[cfg(test)]
mod tests {
    use rampart_crypto::KeyPair;

    use super::*;
    use crate::message::encoding::{decode, encode};
    use crate::message::ids::Seq;
    use crate::message::normal::PrePrepare;
    use crate::message::test_support::{cluster, request};

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
}
