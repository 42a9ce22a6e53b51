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
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use std::sync::Arc;

use crate::net::ReplicaTransport;
use crate::shell::{CoreInput, Network, Shell};

use super::NodeError;

/// The shell of a replica process: over QUIC.
pub(super) type NodeShell = Shell<Arc<ReplicaTransport>>;

/// The most inputs handled before one group commit.
const INPUTS_PER_ROUND_MAX: usize = 512;

/// How many verified inputs may wait for the shell. A verifier thread that finds more
/// waiting takes the shell even if it has to wait for it, and verifies nothing meanwhile;
/// the transport's queue then fills and QUIC flow control slows the senders.
const QUEUED_INPUTS_MAX: usize = 16_384;

/// What a driver drives: the shell, or a stand-in in tests.
pub(super) trait Rounds: Send {
    /// Carries out `inputs`, then a tick if `tick`, and makes the round durable.
    fn round(&mut self, inputs: Vec<CoreInput>, tick: bool) -> Result<(), NodeError>;
    /// The replica stopped on request.
    fn stopped(self);
    /// The replica stopped because a round failed.
    fn failed(self, error: &NodeError);
    /// Called when the queue ran dry, just before the holder lets go: the moment another
    /// thread may queue an input and fail to take the shell. Tests widen it.
    fn drained(&mut self) {}
}

impl<N: Network> Rounds for Shell<N> {
    fn round(&mut self, inputs: Vec<CoreInput>, tick: bool) -> Result<(), NodeError> {
        Ok(Shell::round(self, inputs, tick)?)
    }

    fn stopped(self) {
        Shell::stopped(&self);
    }

    fn failed(self, error: &NodeError) {
        Shell::failed(&self, error);
    }
}

/// The shell and what its holder needs besides it.
struct Driven<S> {
    /// `None` once the replica stopped, on request or because storage failed. Dropping the
    /// shell closes the store and lets go of the transport, which can then shut down.
    shell: Option<S>,
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
pub(super) struct Driver<S = NodeShell> {
    driven: Mutex<Driven<S>>,
    queue: Mutex<Queue>,
    /// Wakes the ticker early, to stop.
    ticker: Condvar,
    /// Set once the shell is gone: inputs are no longer worth verifying.
    closed: AtomicBool,
}

impl<S> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driver")
    }
}

