//! Who runs the shell: whichever thread has work for it.
//!
//! The shell (protocol core, application and store) sits behind a mutex. A verifier thread
//! that has verified a batch of frames queues what passed and, if nobody holds the shell,
//! takes it and carries the inputs out itself, so a message reaches the core without
//! waking another thread. If the shell is busy, its holder drains the queue before letting
//! go, so nothing waits for a wake-up either (the combining pattern). A ticker thread takes
//! the shell on every tick, at shutdown, and to carry out anything left queued.
//!
//! The first design ran the shell on a thread of its own, fed through a channel. On a
//! loaded machine every hand-off from a verifier thread to that thread is a futex wake and
//! a context switch, paid by every message on the critical path: with four replicas and
//! one client on two cores, about 45 context switches per operation. Nothing is lost by
//! combining: with several verifier threads, the others go on verifying while one of them
//! holds the shell, and with one, that thread alternates between the two jobs, which is all
//! a single thread could do anyway.
//!
//! Rounds keep the shell's rules: every round of inputs is made durable in one write batch
//! before any message it produced leaves (`Shell::flush`), and a storage failure stops the
//! replica for good: later inputs are dropped.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::core::Input;

use super::NodeError;
use super::shell::Shell;
use super::verify::CoreInput;

/// The most inputs handled before one group commit.
const INPUTS_PER_ROUND_MAX: usize = 512;

/// How many verified inputs may wait for the shell. A verifier thread that finds more
/// waiting takes the shell even if it has to wait for it, and verifies nothing meanwhile;
/// the transport's queue then fills and QUIC flow control slows the senders.
const QUEUED_INPUTS_MAX: usize = 16_384;

/// The shell and what its holder needs besides it.
struct Driven {
    /// `None` once the replica stopped, on request or because storage failed. Dropping the
    /// shell closes the store and lets go of the transport, which can then shut down.
    shell: Option<Shell>,
    next_tick: Instant,
    tick: Duration,
    /// Why the replica stopped on its own, until the ticker reports it.
    failure: Option<NodeError>,
}

#[derive(Default)]
struct Queue {
    inputs: VecDeque<CoreInput>,
    stop: bool,
}

/// The shell, its input queue, and the rules for taking turns at it.
pub(super) struct Driver {
    driven: Mutex<Driven>,
    queue: Mutex<Queue>,
    /// Wakes the ticker early, to stop.
    ticker: Condvar,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driver")
    }
}

impl Driver {
    pub(super) fn new(shell: Shell, tick: Duration) -> Driver {
        Driver {
            driven: Mutex::new(Driven {
                shell: Some(shell),
                next_tick: Instant::now() + tick,
                tick,
                failure: None,
            }),
            queue: Mutex::new(Queue::default()),
            ticker: Condvar::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues verified inputs and carries them out at once if the shell is free.
    pub(super) fn submit(&self, inputs: Vec<CoreInput>) {
        if inputs.is_empty() {
            return;
        }
        let backlog = {
            let mut queue = self.queue();
            queue.inputs.extend(inputs);
            queue.inputs.len()
        };
        if backlog > QUEUED_INPUTS_MAX
            && let Ok(mut driven) = self.driven.lock()
        {
            self.drain(&mut driven);
        }
        self.run_if_free();
    }

    /// Asks the replica to stop: the ticker carries out what is queued, makes it durable
    /// and ends.
    pub(super) fn stop(&self) {
        self.queue().stop = true;
        self.ticker.notify_all();
    }

    /// Takes the shell whenever it is free and the queue is not empty. Whoever pushed to
    /// the queue and then failed to take the shell did so while a holder had it, and that
    /// holder looks at the queue again after letting go: no input is left behind.
    fn run_if_free(&self) {
        loop {
            match self.driven.try_lock() {
                Ok(mut driven) => self.drain(&mut driven),
                // A panic while holding the shell: the ticker reports it.
                Err(TryLockError::Poisoned(_)) | Err(TryLockError::WouldBlock) => return,
            }
            if self.queue().inputs.is_empty() {
                return;
            }
        }
    }

    /// Runs rounds until the queue is empty.
    fn drain(&self, driven: &mut Driven) {
        loop {
            let inputs: Vec<CoreInput> = {
                let mut queue = self.queue();
                let take = queue.inputs.len().min(INPUTS_PER_ROUND_MAX);
                queue.inputs.drain(..take).collect()
            };
            if inputs.is_empty() {
                return;
            }
            driven.round(inputs);
        }
    }

    /// The ticker thread's loop: a tick every `tick`, and the final round at shutdown.
    /// Returns when the replica stopped, with the storage error that stopped it, if any.
    pub(super) fn run_ticker(&self) -> Result<(), NodeError> {
        loop {
            let wait = {
                let Ok(mut driven) = self.driven.lock() else {
                    return Err(NodeError::Panicked);
                };
                let stop = self.queue().stop;
                self.drain(&mut driven);
                driven.round(Vec::new());
                if stop && let Some(shell) = driven.shell.take() {
                    shell.stopped();
                }
                if driven.shell.is_none() {
                    return driven.failure.take().map_or(Ok(()), Err);
                }
                driven.next_tick.saturating_duration_since(Instant::now())
            };
            self.run_if_free();
            let queue = self.queue();
            if !queue.stop {
                drop(
                    self.ticker
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                );
            }
        }
    }
}

impl Driven {
    /// One round: the inputs, then the tick if it is due, then one group commit and the
    /// sends it allows. A due tick is taken by whoever holds the shell, so a busy
    /// replica's timers do not wait for the ticker thread to be scheduled.
    fn round(&mut self, inputs: Vec<CoreInput>) {
        let Some(shell) = self.shell.as_mut() else {
            return;
        };
        let now = Instant::now();
        let tick = now >= self.next_tick;
        if tick {
            // Catch up by one tick at a time, but never fall behind by more than one.
            self.next_tick = (self.next_tick + self.tick).max(now);
        }
        if let Err(error) = round(shell, inputs, tick) {
            shell.failed(&error);
            self.shell = None;
            self.failure = Some(error);
        }
    }
}

fn round(shell: &mut Shell, inputs: Vec<CoreInput>, tick: bool) -> Result<(), NodeError> {
    for input in inputs {
        shell.accept(input)?;
    }
    if tick {
        shell.feed(Input::Tick)?;
        shell.behaviour_tick();
        shell.publish_status();
    }
    shell.flush()
}
