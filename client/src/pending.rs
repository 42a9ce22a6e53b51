//! One request waiting for its replies, and the rules that decide it (PBFT §4.1, §5.1.3).
//!
//! Votes are keyed by the replica the transport authenticated, never by the `replica`
//! field inside a reply: a faulty replica could put any id there, and counting it would
//! let one replica vote several times.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::sync::oneshot;

use rampart_crypto::Signed;
use rampart_protocol::core::quorum::{Quorums, ResultVote, Tally, accepted_result};
use rampart_protocol::message::{Refusal, ReplicaId, Reply, Request, Seq, View};
use rampart_protocol::wire::CommitProof;

use crate::certificate::Certificate;

/// What a request waits for.
#[derive(Debug)]
pub(crate) enum Kind {
    /// An ordered request: f + 1 matching results, and with `certify` a verified
    /// certificate for the request.
    Ordered {
        request: Signed<Request>,
        certify: bool,
    },
    /// A read-only request: 2f + 1 matching results.
    ReadOnly,
}

/// A replica's answer. Only its latest answer counts: a correct replica never changes an
/// ordered result (its committed reply only confirms its tentative one), and a read-only
/// answer may legitimately change as the state moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vote {
    /// A result, executed at `seq` in `view`: committed, or tentatively (PBFT §5.1.2) once
    /// the batch had prepared there. Read-only answers carry the replica's last executed
    /// sequence number, and only their result counts.
    Result {
        view: View,
        seq: Seq,
        result: Bytes,
        tentative: bool,
    },
    Refused(Refusal),
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Accepted {
        result: Bytes,
        /// Boxed: most outcomes carry none, and this one is large.
        certificate: Option<Box<Certificate>>,
    },
    /// f + 1 replicas refused it for the same reason, so at least one correct replica did.
    Rejected { refusal: Refusal },
    /// Read-only answers that can no longer reach 2f + 1 matching ones.
    Inconclusive,
}

/// A request in flight and the votes it collected.
#[derive(Debug)]
pub(crate) struct Pending {
    kind: Kind,
    votes: BTreeMap<ReplicaId, Vote>,
    /// For a certified request: a verified commit proof and its sequence number ...
    proof: Option<(Seq, CommitProof)>,
    /// ... and the replies whose signatures verified, by replica.
    signed_replies: BTreeMap<ReplicaId, Signed<Reply>>,
    /// Taken when the outcome is sent; later replies are still counted, for the record.
    waiter: Option<oneshot::Sender<Outcome>>,
}

impl Pending {
    pub(crate) fn new(kind: Kind, waiter: oneshot::Sender<Outcome>) -> Pending {
        Pending {
            kind,
            votes: BTreeMap::new(),
            proof: None,
            signed_replies: BTreeMap::new(),
            waiter: Some(waiter),
        }
    }

    pub(crate) fn is_read_only(&self) -> bool {
        matches!(self.kind, Kind::ReadOnly)
    }

    /// The request, if it wants a certificate.
    pub(crate) fn wants_certificate(&self) -> Option<&Signed<Request>> {
        match &self.kind {
            Kind::Ordered {
                request,
                certify: true,
            } => Some(request),
            _ => None,
        }
    }

    pub(crate) fn has_proof(&self) -> bool {
        self.proof.is_some()
    }

    /// Keeps a commit proof the caller has verified.
    pub(crate) fn add_proof(&mut self, seq: Seq, proof: CommitProof) {
        self.proof.get_or_insert((seq, proof));
    }

    /// Keeps a reply whose signature the caller has verified.
    pub(crate) fn add_signed_reply(&mut self, from: ReplicaId, reply: Signed<Reply>) {
        self.signed_replies.insert(from, reply);
    }

    /// The certificate, once a proof and f + 1 signed replies with `result` are in.
    fn certificate(&self, result: &Bytes, quorums: Quorums) -> Option<Certificate> {
        let Kind::Ordered { request, .. } = &self.kind else {
            return None;
        };
        let (seq, proof) = self.proof.as_ref()?;
        let subject = (
            request.value.client,
            request.value.number,
            *seq,
            result.clone(),
        );
        let weak_quorum = quorums.weak_quorum();
        let replies = quorums.matching(self.signed_replies.values(), &subject, weak_quorum);
        (replies.len() >= weak_quorum).then(|| Certificate {
            request: request.clone(),
            seq: *seq,
            proof: proof.clone(),
            replies: replies.into_iter().cloned().collect(),
        })
    }

    pub(crate) fn vote(&mut self, from: ReplicaId, vote: Vote) {
        self.votes.insert(from, vote);
    }

    /// How many distinct replicas answered.
    pub(crate) fn replies_seen(&self) -> usize {
        self.votes.len()
    }

    /// Drops the waiting call's channel, which tells it that no outcome will come.
    pub(crate) fn abandon(&mut self) {
        self.waiter = None;
    }

    /// Hands the outcome to the waiting call once the votes decide the request.
    pub(crate) fn settle(&mut self, quorums: Quorums) {
        if self.waiter.is_none() {
            return;
        }
        if let Some(outcome) = self.decide(quorums)
            && let Some(waiter) = self.waiter.take()
        {
            // The call may have been cancelled; its guard removes this entry soon.
            let _ = waiter.send(outcome);
        }
    }

