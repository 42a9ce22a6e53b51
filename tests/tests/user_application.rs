//! The campaign as an application's author uses it (`rampart_testkit::campaign`): an
//! application of one's own, a workload and a model (or an invariant), and what the
//! campaign says about correct and buggy applications, beyond the fault tolerance, and when
//! a history is too large to search.

use bytes::Bytes;
use rampart_replica::app::{AppError, StateMachine};
use rampart_testkit::Violation;
use rampart_testkit::campaign::prelude::*;
use rampart_testkit::campaign::{Codec, Rng, WHOLE_HISTORY};
use serde::{Deserialize, Serialize};

/// A register; with `lose_sevens`, writes of multiples of 7 are answered but not stored, the
/// same way on every replica: a bug no replica disagrees on, which only a model can see.
#[derive(Default, Serialize, Deserialize)]
struct Register {
    value: u64,
    lose_sevens: bool,
}

impl Application for Register {
    type Command = u64;
    type Output = u64;
    type Query = ();
    type QueryOutput = u64;

    fn apply(&mut self, _: &ApplyContext, value: u64) -> u64 {
        let previous = self.value;
        if !(self.lose_sevens && value.is_multiple_of(7)) {
            self.value = value;
        }
        previous
    }

    fn query(&self, _: &ClientId, _: ()) -> u64 {
        self.value
    }
}

/// What a correct register answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct RegisterModel(u64);

impl Model for RegisterModel {
    type Op = Operation<u64, ()>;
    type Output = Answer<u64, u64>;

    fn step(&self, _client: usize, op: &Self::Op) -> (RegisterModel, Self::Output) {
        match op {
            Operation::Command(value) => (RegisterModel(*value), Answer::Output(self.0)),
            Operation::Query(()) => (self.clone(), Answer::QueryOutput(self.0)),
        }
    }
}

fn writes_and_reads(rng: &mut Rng, _client: usize) -> Operation<u64, ()> {
    match rng.below(3) {
        0 => Operation::Query(()),
        _ => Operation::Command(rng.below(1_000)),
    }
}

fn register(lose_sevens: bool) -> Campaign<Operation<u64, ()>, Answer<u64, u64>> {
    Campaign::typed(move || Register {
        value: 0,
        lose_sevens,
    })
    .workload(writes_and_reads)
    .model(RegisterModel::default())
}

#[test]
fn a_correct_application_passes_and_a_seed_replays_the_same_run() {
    let campaign = register(false).seeds(2);
    let report = campaign.run();
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.operations > 0, "{report}");
    let (first, second) = (campaign.run_seed(1), campaign.run_seed(1));
    assert_eq!(first.stats, second.stats);
    assert_eq!(first.violations, second.violations);
}

#[test]
fn a_bug_every_replica_agrees_on_is_caught_with_the_seed_that_replays_it() {
    let campaign = register(true).seeds(2);
    let report = campaign.run();
    println!("{report}");
    let (seed, violation) = report.violations.first().expect("the lost write is caught");
    assert!(
        matches!(violation, Violation::NotLinearizable { part, .. } if part == WHOLE_HISTORY),
        "{violation}"
    );
    // The replicas agree: every one of them lost the same writes.
    assert!(
        !report.violations.iter().any(|(_, v)| matches!(
            v,
            Violation::DivergentExecution { .. } | Violation::DivergentCheckpoint { .. }
        )),
        "{report}"
    );
    let shown = report.to_string();
    assert!(
        shown.contains(&format!(
            "reproduce with: RAMPART_SEED={seed} cargo nextest run"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("a_bug_every_replica_agrees_on_is_caught"),
        "{shown}"
    );
    let replayed = campaign.replay(*seed);
    assert_eq!(
        replayed.violations,
        report
            .violations
            .iter()
            .filter(|(s, _)| s == seed)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    );
}

/// f + 1 Twins split the replicas of any application: the negative control works for an
/// application of one's own too.
#[test]
fn beyond_tolerance_the_split_is_seen_in_any_application() {
    let report = register(false).beyond_tolerance().seeds(1).run();
    println!("{report}");
    assert!(
        !report.seeds_with_safety_violations().is_empty(),
        "f + 1 Twins never broke safety: {report}"
    );
}

#[test]
fn a_history_too_large_to_search_is_undecided_rather_than_wrong() {
    let report = register(false).seeds(1).search_states_max(3).run();
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");
    let (_, undecided) = report
        .undecided
        .first()
        .expect("a search of 3 states decides");
    assert!(
        undecided.contains("undecided after 3 search states"),
        "{undecided}"
    );
}

/// A ticket dispenser as a byte-level state machine with a codec of its own, checked by an
/// invariant instead of a model: no two clients are told the same ticket. With
/// `reuse_after`, tickets wrap around.
struct Dispenser {
    issued: u64,
    reuse_after: Option<u64>,
}

impl StateMachine for Dispenser {
    fn apply(&mut self, _: &ApplyContext, operation: &[u8]) -> Vec<u8> {
        if operation != b"take" {
            return Vec::new();
        }
        self.issued += 1;
        let ticket = match self.reuse_after {
            Some(wrap) => self.issued % wrap,
            None => self.issued,
        };
        ticket.to_le_bytes().to_vec()
    }

    fn query(&self, _: &ClientId, _: &[u8]) -> Vec<u8> {
        self.issued.to_le_bytes().to_vec()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.issued.to_le_bytes().to_vec()
    }

    fn restore(&mut self, snapshot: &[u8]) -> Result<(), AppError> {
        let bytes = snapshot
            .try_into()
            .map_err(|_| AppError::UndecodableSnapshot {
                reason: format!("{} bytes, not 8", snapshot.len()),
            })?;
        self.issued = u64::from_le_bytes(bytes);
        Ok(())
    }
}

/// Every operation takes a ticket; a result is the ticket, if it decodes.
struct Take;

impl Codec for Take {
    type Op = ();
    type Output = Option<u64>;

    fn encode(&self, _: &()) -> Bytes {
        Bytes::from_static(b"take")
    }

    fn decode(&self, _: &(), result: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(result.try_into().ok()?))
    }
}

fn dispenser(reuse_after: Option<u64>) -> Campaign<(), Option<u64>> {
    Campaign::new(
        move || Dispenser {
            issued: 0,
            reuse_after,
        },
        Take,
    )
    .workload(|_, _| ())
    .invariant(|history| {
        let mut seen = std::collections::BTreeSet::new();
        for entry in history {
            if let Some((_, ticket)) = &entry.completed
                && !seen.insert(*ticket)
            {
                return Err(format!("ticket {ticket:?} handed out twice"));
            }
        }
        Ok(())
    })
    .seeds(1)
}

#[test]
fn a_byte_level_application_is_checked_by_its_invariant() {
    let report = dispenser(None).run();
    println!("{report}");
    assert!(report.violations.is_empty(), "{report}");

    let report = dispenser(Some(10)).run();
    println!("{report}");
    assert!(
        report
            .violations
            .iter()
            .any(|(_, v)| matches!(v, Violation::Application { detail } if detail.contains("handed out twice"))),
        "{report}"
    );
}

/// The README shows the example that runs as a doc test of the campaign module, as it is.
#[test]
fn the_readme_shows_the_example_as_it_runs() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/campaign.rs");
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md no longer shows tests/examples/campaign.rs as it is: copy the file into \
         the README's section on testing an application under faults"
    );
}
