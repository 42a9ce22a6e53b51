//! The safety checker: it watches what correct replicas execute and checkpoint.

use std::collections::BTreeMap;

use rampart_crypto::Digest;
use rampart_protocol::message::{ReplicaId, Seq};

use super::Violation;

/// Records executions and checkpoints of correct replicas and reports any disagreement.
#[derive(Clone, Debug, Default)]
pub struct SafetyChecker {
    executions: BTreeMap<Seq, (Digest, ReplicaId)>,
    checkpoints: BTreeMap<Seq, (Digest, ReplicaId)>,
    pub violations: Vec<Violation>,
    pub executions_checked: u64,
    pub checkpoints_checked: u64,
}

impl SafetyChecker {
    /// A correct replica executed the batch with `digest` at `seq`.
    pub fn executed(&mut self, replica: ReplicaId, seq: Seq, digest: Digest) {
        self.executions_checked += 1;
        match self.executions.get(&seq) {
            Some((first, by)) if *first != digest => {
                self.violations.push(Violation::DivergentExecution {
                    seq: seq.0,
                    first: format!("{by} executed {}", first.short()),
                    second: format!("{replica} executed {}", digest.short()),
                });
            }
            Some(_) => {}
            None => {
                self.executions.insert(seq, (digest, replica));
            }
        }
    }

    /// A correct replica took (or installed) a checkpoint at `seq` with `state_digest`.
    pub fn checkpoint(&mut self, replica: ReplicaId, seq: Seq, state_digest: Digest) {
        self.checkpoints_checked += 1;
        match self.checkpoints.get(&seq) {
            Some((first, by)) if *first != state_digest => {
                self.violations.push(Violation::DivergentCheckpoint {
                    seq: seq.0,
                    first: format!("{by}: {}", first.short()),
                    second: format!("{replica}: {}", state_digest.short()),
                });
            }
            Some(_) => {}
            None => {
                self.checkpoints.insert(seq, (state_digest, replica));
            }
        }
    }

    /// The highest sequence number any correct replica executed.
    pub fn highest_executed(&self) -> Seq {
        self.executions
            .keys()
            .next_back()
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergence_is_reported_once_per_conflict() {
        let mut checker = SafetyChecker::default();
        checker.executed(ReplicaId(0), Seq(1), Digest::of(b"a"));
        checker.executed(ReplicaId(1), Seq(1), Digest::of(b"a"));
        assert!(checker.violations.is_empty());
        checker.executed(ReplicaId(2), Seq(1), Digest::of(b"b"));
        assert_eq!(checker.violations.len(), 1);
        checker.checkpoint(ReplicaId(0), Seq(8), Digest::of(b"s"));
        checker.checkpoint(ReplicaId(3), Seq(8), Digest::of(b"t"));
        assert_eq!(checker.violations.len(), 2);
    }
}