    fn decide(&self, quorums: Quorums) -> Option<Outcome> {
        match &self.kind {
            Kind::Ordered { certify, .. } => {
                let votes: Vec<(ReplicaId, ResultVote<'_>)> = self
                    .votes
                    .iter()
                    .filter_map(|(from, vote)| match vote {
                        Vote::Result {
                            view,
                            seq,
                            result,
                            tentative,
                        } => Some((
                            *from,
                            ResultVote {
                                view: *view,
                                seq: *seq,
                                result,
                                tentative: *tentative,
                            },
                        )),
                        Vote::Refused(_) => None,
                    })
                    .collect();
                // A certificate needs committed replies, so a certified request ignores
                // tentative ones.
                if let Some(result) = accepted_result(&votes, quorums, !certify) {
                    if !certify {
                        return Some(Outcome::Accepted {
                            result: result.clone(),
                            certificate: None,
                        });
                    }
                    if let Some(certificate) = self.certificate(result, quorums) {
                        return Some(Outcome::Accepted {
                            result: result.clone(),
                            certificate: Some(Box::new(certificate)),
                        });
                    }
                }
                // f + 1 final refusals of one kind: at least one correct replica refuses,
                // and a correct replica refuses only what none will execute. A transient
                // refusal (a full quota) only means "not yet".
                let mut refusals = Tally::new(quorums);
                for (from, vote) in &self.votes {
                    if let Vote::Refused(refusal) = vote
                        && !refusal.is_transient()
                    {
                        refusals.vote(*from, refusal.kind());
                    }
                }
                let kind = *refusals.decided(quorums.weak_quorum())?;
                self.votes.values().find_map(|vote| match vote {
                    Vote::Refused(refusal) if refusal.kind() == kind => Some(Outcome::Rejected {
                        refusal: refusal.clone(),
                    }),
                    _ => None,
                })
            }
            Kind::ReadOnly => {
                let mut results = Tally::new(quorums);
                for (from, vote) in &self.votes {
                    match vote {
                        Vote::Result {
                            result,
                            tentative: false,
                            ..
                        } => results.vote(*from, result),
                        _ => results.dissent(*from),
                    };
                }
                if let Some(result) = results.decided(quorums.quorum()) {
                    return Some(Outcome::Accepted {
                        result: (*result).clone(),
                        certificate: None,
                    });
                }
                // Replicas that answered anything else can no longer join a quorum.
                results
                    .out_of_reach(quorums.quorum())
                    .then_some(Outcome::Inconclusive)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{
        client_key, commit_proof, signed_reply, signed_request, test_cluster,
    };
    use rampart_protocol::message::{Seq, View};

    fn thresholds() -> Quorums {
        test_cluster().0.quorums()
    }

    fn waiting(kind: Kind) -> (Pending, oneshot::Receiver<Outcome>) {
        let (sender, receiver) = oneshot::channel();
        (Pending::new(kind, sender), receiver)
    }

    fn invalid(reason: &str) -> Refusal {
        Refusal::Invalid {
            reason: reason.to_string(),
        }
    }

    fn ordered(certify: bool) -> Kind {
        Kind::Ordered {
            request: signed_request(&client_key(), 1, b"op"),
            certify,
        }
    }

    fn result(bytes: &'static [u8]) -> Vote {
        Vote::Result {
            view: View(0),
            seq: Seq(1),
            result: Bytes::from_static(bytes),
            tentative: false,
        }
    }

    fn tentative(view: u64, seq: u64, bytes: &'static [u8]) -> Vote {
        Vote::Result {
            view: View(view),
            seq: Seq(seq),
            result: Bytes::from_static(bytes),
            tentative: true,
        }
    }

    #[test]
    fn f_plus_1_matching_results_decide_an_ordered_request() {
        let (mut pending, mut receiver) = waiting(ordered(false));
        pending.vote(ReplicaId(0), result(b"lie"));
        pending.vote(ReplicaId(1), result(b"ok"));
        pending.settle(thresholds());
        assert!(receiver.try_recv().is_err());
        pending.vote(ReplicaId(2), result(b"ok"));
        pending.settle(thresholds());
        assert_eq!(
            receiver.try_recv(),
            Ok(Outcome::Accepted {
                result: Bytes::from_static(b"ok"),
                certificate: None
            })
        );
    }

    #[test]
    fn tentative_results_decide_only_2f_plus_1_alike_in_view_and_sequence_number() {
        let accepted = |result: &'static [u8]| {
            Ok(Outcome::Accepted {
                result: Bytes::from_static(result),
                certificate: None,
            })
        };
        let (mut pending, mut receiver) = waiting(ordered(false));
        pending.vote(ReplicaId(0), tentative(0, 1, b"ok"));
        pending.vote(ReplicaId(1), tentative(0, 1, b"ok"));
        pending.settle(thresholds());
        assert!(
            receiver.try_recv().is_err(),
            "f + 1 tentative replies are not enough"
        );
        // Executed at another sequence number, or in another view: no match.
        pending.vote(ReplicaId(2), tentative(0, 2, b"ok"));
        pending.vote(ReplicaId(3), tentative(1, 1, b"ok"));
        pending.settle(thresholds());
        assert!(receiver.try_recv().is_err());
        pending.vote(ReplicaId(2), tentative(0, 1, b"ok"));
        pending.settle(thresholds());
        assert_eq!(receiver.try_recv(), accepted(b"ok"));

        // A committed reply counts towards the 2f + 1 as well.
        let (mut pending, mut receiver) = waiting(ordered(false));
        pending.vote(ReplicaId(0), tentative(0, 1, b"ok"));
        pending.vote(ReplicaId(1), tentative(0, 1, b"ok"));
        pending.vote(ReplicaId(2), result(b"ok"));
        pending.settle(thresholds());
        assert_eq!(receiver.try_recv(), accepted(b"ok"));
    }

    #[test]
    fn a_certified_request_does_not_settle_for_tentative_results() {
        let (mut pending, mut receiver) = waiting(ordered(true));
        for replica in 0..4 {
            pending.vote(ReplicaId(replica), tentative(0, 1, b"ok"));
        }
        pending.settle(thresholds());
        assert!(receiver.try_recv().is_err());
    }

    #[test]
    fn one_replica_repeating_itself_is_one_vote() {
        let (mut pending, mut receiver) = waiting(ordered(false));
        pending.vote(ReplicaId(3), result(b"lie"));
        pending.vote(ReplicaId(3), result(b"lie"));
        pending.vote(ReplicaId(3), Vote::Refused(invalid("no")));
        pending.vote(ReplicaId(3), Vote::Refused(invalid("no")));
        pending.settle(thresholds());
        assert!(receiver.try_recv().is_err());
        assert_eq!(pending.replies_seen(), 1);
    }

    #[test]
    fn f_plus_1_refusals_reject_with_the_most_common_reason() {
        let (mut pending, mut receiver) = waiting(ordered(false));
        pending.vote(ReplicaId(0), Vote::Refused(invalid("bad signature")));
        pending.vote(ReplicaId(1), result(b"ok"));
        pending.settle(thresholds());
        assert!(receiver.try_recv().is_err());
        pending.vote(ReplicaId(2), Vote::Refused(invalid("bad signature")));
        pending.settle(thresholds());
        assert_eq!(
            receiver.try_recv(),
            Ok(Outcome::Rejected {
                refusal: invalid("bad signature")
            })
        );
    }

    #[test]
    fn a_certified_request_waits_for_a_verified_certificate() {
        let (cluster, keys) = test_cluster();
        let request = signed_request(&client_key(), 1, b"op");
        let (mut pending, mut receiver) = waiting(Kind::Ordered {
            request: request.clone(),
            certify: true,
        });
        pending.vote(ReplicaId(0), result(b"ok"));
        pending.vote(ReplicaId(1), result(b"ok"));
        pending.settle(cluster.quorums());
        assert!(receiver.try_recv().is_err());
        assert!(pending.wants_certificate().is_some());
        let proof = commit_proof(&keys, &[0, 1, 2], &request, View(0), Seq(5), &[]);
        pending.add_proof(Seq(5), proof.clone());
        pending.settle(cluster.quorums());
        assert!(receiver.try_recv().is_err(), "signed replies are missing");
        let replies: Vec<_> = [0, 1]
            .into_iter()
            .map(|replica| signed_reply(&keys, replica, &request, Seq(5), b"ok"))
            .collect();
        for reply in &replies {
            pending.add_signed_reply(reply.value.replica, reply.clone());
        }
        let certificate = Certificate {
            request,
            seq: Seq(5),
            proof,
            replies,
        };
        pending.settle(cluster.quorums());
        assert_eq!(
            receiver.try_recv(),
            Ok(Outcome::Accepted {
                result: Bytes::from_static(b"ok"),
                certificate: Some(Box::new(certificate))
            })
        );
    }

    #[test]
    fn read_only_needs_2f_plus_1_and_gives_up_once_that_is_impossible() {
        let (mut pending, mut receiver) = waiting(Kind::ReadOnly);
        pending.vote(ReplicaId(0), result(b"1"));
        pending.vote(ReplicaId(1), result(b"1"));
        pending.settle(thresholds());
        assert!(receiver.try_recv().is_err());
        pending.vote(ReplicaId(2), result(b"1"));
        pending.settle(thresholds());
        assert!(matches!(receiver.try_recv(), Ok(Outcome::Accepted { .. })));

        let (mut pending, mut receiver) = waiting(Kind::ReadOnly);
        pending.vote(ReplicaId(0), result(b"1"));
        pending.vote(ReplicaId(1), result(b"2"));
        pending.settle(thresholds());
        // 3 of 4 could still agree on "1" if replicas 2 and 3 say so.
        assert!(receiver.try_recv().is_err());
        pending.vote(ReplicaId(2), Vote::Refused(invalid("busy")));
        pending.settle(thresholds());
        assert_eq!(receiver.try_recv(), Ok(Outcome::Inconclusive));
    }
}
