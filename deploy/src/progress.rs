//! Progress bars on standard error for the commands that run long (`rampart bench`,
//! `rampart chaos`), drawn by `indicatif`.
//!
//! A bar is drawn only when standard error is a terminal: `indicatif`'s default target
//! hides itself when it is not (a pipe, a file, a supervisor's log), or when `TERM` is
//! `dumb`, so logs get no carriage returns or escape sequences. What a command prints on
//! standard output is the same either way.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `length` steps on standard error, laid out by `template` (`indicatif`'s
/// template syntax), with `#` for the part done.
pub fn bar(length: u64, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .map(|style| style.progress_chars("## "))
        // Every template is a constant with a test; a bar without its layout still counts.
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(length).with_style(style)
}
