//! The reply cache (PBFT §4.1): per client, the replies to its recent requests. It gives
//! exactly-once execution and lets replicas answer a retransmission without executing
//! again. It is part of the replicated state, so it is in every checkpoint.
//!
//! Its size: an entry holds at most `client_window` replies, and only admitted clients
//! get entries, since a request of any other client is refused at the handshake, when a
//! replica relays it, and in a PRE-PREPARE (`Config::clients`). With listed admission the
//! cache therefore holds at most `listed keys × client_window` replies, each at most the
//! application's largest result: the operator bounds it by what it lists. Open admission
//! gives that bound up: every key that gets a request executed keeps an entry.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use rampart_crypto::Digest;

use crate::message::{ClientId, RequestKey, Seq, encode};

/// A cached reply: where the request was ordered and what it returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedReply {
    pub seq: Seq,
    pub result: Bytes,
}

/// One client's entry.
///
/// PBFT keeps only the last reply per client, which allows one request in flight. Rampart
/// clients may have up to `window` requests in flight, so the entry keeps the replies of
/// the last `window` request numbers up to the highest one executed. A number below
/// `floor` is treated as executed: its reply is gone, and it is never executed again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub floor: u64,
    pub replies: BTreeMap<u64, CachedReply>,
}

/// Where a request stands against the reply cache.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestStatus<'a> {
    /// Never executed: it may be ordered.
    New,
    /// Executed; here is the cached reply.
    Executed(&'a CachedReply),
    /// Executed (or superseded) so long ago that the reply is gone.
    Forgotten,
}

/// The reply cache of every client, in client order (so its encoding is deterministic).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientTable {
    clients: BTreeMap<ClientId, ClientRecord>,
}

impl ClientTable {
    pub fn status(&self, key: RequestKey) -> RequestStatus<'_> {
        let Some(record) = self.clients.get(&key.client) else {
            return RequestStatus::New;
        };
        if let Some(reply) = record.replies.get(&key.number) {
            RequestStatus::Executed(reply)
        } else if key.number < record.floor {
            RequestStatus::Forgotten
        } else {
            RequestStatus::New
        }
    }

    /// The lowest request number of `client` the cache still remembers: anything below it
    /// counts as executed.
    pub fn floor(&self, client: ClientId) -> u64 {
        self.clients.get(&client).map_or(0, |record| record.floor)
    }

    pub fn is_executed(&self, key: RequestKey) -> bool {
        self.status(key) != RequestStatus::New
    }

    /// Records the reply to a request just executed, keeping at most `window` replies.
    pub fn record(&mut self, key: RequestKey, seq: Seq, result: Bytes, window: u64) {
        let record = self.clients.entry(key.client).or_default();
        record
            .replies
            .insert(key.number, CachedReply { seq, result });
        let highest = record
            .replies
            .keys()
            .next_back()
            .copied()
            .unwrap_or(key.number);
        let floor = record
            .floor
            .max(highest.saturating_add(1).saturating_sub(window));
        if floor > record.floor {
            record.floor = floor;
            // Numbers below the floor are forgotten; the rest stay, without a scan.
            record.replies = record.replies.split_off(&floor);
        }
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn records(&self) -> impl Iterator<Item = (&ClientId, &ClientRecord)> {
        self.clients.iter()
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&encode(self))
    }
}

/// The digest of a checkpoint's state: the sequence number, the application's snapshot
/// digest and the reply cache's digest. This is what CHECKPOINT messages sign.
pub fn checkpoint_digest(seq: Seq, app_digest: Digest, clients: &ClientTable) -> Digest {
    let mut builder = Digest::builder();
    builder
        .update(b"rampart/checkpoint/v1")
        .update(&seq.0.to_le_bytes())
        .update(app_digest.as_bytes())
        .update(clients.digest().as_bytes());
    builder.finish()
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    fn key(number: u64) -> RequestKey {
        RequestKey {
            client: ClientId(KeyPair::from_seed(1).public_key()),
            number,
        }
    }

    #[test]
    fn executed_requests_are_answered_from_the_cache() {
        let mut table = ClientTable::default();
        assert_eq!(table.status(key(5)), RequestStatus::New);
        table.record(key(5), Seq(3), Bytes::from_static(b"ok"), 4);
        match table.status(key(5)) {
            RequestStatus::Executed(reply) => {
                assert_eq!(reply.seq, Seq(3));
                assert_eq!(reply.result, Bytes::from_static(b"ok"));
            }
            other => panic!("expected a cached reply, got {other:?}"),
        }
        // Numbers out of order within the window are still new.
        assert_eq!(table.status(key(4)), RequestStatus::New);
        assert_eq!(table.status(key(6)), RequestStatus::New);
    }

    #[test]
    fn the_cache_keeps_a_window_of_replies() {
        let mut table = ClientTable::default();
        for number in 1..=10 {
            table.record(key(number), Seq(number), Bytes::new(), 4);
        }
        for number in 1..=6 {
            assert_eq!(
                table.status(key(number)),
                RequestStatus::Forgotten,
                "{number}"
            );
        }
        for number in 7..=10 {
            assert!(matches!(
                table.status(key(number)),
                RequestStatus::Executed(_)
            ));
        }
        let (_, record) = table.records().next().expect("one client");
        assert_eq!(record.replies.len(), 4);
    }

    #[test]
    fn the_digest_depends_on_every_reply() {
        let mut a = ClientTable::default();
        let mut b = ClientTable::default();
        a.record(key(1), Seq(1), Bytes::from_static(b"x"), 4);
        b.record(key(1), Seq(1), Bytes::from_static(b"y"), 4);
        assert_ne!(a.digest(), b.digest());
        assert_ne!(
            checkpoint_digest(Seq(1), Digest::default(), &a),
            checkpoint_digest(Seq(2), Digest::default(), &a)
        );
    }
}
