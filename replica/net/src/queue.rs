//! Handing a frame to a peer's bounded outbound queue without ever waiting.

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::debug;

use super::config::Limits;
use super::error::{Peer, SendError};
use super::stats::Counters;

/// Queues `frame` for `peer`, or drops it at once: a frame over the size limit, or a full
/// queue (the peer is slow, unreachable, or being redialed).
pub(crate) fn enqueue(
    queue: &mpsc::Sender<Bytes>,
    peer: Peer,
    frame: Bytes,
    limits: &Limits,
    counters: &Counters,
) -> Result<(), SendError> {
    if frame.len() > limits.max_frame_bytes {
        counters.frame_dropped();
        return Err(SendError::FrameTooLarge {
            length: frame.len(),
            max_frame_bytes: limits.max_frame_bytes,
        });
    }
    match queue.try_send(frame) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => {
            counters.frame_dropped();
            debug!(%peer, "outbound queue full; dropped a frame");
            Err(SendError::QueueFull {
                peer,
                capacity: limits.queue_frames,
            })
        }
        Err(TrySendError::Closed(_)) => Err(SendError::ShutDown),
    }
}
