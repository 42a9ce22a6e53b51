//! `rampart chaos` runs the seeded campaign, reports what the checkers found, and its exit
//! status says whether the outcome was the expected one.

use crate::support::rampart;
use crate::support::{assert_one_line_error, describe, run};

#[test]
fn a_campaign_within_tolerance_reports_no_violation() {
    let output = run(rampart().args(["chaos", "--seeds", "40", "--first", "1000"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stdout.contains("chaos: seeds 1000 to 1039"), "{stdout}");
    assert!(stdout.contains("40 seeds, "), "{stdout}");
    assert!(stdout.contains(", 0 violations"), "{stdout}");
}

#[test]
fn beyond_tolerance_the_checkers_report_the_split_with_a_replay_command() {
    let output = run(rampart().args(["chaos", "--beyond-tolerance", "--seeds", "3"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stdout.contains("divergent execution at"), "{stdout}");
    assert!(
        stdout.contains("replay: rampart chaos --beyond-tolerance --first 0 --seeds 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("as expected, 3 of 3 seeds violated safety"),
        "{stdout}"
    );
}

#[test]
fn an_empty_campaign_is_refused() {
    let output = run(rampart().args(["chaos", "--seeds", "0"]));
    assert_one_line_error(&output, 2, &["--seeds must be at least 1"]);
}
