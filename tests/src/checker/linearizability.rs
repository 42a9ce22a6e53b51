//! A linearizability checker (Wing and Gong's search with Lowe's memoization).
//!
//! It is black-box: it looks only at what clients invoked, when, and what they accepted,
//! never at the replicas' order. Operations that never completed may take effect at any
//! point after their invocation, or not at all.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub trait Model: Clone + Eq + Hash {
    type Op;
    type Ret: PartialEq + std::fmt::Debug;
    fn step(&self, op: &Self::Op) -> (Self, Self::Ret);
}

/// One client operation: invoked at a tick, completed (with a result) at a later tick or
/// never.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<Op, Ret> {
    pub client: usize,
    pub invoked_at: u64,
    pub completed: Option<(u64, Ret)>,
    pub op: Op,
}

/// Why a history is not linearizable: the longest prefix that could be linearized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLinearizable {
    pub operations: usize,
    pub linearized_at_most: usize,
}

/// The most search states explored before giving up; histories in the tests are far
/// below it, and a run that hits it reports so instead of hanging.
const SEARCH_STATES_MAX: usize = 2_000_000;

/// Checks that `history` (operations on one object) is linearizable from `initial`.
pub fn check<M: Model>(
    initial: &M,
    history: &[Operation<M::Op, M::Ret>],
) -> Result<(), NotLinearizable> {
    let mut search = Search {
        history,
        linearized: vec![false; history.len()],
        memo: HashSet::new(),
        deepest: 0,
        depth: 0,
    };
    if search.run(initial.clone()) {
        Ok(())
    } else {
        Err(NotLinearizable {
            operations: history.len(),
            linearized_at_most: search.deepest,
        })
    }
}

struct Search<'a, M: Model> {
    history: &'a [Operation<M::Op, M::Ret>],
    linearized: Vec<bool>,
    memo: HashSet<(Vec<bool>, M)>,
    deepest: usize,
    depth: usize,
}

impl<M: Model> Search<'_, M> {
    fn run(&mut self, state: M) -> bool {
        // The earliest completion among operations not yet linearized: every operation
        // linearized next must have been invoked by then.
        let deadline = self
            .history
            .iter()
            .zip(&self.linearized)
            .filter(|(_, done)| !**done)
            .filter_map(|(op, _)| op.completed.as_ref().map(|(at, _)| *at))
            .min();
        let Some(deadline) = deadline else {
            return true;
        };
        if self.memo.len() >= SEARCH_STATES_MAX
            || !self.memo.insert((self.linearized.clone(), state.clone()))
        {
            return false;
        }
        for index in 0..self.history.len() {
            if self.linearized[index] {
                continue;
            }
            let operation = &self.history[index];
            if operation.invoked_at > deadline {
                continue;
            }
            let (next, result) = state.step(&operation.op);
            if let Some((_, expected)) = &operation.completed
                && *expected != result
            {
                continue;
            }
            self.linearized[index] = true;
            self.depth += 1;
            self.deepest = self.deepest.max(self.depth);
            let found = self.run(next);
            self.depth -= 1;
            self.linearized[index] = false;
            if found {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{KvOp, KvResult, RegisterModel};

    fn put(
        client: usize,
        invoked: u64,
        completed: u64,
        value: u64,
        previous: Option<u64>,
    ) -> Operation<KvOp, KvResult> {
        Operation {
            client,
            invoked_at: invoked,
            completed: Some((completed, KvResult::Put { previous })),
            op: KvOp::Put { key: 0, value },
        }
    }

    fn get(
        client: usize,
        invoked: u64,
        completed: u64,
        value: Option<u64>,
    ) -> Operation<KvOp, KvResult> {
        Operation {
            client,
            invoked_at: invoked,
            completed: Some((completed, KvResult::Get { value })),
            op: KvOp::Get { key: 0 },
        }
    }

    #[test]
    fn sequential_histories_check_against_the_model() {
        let history = vec![
            put(0, 1, 2, 1, None),
            get(1, 3, 4, Some(1)),
            put(0, 5, 6, 2, Some(1)),
        ];
        assert!(check(&RegisterModel::default(), &history).is_ok());
        let stale = vec![put(0, 1, 2, 1, None), get(1, 3, 4, None)];
        assert!(check(&RegisterModel::default(), &stale).is_err());
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // The get overlaps the put, so it may see the old or the new value.
        for seen in [None, Some(7)] {
            let history = vec![put(0, 1, 5, 7, None), get(1, 2, 4, seen)];
            assert!(
                check(&RegisterModel::default(), &history).is_ok(),
                "{seen:?}"
            );
        }
        // A value nobody wrote is never linearizable.
        let history = vec![put(0, 1, 5, 7, None), get(1, 2, 4, Some(8))];
        assert!(check(&RegisterModel::default(), &history).is_err());
    }

    #[test]
    fn pending_operations_may_or_may_not_take_effect() {
        let pending = Operation {
            client: 0,
            invoked_at: 1,
            completed: None,
            op: KvOp::Put { key: 0, value: 9 },
        };
        for seen in [None, Some(9)] {
            let history = vec![pending.clone(), get(1, 5, 6, seen)];
            assert!(check(&RegisterModel::default(), &history).is_ok());
        }
    }

    #[test]
    fn a_lost_write_is_caught() {
        // Two writes complete in order, then a read returns the first one.
        let history = vec![
            put(0, 1, 2, 1, None),
            put(0, 3, 4, 2, Some(1)),
            get(1, 5, 6, Some(1)),
        ];
        assert!(check(&RegisterModel::default(), &history).is_err());
    }
}
