//! REPLY (PBFT §4.1). How a client weighs replies is a quorum rule:
//! `core::quorum::accepted_result`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use rampart_crypto::Signable;

use super::ids::{ClientId, ReplicaId, Seq, View};
use super::request::RequestKey;

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
}

impl Signable for Reply {
    const KIND: &'static str = "reply";
}