impl<S: Rounds> Driver<S> {
    pub(super) fn new(shell: S, tick: Duration) -> Driver<S> {
        Driver {
            driven: Mutex::new(Driven {
                shell: Some(shell),
                next_tick: Instant::now() + tick,
                tick,
                failure: None,
            }),
            queue: Mutex::new(Queue::default()),
            ticker: Condvar::new(),
            closed: AtomicBool::new(false),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues verified inputs and carries them out at once if the shell is free.
    pub(super) fn submit(&self, inputs: Vec<CoreInput>) {
        if inputs.is_empty() || self.is_closed() {
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

    /// Whether the replica stopped (on request, or because a round failed): the verifier
    /// threads then end, as there is nothing left to verify for.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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
                // Rounds catch their panics (`Driven::round`), so the lock is never left
                // poisoned; if it were, the ticker reports it.
                Err(TryLockError::Poisoned(_)) | Err(TryLockError::WouldBlock) => return,
            }
            if self.queue().inputs.is_empty() {
                return;
            }
        }
    }

    /// Runs rounds until the queue is empty.
    fn drain(&self, driven: &mut Driven<S>) {
        loop {
            let inputs: Vec<CoreInput> = {
                let mut queue = self.queue();
                let take = queue.inputs.len().min(INPUTS_PER_ROUND_MAX);
                queue.inputs.drain(..take).collect()
            };
            if inputs.is_empty() {
                if let Some(shell) = driven.shell.as_mut() {
                    shell.drained();
                }
                return;
            }
            self.round(driven, inputs);
        }
    }

    /// One round, then the verifier threads learn whether the shell is gone.
    fn round(&self, driven: &mut Driven<S>, inputs: Vec<CoreInput>) {
        driven.round(inputs);
        if driven.shell.is_none() {
            self.closed.store(true, Ordering::Release);
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
                if stop && let Some(shell) = driven.shell.take() {
                    shell.stopped();
                }
                self.round(&mut driven, Vec::new());
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

impl<S: Rounds> Driven<S> {
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
        // A panic in the core, the application or the store stops the replica like a
        // storage failure: the shell is dropped (closing the store and letting go of the
        // transport) and the ticker reports it, instead of leaving a poisoned lock behind.
        let outcome = catch_unwind(AssertUnwindSafe(|| shell.round(inputs, tick)))
            .unwrap_or(Err(NodeError::Panicked));
        if let Err(error) = outcome {
            if let Some(shell) = self.shell.take() {
                shell.failed(&error);
            }
            self.failure = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    use super::*;
    use crate::message::{ReplicaId, Seq};
    use crate::transfer::StateFrame;

    /// A stand-in shell that records what it carries out. Inputs are numbered by the
    /// thread that submitted them (`from`) and their place in its sequence (`seq`).
    #[derive(Clone, Default)]
    struct Recorder {
        seen: Arc<Mutex<Vec<(u32, u64)>>>,
        holders: Arc<AtomicUsize>,
        ticks: Arc<AtomicUsize>,
        stopped: Arc<AtomicBool>,
        failed: Arc<AtomicBool>,
        fail_at: Option<u64>,
        panic_at: Option<u64>,
        /// Once: tells another thread to submit, and waits until its submit returned.
        on_drained: Arc<Mutex<Option<Handshake>>>,
    }

    type Handshake = (mpsc::Sender<()>, mpsc::Receiver<()>);

    impl Recorder {
        fn seen(&self) -> Vec<(u32, u64)> {
            self.seen.lock().expect("not poisoned").clone()
        }
    }

    impl Rounds for Recorder {
        fn round(&mut self, inputs: Vec<CoreInput>, tick: bool) -> Result<(), NodeError> {
            assert_eq!(
                self.holders.fetch_add(1, Ordering::SeqCst),
                0,
                "two holders"
            );
            let mut result = Ok(());
            for input in inputs {
                let CoreInput::State {
                    from,
                    frame: StateFrame::Unavailable { seq },
                } = input
                else {
                    unreachable!("the tests submit nothing else");
                };
                self.seen
                    .lock()
                    .expect("not poisoned")
                    .push((from.0, seq.0));
                assert_ne!(self.panic_at, Some(seq.0), "a bug in the core");
                if self.fail_at == Some(seq.0) {
                    result = Err(NodeError::Shell(crate::shell::ShellError::StateVanished {
                        seq,
                    }));
                    break;
                }
            }
            if tick {
                self.ticks.fetch_add(1, Ordering::SeqCst);
            }
            self.holders.fetch_sub(1, Ordering::SeqCst);
            result
        }

        fn stopped(self) {
            self.stopped.store(true, Ordering::SeqCst);
        }

        fn failed(self, _error: &NodeError) {
            self.failed.store(true, Ordering::SeqCst);
        }

        fn drained(&mut self) {
            let handshake = self.on_drained.lock().expect("not poisoned").take();
            if let Some((go, done)) = handshake {
                go.send(()).expect("the other thread waits");
                done.recv().expect("the other thread answers");
            }
        }
    }

    fn input(from: u32, seq: u64) -> CoreInput {
        CoreInput::State {
            from: ReplicaId(from),
            frame: StateFrame::Unavailable { seq: Seq(seq) },
        }
    }

    const NEVER: Duration = Duration::from_secs(3_600);

    #[test]
    fn every_input_is_carried_out_once_and_in_order_by_the_threads_that_submit_them() {
        let recorder = Recorder::default();
        let driver = Arc::new(Driver::new(recorder.clone(), NEVER));
        let (threads, per_thread) = (4u32, 3_000u64);
        let submitters: Vec<_> = (0..threads)
            .map(|from| {
                let driver = driver.clone();
                std::thread::spawn(move || {
                    let mut seq = 0;
                    while seq < per_thread {
                        let size = 1 + seq % 3;
                        let batch = (seq..(seq + size).min(per_thread))
                            .map(|s| input(from, s))
                            .collect();
                        driver.submit(batch);
                        seq += size;
                    }
                })
            })
            .collect();
        for submitter in submitters {
            submitter.join().expect("submitter panicked");
        }
        // No ticker runs: whatever was submitted was carried out by the submitters.
        assert!(driver.queue().inputs.is_empty(), "an input was left behind");
        let seen = recorder.seen();
        assert_eq!(seen.len() as u64, u64::from(threads) * per_thread);
        for from in 0..threads {
            let order: Vec<u64> = seen.iter().filter(|s| s.0 == from).map(|s| s.1).collect();
            assert_eq!(order, (0..per_thread).collect::<Vec<_>>(), "thread {from}");
        }
    }

    #[test]
    fn an_input_queued_just_as_the_holder_lets_go_is_not_left_behind() {
        let (go, wait_for_go) = mpsc::channel();
        let (done, wait_for_done) = mpsc::channel();
        let recorder = Recorder::default();
        *recorder.on_drained.lock().expect("not poisoned") = Some((go, wait_for_done));
        let driver = Arc::new(Driver::new(recorder.clone(), NEVER));
        let other = {
            let driver = driver.clone();
            std::thread::spawn(move || {
                wait_for_go.recv().expect("the holder signals");
                // The holder has the shell: this only queues.
                driver.submit(vec![input(2, 0)]);
                done.send(()).expect("the holder waits");
            })
        };
        driver.submit(vec![input(1, 0)]);
        other.join().expect("submitter panicked");
        assert!(driver.queue().inputs.is_empty(), "an input was left behind");
        assert_eq!(recorder.seen(), [(1, 0), (2, 0)]);
    }

    #[test]
    fn the_ticker_ticks_and_at_stop_carries_out_what_is_queued_then_drops_the_rest() {
        let recorder = Recorder::default();
        let driver = Arc::new(Driver::new(recorder.clone(), Duration::from_millis(1)));
        let ticker = {
            let driver = driver.clone();
            std::thread::spawn(move || driver.run_ticker())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while recorder.ticks.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the ticker does not tick");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Queued behind the driver's back, as if their submitter lost the race for the
        // shell: the ticker must carry them out before stopping.
        driver.queue().inputs.extend([input(9, 0), input(9, 1)]);
        driver.stop();
        ticker
            .join()
            .expect("ticker panicked")
            .expect("stopped cleanly");
        assert!(recorder.stopped.load(Ordering::SeqCst));
        driver.submit(vec![input(9, 2)]);
        assert_eq!(recorder.seen(), [(9, 0), (9, 1)]);
    }

    #[test]
    fn a_failed_round_stops_the_replica_for_good_and_the_ticker_reports_why() {
        let recorder = Recorder {
            fail_at: Some(2),
            ..Recorder::default()
        };
        let driver = Arc::new(Driver::new(recorder.clone(), NEVER));
        driver.submit((0..5).map(|seq| input(1, seq)).collect());
        driver.submit(vec![input(1, 5)]);
        assert!(recorder.failed.load(Ordering::SeqCst));
        assert_eq!(recorder.seen(), [(1, 0), (1, 1), (1, 2)]);
        let result = driver.run_ticker();
        assert!(
            matches!(
                result,
                Err(NodeError::Shell(crate::shell::ShellError::StateVanished {
                    seq: Seq(2)
                }))
            ),
            "{result:?}"
        );
        assert!(!recorder.stopped.load(Ordering::SeqCst));
        assert!(driver.is_closed(), "the verifier threads would end");
    }

    #[test]
    fn a_panic_in_a_round_stops_the_replica_like_a_failure_and_leaves_no_lock_poisoned() {
        let recorder = Recorder {
            panic_at: Some(1),
            ..Recorder::default()
        };
        let driver = Arc::new(Driver::new(recorder.clone(), NEVER));
        let submitter = {
            let driver = driver.clone();
            std::thread::spawn(move || driver.submit((0..3).map(|seq| input(1, seq)).collect()))
        };
        submitter.join().expect("the panic is caught in the round");
        assert!(recorder.failed.load(Ordering::SeqCst));
        assert!(driver.is_closed());
        driver.submit(vec![input(1, 3)]);
        assert_eq!(recorder.seen(), [(1, 0), (1, 1)]);
        let result = driver.run_ticker();
        assert!(matches!(result, Err(NodeError::Panicked)), "{result:?}");
    }
}
