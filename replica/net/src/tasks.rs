//! The tasks a transport runs, kept together so that shutting down stops every one of them
//! and releases everything they hold (connections, and through them the UDP socket).

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::task::{AbortHandle, JoinSet};

#[derive(Debug)]
pub(crate) struct Tasks {
    /// `None` once shut down: nothing new starts after that.
    set: Mutex<Option<JoinSet<()>>>,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            set: Mutex::new(Some(JoinSet::new())),
        }
    }
}

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, Option<JoinSet<()>>> {
        // A panic while holding this lock cannot leave the set half-updated in a way that
        // matters to us, so a poisoned lock is still usable.
        self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts `future` on the runtime, unless the transport is shutting down.
    pub(crate) fn spawn<F>(&self, future: F) -> Option<AbortHandle>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut guard = self.lock();
        let set = guard.as_mut()?;
        // Forget finished tasks so a long-lived transport does not accumulate them.
        while set.try_join_next().is_some() {}
        Some(set.spawn(future))
    }

    /// Asks every task to stop, without waiting; for drop paths, which cannot await.
    pub(crate) fn abort_all(&self) {
        if let Some(set) = self.lock().as_mut() {
            set.abort_all();
        }
    }

    /// Stops every task and waits until each has ended and dropped what it held.
    pub(crate) async fn shutdown(&self) {
        let set = self.lock().take();
        if let Some(mut set) = set {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
    }
}

/// Aborts a task when dropped: ties a helper task's life to the future that started it.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) Option<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}
