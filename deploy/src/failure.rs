//! What the `rampart` command reports when it cannot do its job: one line that says what
//! to fix, and the exit status that tells scripts what kind of problem it was.

use std::fmt;

/// The kind of a failure, which decides the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The command line or a configuration file is wrong: the user must change it.
    /// Exit status 2, like a usage error.
    Config,
    /// Something failed while running (a port in use, a storage error, a stopped node).
    /// Exit status 1.
    Runtime,
}

/// A failure to show the user as `error: <message>`.
///
/// The message is kept to a single line: newlines from underlying errors (TOML parse
/// errors, operating-system messages) are folded into spaces, so that a supervisor's log
/// shows one complete entry per failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    /// A configuration or usage problem (exit status 2).
    pub fn config(message: impl fmt::Display) -> Failure {
        Failure::new(FailureKind::Config, message)
    }

    /// A problem while running (exit status 1).
    pub fn runtime(message: impl fmt::Display) -> Failure {
        Failure::new(FailureKind::Runtime, message)
    }

    fn new(kind: FailureKind, message: impl fmt::Display) -> Failure {
        let message = message
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Failure { kind, message }
    }

    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            FailureKind::Config => 2,
            FailureKind::Runtime => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_folded_onto_one_line() {
        let failure = Failure::config("first line\n  second line\n");
        assert_eq!(failure.message(), "first line second line");
        assert_eq!(failure.exit_code(), 2);
        assert_eq!(Failure::runtime("x").exit_code(), 1);
    }
}
