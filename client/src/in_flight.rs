//! A request number held by a call, from reservation until the call ends.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::ClientError;
use crate::pending::{Kind, Outcome, Pending};
use crate::shared::Shared;

/// A request number in the window, and the request waiting under it. Dropping it (the call
/// returned, timed out or was cancelled) frees the number's place in the window and
/// forgets the request, so every client call is cancel-safe.
///
/// A number given up on leaves the window although the replicas may still hold its
/// request. Newer numbers may then push it below the replicas' reply-cache floor, and it
/// is never executed; a caller that gave up on the request can accept either outcome,
/// whereas keeping the number would let one lost request block the client for good.
#[derive(Debug)]
pub(crate) struct InFlight {
    shared: Arc<Shared>,
    number: u64,
}

impl InFlight {
    /// Waits for room in the window, then takes the next request number.
    pub(crate) async fn reserve(shared: &Arc<Shared>) -> Result<InFlight, ClientError> {
        loop {
            // Registered before the check, so a release between the check and the wait
            // still wakes this call.
            let room = shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = shared.lock();
                if state.closed {
                    return Err(ClientError::Closed);
                }
                if let Some(number) = state.window.allocate() {
                    return Ok(InFlight {
                        shared: Arc::clone(shared),
                        number,
                    });
                }
            }
            room.await;
        }
    }

    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    /// Starts collecting replies for the request; the receiver gets its outcome.
    pub(crate) fn register(&self, kind: Kind) -> Result<oneshot::Receiver<Outcome>, ClientError> {
        let (sender, receiver) = oneshot::channel();
        let mut state = self.shared.lock();
        if state.closed {
            return Err(ClientError::Closed);
        }
        state
            .pending
            .insert(self.number, Pending::new(kind, sender));
        Ok(receiver)
    }

    /// How many distinct replicas have answered so far.
    pub(crate) fn replies_seen(&self) -> usize {
        self.shared
            .lock()
            .pending
            .get(&self.number)
            .map_or(0, Pending::replies_seen)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.pending.remove(&self.number);
        state.window.release(self.number);
        drop(state);
        self.shared.room.notify_waiters();
    }
}
