//! A linearizability checker (Wing and Gong's search with Lowe's memoization).
//!
//! It is black-box: it looks only at what clients invoked, when, and what they accepted,
//! never at the replicas' order. Operations that never completed may take effect at any
//! point after their invocation, or not at all.
//!
//! The search is exponential in the number of operations that overlap in time, so it is
//! bounded: past a number of explored states it stops and says the history is
//! [`Verdict::Undecided`] instead of hanging. A model whose operations fall into
//! independent parts (the keys of a map) says so with [`Model::partition`]; each part is
//! then checked on its own, which is sound because linearizability is local (Herlihy and
//! Wing, 1990) and keeps every search small.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of an application: what a correct one answers to each
/// operation, one at a time.
pub trait Model: Clone + Eq + Hash + Debug {
    /// An operation, as the workload draws it.
    type Op: Debug;
    /// What a client is told: compared with the model's answer.
    type Output: PartialEq + Debug;

    /// Applies `op`, issued by client `client` (clients are numbered from 0, as the
    /// workload saw them), and returns the next state and the output.
    fn step(&self, client: usize, op: &Self::Op) -> (Self, Self::Output);

    /// The part of the state `op` reads and writes, if it touches only one (a key), or
    /// `None` if it may touch anything. Operations of different parts must not affect
    /// each other's outputs. When every operation of a history names a part, each part's
    /// operations are checked on their own, from the same initial state; otherwise the
    /// whole history is searched at once. Partitioning is only an optimization: two
    /// parts with the same name are merely checked together.
    fn partition(op: &Self::Op) -> Option<String> {
        let _ = op;
        None
    }
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

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations explains the outputs; `linearized_at_most` is the
    /// longest prefix of an order that did, and `next` describes the operation that had
    /// to come next there, what its client was told and what the model answers instead.
    NotLinearizable {
        operations: usize,
        linearized_at_most: usize,
        next: String,
    },
    /// The search explored `states` states without an answer.
    Undecided {
        operations: usize,
        states: usize,
    },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Linearizable => write!(f, "linearizable"),
            Verdict::NotLinearizable {
                operations,
                linearized_at_most,
                next,
            } => write!(
                f,
                "{operations} operations, at most {linearized_at_most} linearizable; then {next}"
            ),
            Verdict::Undecided { operations, states } => write!(
                f,
                "{operations} operations, undecided after {states} search states; \
                 partition the model or raise the search bound"
            ),
        }
    }
}

/// The default bound on search states per history (or per part): far above what the
/// campaigns' partitioned histories need, and about a second of search.
pub const SEARCH_STATES_MAX: usize = 500_000;

/// Checks that `history` is linearizable from `initial`, exploring at most `states_max`
/// states.
pub fn check<M: Model>(
    initial: &M,
    history: &[Operation<M::Op, M::Output>],
    states_max: usize,
) -> Verdict {
    let mut search = Search {
        history,
        linearized: Linearized::new(history.len()),
        memo: HashSet::new(),
        states_max,
        deepest: 0,
        depth: 0,
        stuck: None,
    };
    match search.run(initial.clone()) {
        Some(true) => Verdict::Linearizable,
        Some(false) => Verdict::NotLinearizable {
            operations: history.len(),
            linearized_at_most: search.deepest,
            next: search.stuck.map(|(_, next)| next).unwrap_or_default(),
        },
        None => Verdict::Undecided {
            operations: history.len(),
            states: search.memo.len(),
        },
    }
}

/// The name of a history checked whole.
pub const WHOLE_HISTORY: &str = "all operations";

/// Checks `history` part by part when the model partitions every operation, else whole.
/// Returns the verdict of every part that is not linearizable or undecided, named by its
/// part ([`WHOLE_HISTORY`] for a whole history).
pub fn check_partitioned<M: Model>(
    initial: &M,
    history: Vec<Operation<M::Op, M::Output>>,
    states_max: usize,
) -> Vec<(String, Verdict)> {
    let parts: Option<Vec<String>> = history.iter().map(|o| M::partition(&o.op)).collect();
    let groups = match parts {
        Some(parts) => {
            let mut groups: BTreeMap<String, Vec<_>> = BTreeMap::new();
            for (part, operation) in parts.into_iter().zip(history) {
                groups.entry(part).or_default().push(operation);
            }
            groups
        }
        None => BTreeMap::from([(WHOLE_HISTORY.to_string(), history)]),
    };
    groups
        .into_iter()
        .map(|(part, operations)| (part, check(initial, &operations, states_max)))
        .filter(|(_, verdict)| *verdict != Verdict::Linearizable)
        .collect()
}

