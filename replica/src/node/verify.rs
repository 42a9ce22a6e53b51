//! The verifier threads: each takes the frames the transport received, has the
//! [`Checker`] decode and verify them, and hands what passed to the shell through the
//! driver (`drive.rs`).

use std::sync::{Arc, Mutex};

use crate::net::InboundReceiver;
use crate::shell::Checker;

use super::drive::Driver;

/// The most frames verified together.
const BATCH_FRAMES_MAX: usize = 256;

/// Starts `threads` verifier threads. Each takes whatever frames are waiting (up to
/// [`BATCH_FRAMES_MAX`], replicas' first; see [`InboundReceiver::blocking_batch`]) from the
/// transport, verifies them as one batch and hands the
/// results to the shell, carrying them out itself when the shell is free (`drive.rs`).
/// Taking everything that waits makes batches grow with the load: the busier the replica,
/// the cheaper each signature. When the inbound channel is full because the verifiers are
/// busy, the transport's readers wait and QUIC flow control slows the senders.
pub(super) fn spawn_verifiers(
    inbound: InboundReceiver,
    driver: Arc<Driver>,
    checker: Arc<Checker>,
    threads: usize,
    name: &str,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let inbound = Arc::new(Mutex::new(inbound));
    (0..threads.max(1))
        .map(|index| {
            let (inbound, driver, checker) = (inbound.clone(), driver.clone(), checker.clone());
            std::thread::Builder::new()
                .name(format!("{name}-verify-{index}"))
                .spawn(move || verify_loop(&inbound, &driver, &checker))
        })
        .collect()
}

fn verify_loop(inbound: &Mutex<InboundReceiver>, driver: &Driver, checker: &Checker) {
    while !driver.is_closed() {
        let batch = {
            let mut receiver = inbound
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let Some(batch) = receiver.blocking_batch(BATCH_FRAMES_MAX) else {
                return;
            };
            batch
        };
        driver.submit(checker.check(batch));
    }
}
