//! The primary cuts batches (PBFT §4.2; batching and pipelining as in §5.1): while there
//! are requests to order, a free pipeline slot and room below the high watermark, it
//! assigns the oldest waiting requests to the next sequence number, up to
//! `batch_size_max` requests and `batch_bytes_max` bytes.

use std::sync::Arc;

use rampart_crypto::Signed;

use super::Replica;
use crate::message::{Batch, Payload, PrePrepare, Request, RequestKey, request_bytes};

impl Replica {
    /// Sends PRE-PREPAREs while the primary may.
    pub(super) fn propose(&mut self) {
        if !self.is_normal() || !self.is_primary() || self.transfer.is_some() {
            return;
        }
        loop {
            let seq = self.next_seq;
            if seq > self.high_watermark() {
                return;
            }
            let in_flight = seq.0.saturating_sub(self.last_executed.0 + 1);
            if in_flight >= self.config.in_flight_max {
                return;
            }
            let Some(keys) = self.cut_batch(in_flight) else {
                return;
            };
            let requests = &self.requests;
            let batch: Vec<Signed<Request>> = keys
                .iter()
                .filter_map(|key| requests.get(key).map(|w| w.request.clone()))
                .collect();
            self.requests.mark_assigned(keys.into_iter());
            let batch = Arc::new(Batch::new(batch));
            self.next_seq = seq.next();
            let pre_prepare = PrePrepare {
                view: self.view,
                seq,
                digest: batch.digest(),
            };
            self.broadcast(Payload::PrePrepare { pre_prepare, batch });
        }
    }

    /// The requests of the next batch, if one is due: the queue holds a full batch, enough
    /// requests to be worth a batch while others are in flight, or its oldest request has
    /// waited out the batch delay.
    fn cut_batch(&mut self, in_flight: u64) -> Option<Vec<RequestKey>> {
        let worth_a_batch = in_flight > 0
            && self
                .requests
                .worth_a_batch(self.config.pipeline_batch_min, self.config.batch_bytes_max);
        let requests = &mut self.requests;
        // Executed or already assigned requests are skipped lazily, from the front, so a
        // busy primary does not scan its whole queue for every batch.
        while requests
            .queue
            .front()
            .is_some_and(|key| !requests.is_fresh(key))
        {
            requests.queue.pop_front();
        }
        let oldest = requests.queue.front().and_then(|key| requests.get(key))?;
        // The queue may still hold a few stale keys further back; counting them only makes
        // a batch go out a little early.
        let waiting = requests.queue.len();
        let full = waiting >= self.config.batch_size_max;
        let waited = self.now.saturating_sub(oldest.received_at);
        let delay = self.config.batch_delay_ticks;
        let ready = full
            || waiting >= self.config.pipeline_batch_min
            || worth_a_batch
            || (in_flight == 0 && waited >= delay)
            || (delay > 0 && waited >= delay);
        if !ready {
            return None;
        }
        let mut keys: Vec<RequestKey> = Vec::with_capacity(self.config.batch_size_max);
        let mut bytes = 0;
        while keys.len() < self.config.batch_size_max {
            let Some(&key) = requests.queue.front() else {
                break;
            };
            let Some(waiting) = requests.get(&key).filter(|_| requests.is_fresh(&key)) else {
                requests.queue.pop_front();
                continue;
            };
            let size = request_bytes(&waiting.request);
            // A request larger than the rest of the batch's room waits for the next batch;
            // one alone always fits, as the configuration keeps an operation within a
            // batch's bytes.
            if !keys.is_empty() && bytes + size > self.config.batch_bytes_max {
                break;
            }
            bytes += size;
            keys.push(key);
            requests.queue.pop_front();
        }
        (!keys.is_empty()).then_some(keys)
    }
}