/// Which operations are linearized so far, as bits: the memo holds millions of them.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Linearized(Vec<u64>);

impl Linearized {
    fn new(operations: usize) -> Linearized {
        Linearized(vec![0; operations.div_ceil(64)])
    }

    fn contains(&self, index: usize) -> bool {
        self.0[index / 64] & (1 << (index % 64)) != 0
    }

    fn flip(&mut self, index: usize) {
        self.0[index / 64] ^= 1 << (index % 64);
    }
}

struct Search<'a, M: Model> {
    history: &'a [Operation<M::Op, M::Output>],
    linearized: Linearized,
    memo: HashSet<(Linearized, M)>,
    states_max: usize,
    deepest: usize,
    depth: usize,
    /// At the deepest point reached: its depth, and the operation that had to come next.
    stuck: Option<(usize, String)>,
}

impl<M: Model> Search<'_, M> {
    /// `Some(found)`, or `None` once the bound on states is reached.
    fn run(&mut self, state: M) -> Option<bool> {
        // The earliest completion among operations not yet linearized: every operation
        // linearized next must have been invoked by then.
        let deadline = self
            .history
            .iter()
            .enumerate()
            .filter(|(index, _)| !self.linearized.contains(*index))
            .filter_map(|(_, op)| op.completed.as_ref().map(|(at, _)| *at))
            .min();
        let Some(deadline) = deadline else {
            return Some(true);
        };
        if self
            .stuck
            .as_ref()
            .is_none_or(|(depth, _)| self.depth > *depth)
        {
            self.stuck = Some((self.depth, self.describe_next(&state, deadline)));
        }
        if self.memo.len() >= self.states_max {
            return None;
        }
        if !self.memo.insert((self.linearized.clone(), state.clone())) {
            return Some(false);
        }
        for index in 0..self.history.len() {
            if self.linearized.contains(index) {
                continue;
            }
            let operation = &self.history[index];
            if operation.invoked_at > deadline {
                continue;
            }
            let (next, result) = state.step(operation.client, &operation.op);
            if let Some((_, expected)) = &operation.completed
                && *expected != result
            {
                continue;
            }
            self.linearized.flip(index);
            self.depth += 1;
            self.deepest = self.deepest.max(self.depth);
            let found = self.run(next);
            self.depth -= 1;
            self.linearized.flip(index);
            if found != Some(false) {
                return found;
            }
        }
        Some(false)
    }

    /// The operation that completed first among those not linearized, which must be
    /// linearized by then: its client, operation and times, what it was told, and what
    /// `state` answers.
    fn describe_next(&self, state: &M, deadline: u64) -> String {
        let next = self.history.iter().enumerate().find(|(index, op)| {
            !self.linearized.contains(*index)
                && op.completed.as_ref().is_some_and(|(at, _)| *at == deadline)
        });
        let Some((_, operation)) = next else {
            return String::new();
        };
        let (_, answer) = state.step(operation.client, &operation.op);
        let told = operation.completed.as_ref().map(|(_, told)| told);
        format!(
            "client {} sent {:?} at tick {} and was told {:?} at tick {deadline}, where the model answers {answer:?}",
            operation.client,
            operation.op,
            operation.invoked_at,
            told.expect("found by its completion"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register per key: a put returns the value it replaced, a get the value.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    enum Op {
        Put { key: u8, value: u64 },
        Get { key: u8 },
    }

    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    struct Registers(BTreeMap<u8, u64>);

    impl Model for Registers {
        type Op = Op;
        type Output = Option<u64>;

        fn step(&self, _client: usize, op: &Op) -> (Registers, Option<u64>) {
            let mut next = self.clone();
            let output = match *op {
                Op::Put { key, value } => next.0.insert(key, value),
                Op::Get { key } => self.0.get(&key).copied(),
            };
            (next, output)
        }

        fn partition(op: &Op) -> Option<String> {
            let (Op::Put { key, .. } | Op::Get { key }) = op;
            Some(key.to_string())
        }
    }

    fn put(client: usize, at: (u64, u64), key: u8, value: u64, previous: Option<u64>) -> History {
        Operation {
            client,
            invoked_at: at.0,
            completed: Some((at.1, previous)),
            op: Op::Put { key, value },
        }
    }

    fn get(client: usize, at: (u64, u64), key: u8, value: Option<u64>) -> History {
        Operation {
            client,
            invoked_at: at.0,
            completed: Some((at.1, value)),
            op: Op::Get { key },
        }
    }

    type History = Operation<Op, Option<u64>>;

    fn verdict(history: &[History]) -> Verdict {
        check(&Registers::default(), history, SEARCH_STATES_MAX)
    }

    #[test]
    fn sequential_histories_check_against_the_model() {
        let history = vec![
            put(0, (1, 2), 0, 1, None),
            get(1, (3, 4), 0, Some(1)),
            put(0, (5, 6), 0, 2, Some(1)),
        ];
        assert_eq!(verdict(&history), Verdict::Linearizable);
        let stale = vec![put(0, (1, 2), 0, 1, None), get(1, (3, 4), 0, None)];
        assert!(matches!(verdict(&stale), Verdict::NotLinearizable { .. }));
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // The get overlaps the put, so it may see the old or the new value.
        for seen in [None, Some(7)] {
            let history = vec![put(0, (1, 5), 0, 7, None), get(1, (2, 4), 0, seen)];
            assert_eq!(verdict(&history), Verdict::Linearizable, "{seen:?}");
        }
        // A value nobody wrote is never linearizable.
        let history = vec![put(0, (1, 5), 0, 7, None), get(1, (2, 4), 0, Some(8))];
        assert!(matches!(verdict(&history), Verdict::NotLinearizable { .. }));
    }

    #[test]
    fn pending_operations_may_or_may_not_take_effect() {
        let pending = Operation {
            client: 0,
            invoked_at: 1,
            completed: None,
            op: Op::Put { key: 0, value: 9 },
        };
        for seen in [None, Some(9)] {
            let history = vec![pending.clone(), get(1, (5, 6), 0, seen)];
            assert_eq!(verdict(&history), Verdict::Linearizable);
        }
    }

    #[test]
    fn a_lost_write_is_caught() {
        // Two writes complete in order, then a read returns the first one.
        let history = vec![
            put(0, (1, 2), 0, 1, None),
            put(0, (3, 4), 0, 2, Some(1)),
            get(1, (5, 6), 0, Some(1)),
        ];
        let Verdict::NotLinearizable {
            operations,
            linearized_at_most,
            next,
        } = verdict(&history)
        else {
            panic!("the lost write is not caught");
        };
        assert_eq!((operations, linearized_at_most), (3, 2));
        assert_eq!(
            next,
            "client 1 sent Get { key: 0 } at tick 5 and was told Some(1) at tick 6, \
             where the model answers Some(2)"
        );
    }

    #[test]
    fn parts_are_checked_alone_and_named_when_they_fail() {
        let history = vec![
            put(0, (1, 2), 0, 1, None),
            put(1, (1, 2), 1, 5, None),
            get(0, (3, 4), 0, Some(1)),
            // Key 1 lost its write.
            get(1, (3, 4), 1, None),
        ];
        let failures = check_partitioned(&Registers::default(), history, SEARCH_STATES_MAX);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].0, "1");
    }

    /// Many overlapping operations with no partition: the search gives up within its
    /// bound and says so, instead of running for hours.
    #[test]
    fn a_search_past_its_bound_is_undecided_not_wrong() {
        // Every put overlaps every other, and the final read fits no order's last
        // write, so a complete search would try every order.
        let mut history: Vec<History> = (0..40)
            .map(|i| Operation {
                client: i,
                invoked_at: 1,
                completed: None,
                op: Op::Put {
                    key: (i % 3) as u8,
                    value: i as u64,
                },
            })
            .collect();
        history.push(get(99, (2, 3), 0, Some(1_000)));
        let bounded = check(&WholeRegisters::default(), &history, 2_000);
        assert_eq!(
            bounded,
            Verdict::Undecided {
                operations: 41,
                states: 2_000
            }
        );
    }

    /// The registers with no partition.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
    struct WholeRegisters(Registers);

    impl Model for WholeRegisters {
        type Op = Op;
        type Output = Option<u64>;

        fn step(&self, client: usize, op: &Op) -> (WholeRegisters, Option<u64>) {
            let (next, output) = self.0.step(client, op);
            (WholeRegisters(next), output)
        }
    }
}
