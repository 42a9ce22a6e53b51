//! Everything a replica refused, by stage and reason: one list for the metrics and for
//! the log. The log says each reason once when it first happens, then at most once a
//! minute with the count since, so that whoever can send a replica messages cannot make it
//! write a line per message.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::net::TransportStats;
use crate::shell::{InboundCounters, NodeStatus};

/// The shortest time between two log lines about one refusal reason.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How loud a refusal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Ordinary in a working cluster (a late message, a duplicate): counted, not logged.
    Quiet,
    /// Worth an operator's attention (a client over its quota, connections over a cap):
    /// logged at INFO.
    Notable,
    /// Only a faulty or hostile peer causes it (a bad signature, a malformed message):
    /// logged at WARN.
    Faulty,
}

/// How many inputs were refused for one reason since the replica started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RefusalCount {
    /// Where: `core` (the protocol), `inbound` (decoding and signature checks),
    /// `transport` (connections and frames) or `client` (requests refused to clients).
    pub(crate) stage: &'static str,
    pub(crate) reason: String,
    pub(crate) count: u64,
    pub(crate) severity: Severity,
}

/// `ConflictingPrePrepare` → `conflicting_pre_prepare`.
fn snake_case(name: &str) -> String {
    let mut snake = String::with_capacity(name.len() + 4);
    for (index, character) in name.chars().enumerate() {
        if character.is_ascii_uppercase() {
            if index > 0 {
                snake.push('_');
            }
            snake.push(character.to_ascii_lowercase());
        } else if character == ' ' {
            snake.push('_');
        } else {
            snake.push(character);
        }
    }
    snake
}

/// Every refusal counted so far: the core's rejects, the inbound pipeline's and the
/// transport's refusals, and the refusals clients heard. Reasons never seen are left out,
/// except the inbound and transport ones, which are always there.
pub(crate) fn refusal_counts(
    status: &NodeStatus,
    inbound: &InboundCounters,
    transport: &TransportStats,
) -> Vec<RefusalCount> {
    let mut counts = Vec::new();
    let mut add = |stage, reason: String, count, severity| {
        counts.push(RefusalCount {
            stage,
            reason,
            count,
            severity,
        });
    };
    for (reject, count) in &status.reject_counts {
        let severity = if reject.is_byzantine() {
            Severity::Faulty
        } else {
            Severity::Quiet
        };
        add("core", snake_case(&format!("{reject:?}")), *count, severity);
    }
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    for (reason, count, severity) in [
        (
            "undecodable_frame",
            load(&inbound.frames_undecodable),
            Severity::Faulty,
        ),
        (
            "invalid_signature",
            load(&inbound.signatures_invalid),
            Severity::Faulty,
        ),
        (
            "invalid_message",
            load(&inbound.messages_refused),
            Severity::Faulty,
        ),
        (
            "redundant",
            load(&inbound.messages_redundant),
            Severity::Quiet,
        ),
    ] {
        add("inbound", reason.to_string(), count, severity);
    }
    for (reason, count, severity) in [
        (
            "oversized_frame",
            transport.frames_oversized_refused,
            Severity::Faulty,
        ),
        (
            "handshake_refused",
            transport.handshakes_refused,
            Severity::Faulty,
        ),
        // A peer with other cluster settings: its operator must re-run `rampart init`
        // or hand it the cluster's file (the transport's own line names the settings).
        (
            "settings_mismatch",
            transport.settings_refused,
            Severity::Faulty,
        ),
        // A second process with a peer's key while the first one lives.
        ("twin_identity", transport.twins_refused, Severity::Faulty),
        (
            "connection_over_cap",
            transport.connections_over_cap_refused,
            Severity::Notable,
        ),
        (
            "handshake_over_cap",
            transport.handshakes_over_cap_ignored,
            Severity::Notable,
        ),
    ] {
        add("transport", reason.to_string(), count, severity);
    }
    for (kind, count) in &status.client_refusals {
        add("client", snake_case(kind), *count, Severity::Notable);
    }
    counts
}

/// One line the refusal log wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) stage: &'static str,
    pub(crate) reason: String,
    /// Refusals since the previous line (all of them for the first).
    pub(crate) since_last_line: u64,
    pub(crate) total: u64,
    pub(crate) first: bool,
}

