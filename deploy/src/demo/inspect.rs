//! Asking each replica for itself: a read-only query (PBFT §5.1.3) sent to every replica,
//! with each replica's own answer kept apart instead of waiting for 2f + 1 to match, so the
//! demo can show which replicas report what.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, timeout_at};

use rampart_crypto::{KeyPair, Signed};
use rampart_replica::app::{decode_query_output, encode_query};
use rampart_replica::apps::interlock::{Interlock, Query, QueryOutput};
use rampart_replica::cluster::Cluster;
use rampart_replica::message::{ClientId, ReplicaId, Request, decode, encode};
use rampart_replica::net::{ClientTransport, ClientTransportConfig};
use rampart_replica::wire::{ClientFrame, ReplicaFrame};

use crate::failure::Failure;

/// One replica's answer, or why there is none.
pub type Answer = Result<QueryOutput, String>;

/// Sends `query` to every replica as `key`'s read-only request and collects each
/// replica's answer until all have answered or `patience` has passed. Replicas that did
/// not answer are missing from the result.
pub async fn ask_each(
    cluster: &Cluster,
    addresses: &[SocketAddr],
    key: &KeyPair,
    query: &Query,
    patience: Duration,
) -> Result<BTreeMap<ReplicaId, Answer>, Failure> {
    let (transport, mut inbound) =
        ClientTransport::start(key, cluster, ClientTransportConfig::new(addresses.to_vec()))
            .await
            .map_err(|error| Failure::runtime(format_args!("cannot start a client: {error}")))?;
    let request = Request {
        client: ClientId(key.public_key()),
        number: 1,
        operation: encode_query::<Interlock>(query),
        read_only: true,
    };
    let request = Signed::sign(cluster.id, request, key)
        .map_err(|error| Failure::runtime(format_args!("cannot sign a query: {error}")))?;
    let frame = Bytes::from(encode(&ClientFrame::Request {
        request,
        certify: false,
        all_answer: false,
    }));
    for replica in cluster.replica_ids() {
        // A queued frame waits for the connection; an error here means none will come.
        transport
            .send(replica, frame.clone())
            .map_err(|error| Failure::runtime(format_args!("cannot query {replica}: {error}")))?;
    }
    let deadline = Instant::now() + patience;
    let mut answers = BTreeMap::new();
    while answers.len() < cluster.size() {
        let Ok(Some((replica, frame))) = timeout_at(deadline, inbound.recv()).await else {
            break;
        };
        let answer = match decode::<ReplicaFrame>("replica frame", &frame) {
            Ok(ReplicaFrame::Reply {
                reply,
                read_only: true,
                ..
            }) if reply.number == 1 => {
                decode_query_output::<Interlock>(&reply.result).map_err(|error| error.to_string())
            }
            Ok(ReplicaFrame::Refused { refusal, .. }) => Err(format!("refused: {refusal}")),
            Ok(_) => continue,
            Err(error) => Err(error.to_string()),
        };
        answers.insert(replica, answer);
    }
    transport.shutdown().await;
    Ok(answers)
}
