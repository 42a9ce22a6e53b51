//! What the clients saw, judged: every acknowledged write is still readable, and the
//! history of every key is linearizable (Wing and Gong's check, from the test kit).

use std::collections::BTreeMap;

use crate::model::{KvOp, KvResult, RegisterModel};
use rampart_testkit::checker::linearizability::{self, Operation};

/// One client operation on one key: invoked and completed in microseconds since the run
/// began; `completed` is `None` when the client gave up without an answer.
pub type Record = Operation<KvOp, KvResult>;

/// Counts of the history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub operations: usize,
    pub acknowledged: usize,
    pub writes_acknowledged: usize,
    /// Operations the client gave up on: they may or may not have taken effect.
    pub unanswered: usize,
}

/// Counts operations and acknowledgements in `history`.
pub fn counts(history: &[Record]) -> Counts {
    let mut counts = Counts {
        operations: history.len(),
        ..Counts::default()
    };
    for record in history {
        match (&record.completed, &record.op) {
            (None, _) => counts.unanswered += 1,
            (Some(_), KvOp::Put { .. }) => {
                counts.acknowledged += 1;
                counts.writes_acknowledged += 1;
            }
            (Some(_), KvOp::Get { .. }) => counts.acknowledged += 1,
        }
    }
    counts
}

/// The acknowledged writes that the final value of their key contradicts: the write that
/// put the final value there (every value is written once) was acknowledged before the
/// lost write was even invoked, so the lost write should have replaced it. `finals` holds
/// each key's value as read after every other operation ended.
pub fn lost_writes(history: &[Record], finals: &BTreeMap<u8, Option<u64>>) -> Vec<Record> {
    let mut lost = Vec::new();
    for (key, final_value) in finals {
        let writes: Vec<&Record> = history
            .iter()
            .filter(|record| matches!(record.op, KvOp::Put { key: written, .. } if written == *key))
            .collect();
        // When the final value was acknowledged as written; None if it is the initial
        // (absent) value, or was written by a write nobody saw complete.
        let final_written_at = match final_value {
            None => Some(0),
            Some(value) => {
                let writer = writes
                    .iter()
                    .find(|record| matches!(record.op, KvOp::Put { value: v, .. } if v == *value));
                match writer {
                    Some(record) => record.completed.as_ref().map(|(at, _)| *at),
                    // A value nobody wrote: every acknowledged write of the key is lost.
                    None => Some(0),
                }
            }
        };
        let Some(final_written_at) = final_written_at else {
            continue;
        };
        for write in writes {
            let acknowledged = write.completed.is_some();
            let overwrote_final = matches!(
                (final_value, &write.op),
                (Some(value), KvOp::Put { value: v, .. }) if v == value
            );
            if acknowledged && !overwrote_final && write.invoked_at > final_written_at {
                lost.push(write.clone());
            }
        }
    }
    lost
}

/// The keys whose history admits no linearization (or could not be decided), with the
/// checker's detail.
pub fn not_linearizable(history: &[Record]) -> Vec<(String, String)> {
    linearizability::check_partitioned(
        &RegisterModel::default(),
        history.to_vec(),
        linearizability::SEARCH_STATES_MAX,
    )
    .into_iter()
    .map(|(part, verdict)| (part, verdict.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client: usize, at: (u64, Option<u64>), value: u64, previous: Option<u64>) -> Record {
        Operation {
            client,
            invoked_at: at.0,
            completed: at.1.map(|done| (done, KvResult::Put { previous })),
            op: KvOp::Put { key: 0, value },
        }
    }

    fn get(client: usize, at: (u64, u64), value: Option<u64>) -> Record {
        Operation {
            client,
            invoked_at: at.0,
            completed: Some((at.1, KvResult::Get { value })),
            op: KvOp::Get { key: 0 },
        }
    }

    fn finals(value: Option<u64>) -> BTreeMap<u8, Option<u64>> {
        BTreeMap::from([(0, value)])
    }

    #[test]
    fn a_history_that_ends_with_the_last_write_loses_nothing() {
        let history = vec![
            put(0, (1, Some(2)), 10, None),
            put(1, (3, Some(4)), 11, Some(10)),
            get(0, (5, 6), Some(11)),
        ];
        assert_eq!(lost_writes(&history, &finals(Some(11))), Vec::new());
        assert_eq!(not_linearizable(&history), Vec::new());
        assert_eq!(
            counts(&history),
            Counts {
                operations: 3,
                acknowledged: 3,
                writes_acknowledged: 2,
                unanswered: 0
            }
        );
    }

    #[test]
    fn an_acknowledged_write_the_final_value_predates_is_lost() {
        let history = vec![
            put(0, (1, Some(2)), 10, None),
            put(1, (3, Some(4)), 11, Some(10)),
            get(0, (5, 6), Some(10)),
        ];
        let lost = lost_writes(&history, &finals(Some(10)));
        assert_eq!(lost, vec![history[1].clone()]);
        assert_eq!(not_linearizable(&history).len(), 1);
        // An empty final value loses every acknowledged write; so does a value no one
        // wrote.
        assert_eq!(lost_writes(&history, &finals(None)).len(), 2);
        assert_eq!(lost_writes(&history, &finals(Some(99))).len(), 2);
    }

    #[test]
    fn concurrent_and_unanswered_writes_are_not_lost() {
        // The two writes overlap: either may be last.
        let history = vec![
            put(0, (1, Some(5)), 10, None),
            put(1, (2, Some(6)), 11, Some(10)),
        ];
        assert_eq!(lost_writes(&history, &finals(Some(10))), Vec::new());
        assert_eq!(lost_writes(&history, &finals(Some(11))), Vec::new());
        // A write nobody saw complete may take effect at any time after it began.
        let history = vec![put(0, (1, None), 10, None), put(1, (3, Some(4)), 11, None)];
        assert_eq!(lost_writes(&history, &finals(Some(10))), Vec::new());
        assert_eq!(counts(&history).unanswered, 1);
    }
}
