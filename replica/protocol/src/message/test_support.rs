//! What the message tests share: a four-replica cluster and signed requests.

use bytes::Bytes;
use rampart_crypto::{ClusterId, KeyPair, Signed};

use super::ids::ClientId;
use super::request::Request;
use crate::cluster::Cluster;

pub(super) fn cluster() -> (Cluster, Vec<KeyPair>) {
    let keys: Vec<KeyPair> = (0..4).map(KeyPair::from_seed).collect();
    let cluster = Cluster::new(ClusterId(7), keys.iter().map(|k| k.public_key()).collect())
        .expect("valid cluster");
    (cluster, keys)
}

pub(super) fn request(client: &KeyPair, number: u64) -> Signed<Request> {
    let request = Request {
        client: ClientId(client.public_key()),
        number,
        operation: Bytes::from_static(b"put x 1"),
        read_only: false,
    };
    Signed::sign(ClusterId(7), request, client).expect("signs")
}
