//! The requests this replica has verified lately, by their digest (the hash of the signed
//! request, signature included), shared by the verifier threads.
//!
//! Clients send every request to every replica (see `rampart_client::Client::order`), so
//! a backup verifies each request when it arrives from its client, and then finds it again
//! in the primary's PRE-PREPARE. Checking the batch against this set spends the signature
//! check once per request, as when clients sent only to the primary. A digest covers the
//! request's bytes and its signature, so a request changed in any way is verified anew.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use rampart_crypto::{Digest, Signed};

use crate::message::{Request, request_digest};

/// How many verified requests are remembered; older ones are forgotten first, which at
/// worst verifies a signature twice.
const REMEMBERED_MAX: usize = 1 << 16;

#[derive(Debug, Default)]
pub(super) struct VerifiedRequests {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    digests: HashSet<Digest>,
    order: VecDeque<Digest>,
}

impl VerifiedRequests {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers a request whose signature verified.
    pub(super) fn insert(&self, request: &Signed<Request>) {
        let digest = request_digest(request);
        let mut remembered = self.lock();
        if remembered.digests.insert(digest) {
            remembered.order.push_back(digest);
            while remembered.order.len() > REMEMBERED_MAX {
                if let Some(oldest) = remembered.order.pop_front() {
                    remembered.digests.remove(&oldest);
                }
            }
        }
    }

    /// Whether exactly this request, signature included, verified before.
    pub(super) fn contains(&self, request: &Signed<Request>) -> bool {
        let digest = request_digest(request);
        self.lock().digests.contains(&digest)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rampart_crypto::{ClusterId, KeyPair, Signature};

    use super::*;
    use crate::message::ClientId;

    fn request(operation: &'static [u8]) -> Signed<Request> {
        let key = KeyPair::from_seed(4);
        let request = Request {
            client: ClientId(key.public_key()),
            number: 1,
            operation: Bytes::from_static(operation),
            read_only: false,
        };
        Signed::sign(ClusterId(1), request, &key).expect("signs")
    }

    #[test]
    fn a_request_is_known_only_with_the_same_bytes_and_signature() {
        let verified = VerifiedRequests::default();
        let original = request(b"put x 1");
        verified.insert(&original);
        assert!(verified.contains(&original));
        let mut changed = original.clone();
        changed.value.operation = Bytes::from_static(b"put x 2");
        assert!(
            !verified.contains(&changed),
            "another operation, same signature"
        );
        let mut resigned = original.clone();
        resigned.signature = Signature([7; 64]);
        assert!(
            !verified.contains(&resigned),
            "same request, another signature"
        );
    }
}
