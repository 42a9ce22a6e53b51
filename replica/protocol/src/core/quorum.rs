//! Quorums (PBFT §3, §4): how many replicas must agree, and the one way their agreement
//! is counted.
//!
//! PBFT runs n = 3f + 1 replicas to tolerate f faulty ones; for any n, f = ⌊(n − 1)/3⌋.
//! Two sizes follow:
//!
//! - a **quorum** of n − f replicas (2f + 1 when n = 3f + 1). Any two quorums share at
//!   least f + 1 replicas, so at least one correct one, which never votes for two different
//!   things: prepared and committed-local (§4.2), a stable checkpoint (§4.3), a NEW-VIEW
//!   (§4.4), a tentative or read-only result (§5.1.2, §5.1.3) each need one;
//! - a **weak quorum** of f + 1 replicas, at least one of them correct: a client accepts a
//!   committed result (§4.1) or a refusal on one, and a replica joins a view that one has
//!   moved to (§4.5.2).
//!
//! Every count here is of **distinct replicas of the cluster voting for one value**: a
//! replica counts once, for the first vote it is seen with, however many messages carry
//! its name; a replica id outside the cluster never counts; and votes for different
//! values never add up. The core, the client SDK and the simulated clients all count
//! through this module, so that a rule about counting is written once.
//!
//! The sizes are also methods of [`Cluster`] (`quorum`, `weak_quorum`,
//! `faults_tolerated`), defined here so that the cluster description, which the messages
//! and the core build on, depends on nothing.

use std::collections::BTreeMap;

use bytes::Bytes;
use rampart_crypto::{Digest, Signed};

use crate::cluster::{Cluster, ReplicaId};
use crate::message::{Checkpoint, ClientId, Commit, Prepare, Reply, Seq, View, ViewChange};

/// The quorum sizes of a cluster of n replicas, and counting by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorums {
    replica_count: usize,
}

impl Quorums {
    pub fn new(replica_count: usize) -> Quorums {
        Quorums { replica_count }
    }

    pub fn of(cluster: &Cluster) -> Quorums {
        Quorums::new(cluster.size())
    }

    /// n.
    pub fn replica_count(self) -> usize {
        self.replica_count
    }

    /// f, the number of faulty replicas tolerated: the largest f with 3f + 1 <= n.
    pub fn faults_tolerated(self) -> usize {
        self.replica_count.saturating_sub(1) / 3
    }

    /// n − f: 2f + 1 when n = 3f + 1.
    pub fn quorum(self) -> usize {
        self.replica_count - self.faults_tolerated()
    }

    /// f + 1.
    pub fn weak_quorum(self) -> usize {
        self.faults_tolerated() + 1
    }

    /// The PREPAREs from distinct backups a replica needs, beside the primary's
    /// PRE-PREPARE, to have prepared (PBFT §4.2): a quorum counting the primary, 2f.
    pub fn prepares_needed(self) -> usize {
        self.quorum() - 1
    }

    /// Whether `replica` is one of the cluster's n replicas.
    pub fn is_member(self, replica: ReplicaId) -> bool {
        (replica.0 as usize) < self.replica_count
    }

    /// How many distinct replicas of the cluster voted for `value` (see the module
    /// documentation for what counts).
    pub fn count<T: Vote>(self, votes: impl IntoIterator<Item = T>, value: &T::Value) -> usize {
        let mut voters = Voters::new(self);
        votes
            .into_iter()
            .filter(|vote| voters.first_vote(vote.voter()) && vote.value() == *value)
            .count()
    }

    /// How many distinct replicas of the cluster are among `replicas`.
    pub fn distinct(self, replicas: impl IntoIterator<Item = ReplicaId>) -> usize {
        let mut voters = Voters::new(self);
        replicas
            .into_iter()
            .filter(|&replica| voters.first_vote(replica))
            .count()
    }

