//! The core's [`SlotProgress`] (which PREPAREs and COMMITs can no longer matter, see
//! `core/progress.rs`), shared by the shell with the verifier threads, so that they drop
//! those messages before paying for their signatures (`messages_redundant`).

use std::sync::Mutex;

use crate::core::{PersistOp, SlotProgress};
use crate::message::Message;

/// The table behind a lock; see the module documentation.
#[derive(Debug, Default)]
pub struct Progress {
    slots: Mutex<SlotProgress>,
}

impl Progress {
    fn with<T>(&self, f: impl FnOnce(&mut SlotProgress) -> T) -> T {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut slots)
    }

    /// Learns from what the core persisted.
    pub(super) fn note(&self, op: &PersistOp) {
        self.with(|slots| slots.note(op));
    }

    /// Whether `message` can no longer matter to the core.
    pub(super) fn redundant(&self, message: &Message) -> bool {
        self.with(|slots| slots.redundant(message))
    }
}
