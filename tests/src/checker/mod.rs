//! Checkers: they tell whether a run went wrong.
//!
//! - [`safety`]: no two correct replicas execute different batches at one sequence number,
//!   and correct replicas agree on the state digest of every checkpoint;
//! - [`linearizability`]: the results clients accepted are linearizable against a
//!   sequential model, and the application's own invariants hold on them
//!   ([`crate::workload`]);
//! - liveness is judged by the simulation itself: every request completes once faults heal.
//!
//! They depend on the protocol's types and rules (`rampart_protocol`) alone, never on the
//! replica's shell, storage or transport.

pub mod linearizability;
pub mod resources;
pub mod safety;

use std::fmt;

/// Something that went wrong in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two correct replicas executed different batches at one sequence number.
    DivergentExecution {
        seq: u64,
        first: String,
        second: String,
    },
    /// Two correct replicas took checkpoints with different state digests.
    DivergentCheckpoint {
        seq: u64,
        first: String,
        second: String,
    },
    /// The client results admit no linearization; `part` names the model's partition
    /// (a key), or is [`linearizability::WHOLE_HISTORY`].
    NotLinearizable { part: String, detail: String },
    /// An invariant of the application under test failed on what clients were told.
    Application { detail: String },
    /// Requests did not complete after the faults healed.
    NoProgress { detail: String },
    /// A correct replica broke an invariant (a panic inside the core).
    Invariant { detail: String },
    /// A correct replica started a view change although no replica was faulty and the
    /// network was timely: only clients can have caused it.
    ViewChangeWithoutFault { view: u64 },
    /// A correct replica stored more than the bound computed from the configuration.
    StoredTooMuch {
        replica: u32,
        bytes: usize,
        bound: usize,
    },
    /// A correct replica held more in memory than the protocol allows.
    HeldTooMuch { replica: u32, detail: String },
    /// A correct client's request took longer than the bound once the network was timely.
    TooSlow { waited: u64, bound: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::DivergentExecution { seq, first, second } => {
                write!(f, "divergent execution at s{seq}: {first} vs {second}")
            }
            Violation::DivergentCheckpoint { seq, first, second } => {
                write!(f, "divergent checkpoint at s{seq}: {first} vs {second}")
            }
            Violation::NotLinearizable { part, detail } => {
                write!(f, "the history of {part} is not linearizable: {detail}")
            }
            Violation::Application { detail } => {
                write!(f, "application invariant broken: {detail}")
            }
            Violation::NoProgress { detail } => write!(f, "no progress: {detail}"),
            Violation::Invariant { detail } => write!(f, "invariant broken: {detail}"),
            Violation::ViewChangeWithoutFault { view } => {
                write!(f, "a fault-free cluster changed views (to view {view})")
            }
            Violation::StoredTooMuch {
                replica,
                bytes,
                bound,
            } => write!(
                f,
                "replica {replica} stores {bytes} bytes of protocol state, more than {bound}"
            ),
            Violation::HeldTooMuch { replica, detail } => {
                write!(f, "replica {replica} holds {detail} in memory")
            }
            Violation::TooSlow { waited, bound } => write!(
                f,
                "a correct client's request waited {waited} ticks after the network healed, \
                 more than {bound}"
            ),
        }
    }
}

impl Violation {
    /// Whether the violation is of safety (as opposed to liveness).
    pub fn is_safety(&self) -> bool {
        !matches!(
            self,
            Violation::NoProgress { .. }
                | Violation::ViewChangeWithoutFault { .. }
                | Violation::StoredTooMuch { .. }
                | Violation::HeldTooMuch { .. }
                | Violation::TooSlow { .. }
        )
    }
}
