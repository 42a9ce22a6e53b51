//! A Byzantine replica that answers read-only requests (PBFT §5.1.3) from old state: the
//! genesis state of the key-value store, where no key has a value. It also withholds its COMMITs from some
//! replicas, so that correct replicas lag behind a completed write.

use std::collections::BTreeSet;

use bytes::Bytes;
use rampart_replica::message::{Message, ReplicaId, Reply, encode};

use super::{Behaviour, Context};
use rampart_replica::app::Response;
use rampart_replica::apps::kv::QueryOutput;

/// Answers every read with "no value" and sends its COMMITs only to replicas outside
/// `withhold_commits_from`.
#[derive(Debug, Default)]
pub struct StaleReads {
    pub withhold_commits_from: BTreeSet<ReplicaId>,
}

impl Behaviour for StaleReads {
    fn name(&self) -> &'static str {
        "stale-reads"
    }

    fn outbound(&mut self, _: &mut Context<'_>, to: ReplicaId, message: Message) -> Vec<Message> {
        if matches!(message, Message::Commit(_)) && self.withhold_commits_from.contains(&to) {
            return Vec::new();
        }
        vec![message]
    }

    fn read_reply(&mut self, _: &mut Context<'_>, mut reply: Reply) -> Option<Reply> {
        let stale: Response<QueryOutput> = Ok(QueryOutput::Get { value: None });
        reply.result = Bytes::from(encode(&stale));
        Some(reply)
    }
}