    /// The first `limit` votes for `value` from distinct replicas of the cluster, in the
    /// order given: the proof of a certificate.
    pub fn matching<T: Vote>(
        self,
        votes: impl IntoIterator<Item = T>,
        value: &T::Value,
        limit: usize,
    ) -> Vec<T> {
        let mut voters = Voters::new(self);
        votes
            .into_iter()
            .filter(|vote| voters.first_vote(vote.voter()) && vote.value() == *value)
            .take(limit)
            .collect()
    }

    /// Checks a certificate someone else assembled: every vote is from a replica of the
    /// cluster, none twice, every one for `subject`, and at least `needed` of them.
    /// Returns the voters, in the order given. Unlike [`Quorums::count`], which passes
    /// over what does not count, a certificate with anything that does not count is
    /// refused whole: a correct replica never assembles one.
    pub fn check_certificate<T: Vote>(
        self,
        votes: impl IntoIterator<Item = T>,
        subject: &T::Value,
        needed: usize,
    ) -> Result<Vec<ReplicaId>, CertificateFault> {
        let mut voters = Voters::new(self);
        let mut signers = Vec::new();
        for vote in votes {
            let replica = vote.voter();
            if !self.is_member(replica) {
                return Err(CertificateFault::Outsider { replica });
            }
            if !voters.first_vote(replica) {
                return Err(CertificateFault::Duplicate { replica });
            }
            if vote.value() != *subject {
                return Err(CertificateFault::Mismatch { replica });
            }
            signers.push(replica);
        }
        if signers.len() < needed {
            return Err(CertificateFault::TooFew {
                voters: signers.len(),
                needed,
            });
        }
        Ok(signers)
    }

    /// The highest position at least `threshold` distinct replicas of the cluster have
    /// reached, each at the highest position given for it: with f + 1, a position at least
    /// one correct replica has reached, which no f faulty ones can push forward alone.
    pub fn highest_reached<V: Ord + Copy>(
        self,
        positions: impl IntoIterator<Item = (ReplicaId, V)>,
        threshold: usize,
    ) -> Option<V> {
        let mut highest: BTreeMap<ReplicaId, V> = BTreeMap::new();
        for (replica, position) in positions {
            if self.is_member(replica) {
                let entry = highest.entry(replica).or_insert(position);
                *entry = (*entry).max(position);
            }
        }
        let mut reached: Vec<V> = highest.into_values().collect();
        reached.sort_unstable_by(|a, b| b.cmp(a));
        threshold
            .checked_sub(1)
            .and_then(|index| reached.get(index).copied())
    }

    /// A tally of `votes` (see [`Tally`]).
    pub fn tally<V: Ord>(self, votes: impl IntoIterator<Item = (ReplicaId, V)>) -> Tally<V> {
        let mut tally = Tally::new(self);
        for (voter, value) in votes {
            tally.vote(voter, value);
        }
        tally
    }
}

/// Why a certificate proves nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateFault {
    #[error("{replica} is not a replica of this cluster")]
    Outsider { replica: ReplicaId },
    #[error("{replica} votes twice")]
    Duplicate { replica: ReplicaId },
    #[error("{replica} votes for something else")]
    Mismatch { replica: ReplicaId },
    #[error("{voters} replicas vote alike, and {needed} are needed")]
    TooFew { voters: usize, needed: usize },
}

/// Which replicas of the cluster have voted: one bit each, in a word for the first 64
/// (no allocation for the clusters anyone runs; counting is on the core's hot path) and in
/// a vector beyond.
struct Voters {
    quorums: Quorums,
    first: u64,
    rest: Vec<u64>,
}

impl Voters {
    fn new(quorums: Quorums) -> Voters {
        Voters {
            quorums,
            first: 0,
            rest: Vec::new(),
        }
    }

    /// Whether this is `replica`'s first vote and `replica` is in the cluster.
    fn first_vote(&mut self, replica: ReplicaId) -> bool {
        if !self.quorums.is_member(replica) {
            return false;
        }
        let index = replica.0 as usize;
        let bit = 1u64 << (index % 64);
        let word = match index / 64 {
            0 => &mut self.first,
            above => {
                if self.rest.len() < above {
                    self.rest.resize(above, 0);
                }
                match self.rest.get_mut(above - 1) {
                    Some(word) => word,
                    None => return false,
                }
            }
        };
        let first = *word & bit == 0;
        *word |= bit;
        first
    }
}

