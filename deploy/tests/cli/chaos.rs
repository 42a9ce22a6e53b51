//! `rampart chaos` runs the seeded campaign, reports what the checkers found, and its exit
//! status says whether the outcome was the expected one.

use crate::support::rampart;
use crate::support::{assert_one_line_error, describe, run};

#[test]
fn a_campaign_within_tolerance_reports_no_violation() {
    let output = run(rampart().args(["chaos", "--seeds", "40", "--first", "1000"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout.contains("chaos: kv campaign, seeds 1000 to 1039"),
        "{stdout}"
    );
    assert!(stdout.contains("40 seeds, "), "{stdout}");
    assert!(stdout.contains(", 0 violations"), "{stdout}");
    // Standard error is a pipe here, not a terminal: no progress bar is drawn on it.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("seeds"),
        "{stderr}"
    );
}

#[test]
fn beyond_tolerance_the_checkers_report_the_split_with_a_replay_command() {
    let output = run(rampart().args(["chaos", "--beyond-tolerance", "--seeds", "3"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stdout.contains("divergent execution at"), "{stdout}");
    assert!(
        stdout.contains("replay: rampart chaos --app kv --beyond-tolerance --first 0 --seeds 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("as expected, 3 of 3 seeds violated safety"),
        "{stdout}"
    );
}

/// The shutdown interlock under the same faults, with a model of its voting policy.
#[test]
fn the_interlock_campaign_reports_no_violation() {
    let output = run(rampart().args([
        "chaos",
        "--app",
        "interlock",
        "--seeds",
        "8",
        "--first",
        "500",
    ]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout.contains("chaos: interlock campaign, seeds 500 to 507"),
        "{stdout}"
    );
    assert!(stdout.contains("8 seeds, "), "{stdout}");
    assert!(stdout.contains(", 0 violations"), "{stdout}");
}

#[test]
fn beyond_tolerance_the_interlock_splits_too() {
    let output = run(rampart().args([
        "chaos",
        "--app",
        "interlock",
        "--beyond-tolerance",
        "--seeds",
        "1",
    ]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout.contains("replay: rampart chaos --app interlock --beyond-tolerance --first 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("as expected, 1 of 1 seeds violated safety"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_application_is_refused_with_the_known_ones() {
    let output = run(rampart().args(["chaos", "--app", "ledger"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr.contains("invalid value 'ledger' for '--app <APP>'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[possible values: kv, interlock]"),
        "{stderr}"
    );
}

#[test]
fn an_empty_campaign_is_refused() {
    let output = run(rampart().args(["chaos", "--seeds", "0"]));
    assert_one_line_error(&output, 2, &["--seeds must be at least 1"]);
}
