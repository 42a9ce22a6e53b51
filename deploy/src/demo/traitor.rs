//! The demo's Byzantine replica: an equivocating primary that also lies to clients.
//!
//! Both faults at once make the story short and show both defences: equivocation is what
//! the three-phase protocol and the view change are for (PBFT §4.2, §4.4), and lying
//! replies are what f + 1 matching signed replies are for (§4.1). Like any faulty replica
//! it holds only its own key: every lie carries its own signature, and it cannot speak for
//! another replica.

use rampart_replica::app::{CommandError, Response};
use rampart_replica::apps::interlock::{Decision, Output, QueryOutput};
use rampart_replica::fault::{Behaviour, Context};
use rampart_replica::message::{Batch, Message, PrePrepare, ReplicaId, Reply, decode, encode};

/// As primary, sends the backups with odd ids an empty batch instead of the real one, so
/// that no batch gathers a quorum and the backups must change views; to every client, says
/// that the unit is undecided, whatever it really is.
#[derive(Debug, Default)]
pub struct Traitor;

impl Behaviour for Traitor {
    fn name(&self) -> &'static str {
        "equivocate-and-lie"
    }

    fn outbound(
        &mut self,
        context: &mut Context<'_>,
        to: ReplicaId,
        message: Message,
    ) -> Vec<Message> {
        match message {
            Message::PrePrepare { pre_prepare, batch }
                if !to.0.is_multiple_of(2) && !batch.is_empty() =>
            {
                let other = Batch::null();
                let lie = PrePrepare {
                    digest: other.digest(),
                    ..pre_prepare.value
                };
                vec![Message::PrePrepare {
                    pre_prepare: context.sign(lie),
                    batch: other,
                }]
            }
            honest => vec![honest],
        }
    }

    fn reply(&mut self, _context: &mut Context<'_>, mut reply: Reply) -> Option<Reply> {
        if let Some(lie) = undecided(&reply.result) {
            reply.result = lie.into();
        }
        Some(reply)
    }
}

/// The result with the unit's decision replaced by `Undecided`, for the outputs that carry
/// one: a counted vote and a status.
fn undecided(result: &[u8]) -> Option<Vec<u8>> {
    // Outputs are tried first: a status begins with the unit's name, whose first letter
    // is no variant of `CountedAs`, so a status never decodes as an output.
    if let Ok(Ok(Output::Counted {
        round,
        counted_as,
        tally,
        ..
    })) = decode::<Response<Output>>("output", result)
    {
        let lie: Response<Output> = Ok(Output::Counted {
            round,
            counted_as,
            tally,
            decision: Decision::Undecided,
        });
        return Some(encode(&lie));
    }
    if let Ok(Ok(QueryOutput::Status(mut status))) =
        decode::<Response<QueryOutput>>("status", result)
    {
        status.decision = Decision::Undecided;
        let lie: Result<QueryOutput, CommandError> = Ok(QueryOutput::Status(status));
        return Some(encode(&lie));
    }
    None
}