/// When each reason was last logged, and its count then.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    logged: BTreeMap<(&'static str, String), (u64, Instant)>,
}

impl RefusalLog {
    /// Logs, for each reason that is not quiet, its first refusal, and then new refusals
    /// at most once per [`REFUSAL_LOG_INTERVAL`]. Returns the lines written.
    pub(crate) fn update(
        &mut self,
        replica: u32,
        counts: &[RefusalCount],
        now: Instant,
    ) -> Vec<Line> {
        let mut lines = Vec::new();
        for refusal in counts {
            if refusal.severity == Severity::Quiet || refusal.count == 0 {
                continue;
            }
            let key = (refusal.stage, refusal.reason.clone());
            let line = match self.logged.get(&key) {
                None => Line {
                    stage: refusal.stage,
                    reason: refusal.reason.clone(),
                    since_last_line: refusal.count,
                    total: refusal.count,
                    first: true,
                },
                Some(&(count, at))
                    if refusal.count > count && now.duration_since(at) >= REFUSAL_LOG_INTERVAL =>
                {
                    Line {
                        stage: refusal.stage,
                        reason: refusal.reason.clone(),
                        since_last_line: refusal.count - count,
                        total: refusal.count,
                        first: false,
                    }
                }
                Some(_) => continue,
            };
            self.logged.insert(key, (refusal.count, now));
            write(replica, &line, refusal.severity);
            lines.push(line);
        }
        lines
    }
}

fn write(replica: u32, line: &Line, severity: Severity) {
    let Line {
        stage,
        reason,
        since_last_line,
        total,
        first,
    } = line;
    let message = if *first {
        format!(
            "refused {stage} input: {reason}; further refusals for this reason are logged at \
             most once a minute"
        )
    } else {
        format!("refused {stage} input: {reason}, {since_last_line} more times since the last line")
    };
    match severity {
        Severity::Faulty => tracing::warn!(replica, stage, reason, total, "{message}"),
        Severity::Notable | Severity::Quiet => {
            tracing::info!(replica, stage, reason, total, "{message}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Reject;

    #[test]
    fn peers_with_other_settings_and_twins_are_transport_refusals_worth_a_warning() {
        let transport = TransportStats {
            settings_refused: 2,
            twins_refused: 1,
            ..TransportStats::default()
        };
        let counts = refusal_counts(
            &NodeStatus::default(),
            &InboundCounters::default(),
            &transport,
        );
        let find = |reason: &str| {
            counts
                .iter()
                .find(|count| count.stage == "transport" && count.reason == reason)
                .map(|count| (count.count, count.severity))
        };
        assert_eq!(find("settings_mismatch"), Some((2, Severity::Faulty)));
        assert_eq!(find("twin_identity"), Some((1, Severity::Faulty)));
    }

    #[test]
    fn reasons_are_named_in_snake_case() {
        assert_eq!(
            snake_case("ConflictingPrePrepare"),
            "conflicting_pre_prepare"
        );
        assert_eq!(snake_case("over bytes quota"), "over_bytes_quota");
    }

    #[test]
    fn each_reason_is_logged_first_then_at_most_once_a_minute_with_the_count() {
        let mut status = NodeStatus::default();
        let inbound = InboundCounters::default();
        let transport = TransportStats::default();
        let mut log = RefusalLog::default();
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut update = |status: &NodeStatus, seconds| {
            let counts = refusal_counts(status, &inbound, &transport);
            log.update(0, &counts, at(seconds))
                .into_iter()
                .map(|line| (line.reason, line.since_last_line, line.first))
                .collect::<Vec<_>>()
        };
        assert_eq!(update(&status, 0), []);
        status.reject_counts.insert(Reject::WrongDigest, 3);
        status.reject_counts.insert(Reject::Duplicate, 500);
        assert_eq!(update(&status, 1), [("wrong_digest".to_string(), 3, true)]);
        status.reject_counts.insert(Reject::WrongDigest, 10);
        status.client_refusals.insert("over quota", 1);
        assert_eq!(update(&status, 30), [("over_quota".to_string(), 1, true)]);
        assert_eq!(update(&status, 60), []);
        assert_eq!(
            update(&status, 61),
            [("wrong_digest".to_string(), 7, false)]
        );
        // Nothing new: nothing said, however long it has been.
        assert_eq!(update(&status, 600), []);
    }
}
