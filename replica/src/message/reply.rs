//! REPLY (PBFT §4.1) and the rule by which a client accepts a result (§4.1, §5.1.2).

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

    /// What this reply weighs in [`accepted_result`].
    pub fn vote(&self) -> ResultVote<'_> {
        ResultVote {
            view: self.view,
            seq: self.seq,
            result: &self.result,
            tentative: self.tentative,
        }
    }
}

impl Signable for Reply {
    const KIND: &'static str = "reply";
}

/// One replica's latest result for an ordered request, as a client weighs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultVote<'a> {
    /// The view the replica executed the request in.
    pub view: View,
    pub seq: Seq,
    pub result: &'a Bytes,
    pub tentative: bool,
}

/// The result a client may accept for an ordered request, given each replica's latest
/// result (one vote per replica), the one rule the client SDK and the simulated clients
/// share:
///
/// - f + 1 (`weak_quorum`) matching committed results (PBFT §4.1): one of those replicas
///   is correct;
/// - or, when `tentative_counts`, `quorum` (2f + 1) results that match in view, sequence
///   number and result, tentative or committed (§5.1.2). Those include f + 1 correct
///   replicas, each of which either committed the request there or had it prepared there,
///   so any view change keeps it there; either way the result, which depends only on the
///   committed batches before it, stands.
pub fn accepted_result<'a>(
    votes: &[ResultVote<'a>],
    weak_quorum: usize,
    quorum: usize,
    tentative_counts: bool,
) -> Option<&'a Bytes> {
    let count =
        |matches: &dyn Fn(&ResultVote<'a>) -> bool| votes.iter().filter(|v| matches(v)).count();
    let executed_alike = votes.iter().find(|vote| {
        tentative_counts
            && count(&|other| {
                (other.view, other.seq, other.result) == (vote.view, vote.seq, vote.result)
            }) >= quorum
    });
    let committed = || {
        votes.iter().find(|vote| {
            !vote.tentative
                && count(&|other| !other.tentative && other.result == vote.result) >= weak_quorum
        })
    };
    executed_alike.or_else(committed).map(|vote| vote.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_accepts_f_plus_1_committed_or_2f_plus_1_executed_alike() {
        // n = 4: f + 1 = 2, 2f + 1 = 3.
        let (ok, other) = (Bytes::from_static(b"ok"), Bytes::from_static(b"other"));
        let vote = |view, seq, result, tentative| ResultVote {
            view: View(view),
            seq: Seq(seq),
            result,
            tentative,
        };
        let accepted = |votes: &[ResultVote<'_>], tentative_counts| {
            accepted_result(votes, 2, 3, tentative_counts).cloned()
        };
        let committed = [vote(0, 1, &ok, false), vote(0, 1, &ok, false)];
        assert_eq!(accepted(&committed, false), Some(ok.clone()));
        let split = [vote(0, 1, &ok, false), vote(0, 1, &other, false)];
        assert_eq!(accepted(&split, true), None);

        let tentative = [
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, true),
        ];
        assert_eq!(accepted(&tentative[..2], true), None, "f + 1 tentative");
        assert_eq!(accepted(&tentative, true), Some(ok.clone()));
        assert_eq!(
            accepted(&tentative, false),
            None,
            "tentative replies do not count"
        );
        for (view, seq) in [(1, 1), (0, 2)] {
            let mixed = [
                vote(0, 1, &ok, true),
                vote(0, 1, &ok, true),
                vote(view, seq, &ok, true),
            ];
            assert_eq!(accepted(&mixed, true), None, "view {view}, seq {seq}");
        }
        let with_committed = [
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, true),
            vote(0, 1, &ok, false),
        ];
        assert_eq!(accepted(&with_committed, true), Some(ok));
    }
}
