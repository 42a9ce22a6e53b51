//! The demo's output: one event per line, stamped with the time since the start.

use std::time::Instant;

/// Prints events to stdout as they happen. Shared by the demo's tasks; each event is one
/// `println!`, so lines from different tasks never interleave.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    start: Instant,
}

impl Timeline {
    pub fn start() -> Timeline {
        Timeline {
            start: Instant::now(),
        }
    }

    pub fn event(&self, text: impl std::fmt::Display) {
        let seconds = self.start.elapsed().as_secs_f64();
        println!("{seconds:7.3}s  {text}");
    }

    /// A continuation of the previous event, without a time stamp.
    pub fn detail(&self, text: impl std::fmt::Display) {
        println!("          {text}");
    }
}

/// "replicas 1, 2 and 3", "replica 1", or "no replica".
pub fn replicas(ids: &[rampart_replica::message::ReplicaId]) -> String {
    let numbers: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    match numbers.as_slice() {
        [] => "no replica".to_string(),
        [one] => format!("replica {one}"),
        [init @ .., last] => format!("replicas {} and {last}", init.join(", ")),
    }
}
