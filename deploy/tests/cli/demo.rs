//! `rampart demo` tells its story to the end: the SHUTDOWN decision latches and the
//! actuator trips on a certificate it verified.

use std::time::{Duration, Instant};

use crate::support::{describe, rampart, run_within};

/// A generous bound for a loaded two-core machine; the demo itself gives up after 60 s.
const DEMO_BOUND: Duration = Duration::from_secs(180);

#[test]
fn the_demo_decides_shutdown_and_the_actuator_trips() {
    let started = Instant::now();
    let output = run_within(rampart().arg("demo"), DEMO_BOUND);
    println!("rampart demo took {:?}", started.elapsed());
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "is Byzantine",
        "SHUTDOWN LATCHED",
        "-> TRIP: power to reactor-1 cut",
        "replica 0 (Byzantine): UNDECIDED",
        "summary: reactor-1 SHUTDOWN since seq",
        "cluster stopped; temporary storage removed",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
    // Logs are off unless RUST_LOG asks for them.
    assert!(output.stderr.is_empty(), "{}", describe(&output));
}
