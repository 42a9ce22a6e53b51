//! The interlock's answers as text for people: one fact per line, `name: value`.

use std::fmt::Write as _;

use rampart_replica::apps::interlock::{
    Choice, Command, CountedAs, Decision, Event, IgnoredReason, Output, Tally, UnitStatus,
};

use super::setup::ClientSetup;

/// What a command did: how the vote counted (or why it changed nothing), the tally and the
/// decision.
pub fn outcome(setup: &ClientSetup, command: &Command, output: &Output) -> String {
    let mut text = String::new();
    match output {
        Output::Counted {
            round,
            counted_as,
            tally,
            decision,
        } => {
            let _ = writeln!(
                text,
                "outcome: counted as {} in round {round}",
                counted_as_name(*counted_as)
            );
            let _ = writeln!(text, "tally: {}", tally_line(setup, tally));
            let _ = writeln!(text, "decision: {}", decision_name(decision));
        }
        Output::ResetCounted {
            round,
            reset_votes,
            reset,
        } => {
            let _ = writeln!(
                text,
                "outcome: reset vote counted in round {round} ({reset_votes} of {} needed)",
                quorum(setup)
            );
            if *reset {
                let _ = writeln!(
                    text,
                    "decision: reset; the unit runs again in round {}",
                    round + 1
                );
            }
        }
        Output::Ignored { reason } => {
            let _ = writeln!(
                text,
                "outcome: ignored, {}",
                ignored_reason(setup, command, reason)
            );
        }
    }
    text
}

/// A unit's status, with at most `history_max` of its latest history entries.
pub fn status(setup: &ClientSetup, unit: &UnitStatus, history_max: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "unit: {}", unit.unit);
    let _ = writeln!(text, "round: {}", unit.round);
    let _ = writeln!(text, "decision: {}", decision_name(&unit.decision));
    let _ = writeln!(text, "tally: {}", tally_line(setup, &unit.tally));
    if unit.ballots.is_empty() {
        let _ = writeln!(text, "ballots: none");
    } else {
        let _ = writeln!(text, "ballots:");
        let mut ballots: Vec<_> = unit.ballots.iter().collect();
        ballots.sort_by_key(|(agent, _)| (setup.agent_index(agent).unwrap_or(usize::MAX), **agent));
        for (agent, ballot) in ballots {
            let _ = writeln!(
                text,
                "  {}: {}, confidence {}%, counted as {} (seq {})",
                setup.client_name(agent),
                choice_name(ballot.choice),
                ballot.confidence_percent,
                counted_as_name(ballot.counted_as),
                ballot.seq.0
            );
        }
    }
    if !unit.reset_votes.is_empty() {
        let voters: Vec<String> = unit
            .reset_votes
            .iter()
            .map(|agent| setup.client_name(agent))
            .collect();
        let _ = writeln!(
            text,
            "reset votes: {} of {} needed: {}",
            voters.len(),
            quorum(setup),
            voters.join(", ")
        );
    }
    let shown = unit.history.len().min(history_max);
    let total = unit.history.len() as u64 + unit.history_dropped;
    if shown == 0 {
        let _ = writeln!(text, "history: none shown ({total} entries)");
        return text;
    }
    let _ = writeln!(text, "history: the latest {shown} of {total} entries");
    for entry in &unit.history[unit.history.len() - shown..] {
        let event = match &entry.event {
            Event::Vote {
                agent,
                choice,
                confidence_percent,
                counted_as,
            } => format!(
                "{} voted {}, confidence {confidence_percent}%, counted as {}",
                setup.client_name(agent),
                choice_name(*choice),
                counted_as_name(*counted_as)
            ),
            Event::Shutdown { shutdown_votes } => {
                format!("SHUTDOWN with {shutdown_votes} shutdown votes")
            }
            Event::ResetVote { agent } => format!("{} voted to reset", setup.client_name(agent)),
            Event::Reset => format!("reset; round {} opened", entry.round + 1),
        };
        let _ = writeln!(
            text,
            "  seq {}, round {}: {event}",
            entry.seq.0, entry.round
        );
    }
    text
}

/// A command in words.
pub fn command(command: &Command) -> String {
    match command {
        Command::Vote {
            unit,
            round,
            choice,
            confidence_percent,
        } => format!(
            "vote {} on {unit} in round {round}, confidence {confidence_percent}%",
            choice_name(*choice)
        ),
        Command::Reset { unit, round } => format!("reset {unit}, shut down in round {round}"),
    }
}

pub fn decision_name(decision: &Decision) -> String {
    match decision {
        Decision::Shutdown { since } => format!("SHUTDOWN (since seq {})", since.0),
        Decision::Continue => "CONTINUE".to_string(),
        Decision::Undecided => "UNDECIDED".to_string(),
    }
}

fn tally_line(setup: &ClientSetup, tally: &Tally) -> String {
    let agents = setup.policy().map_or(0, |policy| policy.agent_count());
    format!(
        "{} shutdown, {} continue, {} abstaining, {} not voted (quorum {} of {agents} agents)",
        tally.shutdown_votes,
        tally.continue_votes,
        tally.abstentions,
        tally.not_voted,
        quorum(setup)
    )
}

fn quorum(setup: &ClientSetup) -> u32 {
    setup.policy().map_or(0, |policy| policy.shutdown_quorum)
}

fn choice_name(choice: Choice) -> &'static str {
    match choice {
        Choice::Shutdown => "shutdown",
        Choice::Continue => "continue",
    }
}

fn counted_as_name(counted_as: CountedAs) -> &'static str {
    match counted_as {
        CountedAs::Shutdown => "shutdown",
        CountedAs::Continue => "continue",
        CountedAs::Abstention => "abstention",
    }
}

fn ignored_reason(setup: &ClientSetup, command: &Command, reason: &IgnoredReason) -> String {
    let round = match command {
        Command::Vote { round, .. } | Command::Reset { round, .. } => *round,
    };
    match reason {
        IgnoredReason::UnregisteredAgent => format!(
            "this client is not a registered agent of the interlock (its key is not in {}'s \
             registered_agents)",
            setup.cluster_path.display()
        ),
        IgnoredReason::UnknownUnit => "the interlock protects no such unit".to_string(),
        IgnoredReason::ConfidenceOutOfRange { confidence_percent } => {
            format!("confidence {confidence_percent}% is above 100%")
        }
        IgnoredReason::UnitShutDown { round, since } => format!(
            "the unit is shut down (since seq {}, round {round}); votes wait for a reset",
            since.0
        ),
        IgnoredReason::WrongRound { current } => {
            format!("the unit is in round {current}, not {round}; use --round {current}")
        }
        IgnoredReason::UnchangedVote { counted_as } => format!(
            "this agent's ballot in round {round} already counts as {}",
            counted_as_name(*counted_as)
        ),
        IgnoredReason::NotShutDown => "only a shut-down unit can be reset".to_string(),
        IgnoredReason::DuplicateResetVote => {
            format!("this agent already voted to reset the unit in round {round}")
        }
    }
}