/// The latest answer of each replica of the cluster, counted by value: how clients weigh
/// replies and refusals. A replica's first vote in the tally counts; an outsider's never.
#[derive(Clone, Debug)]
pub struct Tally<V> {
    quorums: Quorums,
    votes: BTreeMap<ReplicaId, Option<V>>,
}

impl<V: Ord> Tally<V> {
    pub fn new(quorums: Quorums) -> Tally<V> {
        Tally {
            quorums,
            votes: BTreeMap::new(),
        }
    }

    /// Counts `value` from `voter`; false if the vote does not count (an outsider, or a
    /// replica that voted already).
    pub fn vote(&mut self, voter: ReplicaId, value: V) -> bool {
        self.cast(voter, Some(value))
    }

    /// Counts `voter` as having answered with nothing that can match another answer (a
    /// refusal, say): it can no longer join a quorum for any value.
    pub fn dissent(&mut self, voter: ReplicaId) -> bool {
        self.cast(voter, None)
    }

    fn cast(&mut self, voter: ReplicaId, value: Option<V>) -> bool {
        if !self.quorums.is_member(voter) || self.votes.contains_key(&voter) {
            return false;
        }
        self.votes.insert(voter, value);
        true
    }

    /// How many replicas answered.
    pub fn voters(&self) -> usize {
        self.votes.len()
    }

    /// How many replicas voted for `value`.
    pub fn count(&self, value: &V) -> usize {
        self.votes
            .values()
            .filter(|vote| vote.as_ref() == Some(value))
            .count()
    }

    /// The value with the most votes, and their number; of values with equally many, the
    /// least.
    pub fn leader(&self) -> Option<(&V, usize)> {
        let mut counts: BTreeMap<&V, usize> = BTreeMap::new();
        for value in self.votes.values().flatten() {
            *counts.entry(value).or_default() += 1;
        }
        counts
            .into_iter()
            .fold(None, |best, (value, count)| match best {
                Some((_, most)) if most >= count => best,
                _ => Some((value, count)),
            })
    }

    /// The value at least `threshold` replicas voted for, if any.
    pub fn decided(&self, threshold: usize) -> Option<&V> {
        self.leader()
            .filter(|&(_, count)| count >= threshold)
            .map(|(value, _)| value)
    }

    /// Whether no value can reach `threshold` any more, even if every replica yet to
    /// answer voted for the leading one.
    pub fn out_of_reach(&self, threshold: usize) -> bool {
        let leading = self.leader().map_or(0, |(_, count)| count);
        let silent = self.quorums.replica_count.saturating_sub(self.voters());
        leading + silent < threshold
    }
}

/// A message that counts as one replica's vote: who cast it, and for what. The voter is
/// the replica the message names, whose key its signature was checked against.
pub trait Vote {
    type Value: PartialEq;

    fn voter(&self) -> ReplicaId;

    fn value(&self) -> Self::Value;
}

impl<T: Vote + ?Sized> Vote for &T {
    type Value = T::Value;

    fn voter(&self) -> ReplicaId {
        (**self).voter()
    }

    fn value(&self) -> T::Value {
        (**self).value()
    }
}

/// A vote given as (voter, value).
impl<V: PartialEq + Clone> Vote for (ReplicaId, V) {
    type Value = V;

    fn voter(&self) -> ReplicaId {
        self.0
    }

    fn value(&self) -> V {
        self.1.clone()
    }
}

/// PREPAREs match on view, sequence number and digest (PBFT §4.2).
impl Vote for Signed<Prepare> {
    type Value = (View, Seq, Digest);

    fn voter(&self) -> ReplicaId {
        self.value.replica
    }

