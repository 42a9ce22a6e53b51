//! REQUEST (PBFT §4.1) and the batches of requests a PRE-PREPARE orders (§5.1), with
//! the sizes and digests they are counted and bound by.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use rampart_crypto::{Digest, Signable, Signed};

use super::encoding::encode;
use super::ids::ClientId;

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

/// The digest of a signed request, as it enters a batch digest.
pub fn request_digest(request: &Signed<Request>) -> Digest {
    Digest::of(&encode(request))
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

#[cfg(test)]
mod tests {
    use rampart_crypto::{ClusterId, KeyPair};

    use super::*;
    use crate::message::test_support::request;

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
