//! The shutdown interlock under the seeded fault campaign, through the same API as any
//! application's ([`rampart_testkit::campaign`]): four registered agents, of which one
//! lies, against up to f Byzantine replicas, Twins, crashes, faulty disks, partitions and
//! faulty clients. A model of the voting policy predicts every answer, so no mix of faults
//! within the tolerance flips a decision; every vote completes once the faults heal, so
//! none blocks one; and the valve, which only the lying agent wants shut down, never is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rampart_replica::apps::interlock::{Decision, Output};
use rampart_testkit::campaign::Answer;
use rampart_testkit::models::interlock::{self, Summary};

#[test]
fn no_fault_within_tolerance_flips_or_blocks_a_decision() {
    // How many answers said the pump was shut down, and how many resets went through:
    // the campaign must reach decisions for its checks to mean anything.
    let shutdowns = Arc::new(AtomicU64::new(0));
    let resets = Arc::new(AtomicU64::new(0));
    let (shutdowns_seen, resets_seen) = (shutdowns.clone(), resets.clone());
    let report = interlock::campaign()
        .invariant(move |history| {
            for (_, seen) in history.iter().filter_map(|entry| entry.completed.as_ref()) {
                match seen {
                    Answer::Output(Output::Counted {
                        decision: Decision::Shutdown { .. },
                        ..
                    })
                    | Answer::QueryOutput(Summary::Status {
                        decision: Decision::Shutdown { .. },
                        ..
                    }) => shutdowns_seen.fetch_add(1, Ordering::Relaxed),
                    Answer::Output(Output::ResetCounted { reset: true, .. }) => {
                        resets_seen.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => 0,
                };
            }
            Ok(())
        })
        .run();
    let (shutdowns, resets) = (
        shutdowns.load(Ordering::Relaxed),
        resets.load(Ordering::Relaxed),
    );
    println!("interlock: {report}\n{shutdowns} answers said shut down, {resets} resets");
    assert!(report.violations.is_empty(), "{report}");
    assert!(report.undecided.is_empty(), "{report}");
    assert!(
        shutdowns > 0 && resets > 0,
        "the campaign reached no decision to check"
    );
}

/// With f + 1 Twins the replicas split, and the interlock's answers with them.
#[test]
fn beyond_tolerance_the_split_is_seen() {
    let report = interlock::campaign().beyond_tolerance().seeds(1).run();
    println!("interlock, negative control: {report}");
    assert!(
        !report.seeds_with_safety_violations().is_empty(),
        "f + 1 Twins never broke safety: the checkers cannot see divergence"
    );
}
