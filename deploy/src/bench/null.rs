//! The application a benchmark runs: one that does nothing, so the benchmark measures
//! the replication.

use rampart_replica::app::{AppError, ApplyContext, StateMachine};
use rampart_replica::message::ClientId;

/// The null application: every operation does nothing and returns nothing, so that the
/// benchmark measures the replication, not an application.
#[derive(Debug, Default)]
pub struct Null;

impl StateMachine for Null {
    fn apply(&mut self, _context: &ApplyContext, _operation: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    fn query(&self, _client: &ClientId, _operation: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), AppError> {
        Ok(())
    }
}