    fn value(&self) -> (View, Seq, Digest) {
        (self.value.view, self.value.seq, self.value.digest)
    }
}

/// COMMITs match on view, sequence number and digest (PBFT §4.2).
impl Vote for Signed<Commit> {
    type Value = (View, Seq, Digest);

    fn voter(&self) -> ReplicaId {
        self.value.replica
    }

    fn value(&self) -> (View, Seq, Digest) {
        (self.value.view, self.value.seq, self.value.digest)
    }
}

/// CHECKPOINTs match on sequence number and state digest (PBFT §4.3).
impl Vote for Signed<Checkpoint> {
    type Value = (Seq, Digest);

    fn voter(&self) -> ReplicaId {
        self.value.replica
    }

    fn value(&self) -> (Seq, Digest) {
        (self.value.seq, self.value.state_digest)
    }
}

/// VIEW-CHANGEs count for the view they move to (PBFT §4.4).
impl Vote for Signed<ViewChange> {
    type Value = View;

    fn voter(&self) -> ReplicaId {
        self.value.replica
    }

    fn value(&self) -> View {
        self.value.new_view
    }
}

/// Signed REPLYs (in a commit certificate) match on the request they answer, its sequence
/// number and the result (PBFT §4.1).
impl Vote for Signed<Reply> {
    type Value = (ClientId, u64, Seq, Bytes);

    fn voter(&self) -> ReplicaId {
        self.value.replica
    }

    fn value(&self) -> (ClientId, u64, Seq, Bytes) {
        let reply = &self.value;
        (reply.client, reply.number, reply.seq, reply.result.clone())
    }
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

impl ResultVote<'_> {
    /// What `reply` weighs in [`accepted_result`].
    pub fn of(reply: &Reply) -> ResultVote<'_> {
        ResultVote {
            view: reply.view,
            seq: reply.seq,
            result: &reply.result,
            tentative: reply.tentative,
        }
    }
}

/// The result a client may accept for an ordered request, given each replica's latest
/// result by the replica that sent it (as the transport authenticated it), the one rule
/// the client SDK and the simulated clients share:
///
/// - f + 1 matching committed results (PBFT §4.1): one of those replicas is correct;
/// - or, when `tentative_counts`, a quorum (2f + 1) of results that match in view,
///   sequence number and result, tentative or committed (§5.1.2). Those include f + 1
///   correct replicas, each of which either committed the request there or had it
///   prepared there, so any view change keeps it there; either way the result, which
///   depends only on the committed batches before it, stands.
pub fn accepted_result<'a>(
    votes: &[(ReplicaId, ResultVote<'a>)],
    quorums: Quorums,
    tentative_counts: bool,
) -> Option<&'a Bytes> {
    if tentative_counts {
        let alike = quorums.tally(
            votes
                .iter()
                .map(|(replica, vote)| (*replica, (vote.view, vote.seq, vote.result))),
        );
        if let Some((_, _, result)) = alike.decided(quorums.quorum()) {
            return Some(result);
        }
    }
    let committed = quorums.tally(
        votes
            .iter()
            .filter(|(_, vote)| !vote.tentative)
            .map(|(replica, vote)| (*replica, vote.result)),
    );
    committed.decided(quorums.weak_quorum()).copied()
}

/// The quorum sizes of a cluster, defined here with the rest of the quorum rules.
impl Cluster {
    pub fn quorums(&self) -> Quorums {
        Quorums::of(self)
    }

    /// f, the number of Byzantine replicas tolerated: the largest f with 3f + 1 <= n.
    pub fn faults_tolerated(&self) -> usize {
        self.quorums().faults_tolerated()
    }

    /// The size of a quorum certificate: n - f (2f + 1 when n = 3f + 1). Any two quorums
    /// share at least f + 1 replicas, so at least one correct one.
    pub fn quorum(&self) -> usize {
        self.quorums().quorum()
    }

    /// f + 1: enough replicas that at least one of them is correct.
    pub fn weak_quorum(&self) -> usize {
        self.quorums().weak_quorum()
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests;
