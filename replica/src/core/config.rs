//! Protocol parameters. Every duration is in ticks: the core has no clock, and the shell
//! decides how long a tick is.

use crate::cluster::{Cluster, ClusterError};
use crate::message::Limits;

/// The parameters of one replica's protocol core. Every replica of a cluster must use the
/// same `checkpoint_interval`, `log_window`, `batch_size_max` and `snapshot_chunk_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cluster: Cluster,
    /// K: a checkpoint is taken after every K sequence numbers (PBFT §4.3).
    pub checkpoint_interval: u64,
    /// L: the high watermark is the low watermark plus L (PBFT §4.3).
    pub log_window: u64,
    /// The most requests in one batch.
    pub batch_size_max: usize,
    /// The most bytes of requests in one batch (each counted by [`request_bytes`]). The
    /// primary cuts a batch when either limit is reached, so a PRE-PREPARE stays within
    /// the frame cap however large the operations are.
    pub batch_bytes_max: usize,
    /// How long the primary waits to fill a batch; 0 sends a batch as soon as a request can go.
    pub batch_delay_ticks: u64,
    /// The most sequence numbers the primary has assigned but not yet executed (pipelining).
    pub in_flight_max: u64,
    /// The fewest requests worth a batch of their own while other batches are in flight.
    /// With fewer waiting, the primary lets them gather until the pipeline drains: under
    /// load, batches grow (each batch costs 2n signatures whatever its size) instead of
    /// the pipeline filling with small ones; at light load a request still goes out at
    /// once, because nothing is in flight.
    pub pipeline_batch_min: usize,
    /// The base view-change timeout; it doubles with each view change in a row (PBFT §4.5.2).
    pub view_change_timeout_ticks: u64,
    /// How long a backup lets a request it holds wait for a PRE-PREPARE while the primary
    /// has room to order it, before it suspects the primary of stalling (the ordering
    /// timer; see `core/monitor.rs`). Shorter than the view-change timeout, so a slow
    /// primary is caught before it executes anything late.
    pub order_timeout_ticks: u64,
    /// The ceiling on the doubled timeout.
    pub view_change_timeout_max_ticks: u64,
    /// How often a replica sends STATUS, and how old an unfinished slot must be before a
    /// peer's STATUS makes this replica send it again.
    pub status_interval_ticks: u64,
    /// How long a state transfer may go without progress (a chunk that checks out) before
    /// it is asked of the sources again; a single request to one peer that goes unanswered
    /// this long goes to another peer.
    pub state_transfer_timeout_ticks: u64,
    /// The size of a snapshot chunk: the unit of state transfer and of the checkpoint
    /// digest's manifest (see [`crate::transfer::Manifest`]). It is part of the state
    /// digest, so every replica of a cluster must use the same one.
    pub snapshot_chunk_bytes: u32,
    /// How many recent replies each client's entry in the reply cache holds, and how many of
    /// its requests may wait for execution at once.
    pub client_window: u64,
    /// The largest operation a request may carry, in bytes.
    pub operation_bytes_max: usize,
    /// Execute a batch once it has prepared and everything before it has committed, and
    /// send tentative replies (PBFT §5.1.2). This takes the COMMIT round off a request's
    /// latency; clients then wait for 2f + 1 matching replies instead of f + 1.
    pub tentative_execution: bool,
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{field} must be at least {min}, got {value}")]
    TooSmall {
        field: &'static str,
        value: u64,
        min: u64,
    },
    #[error("log_window ({window}) must be a multiple of checkpoint_interval ({interval})")]
    WindowNotMultiple { window: u64, interval: u64 },
}

impl Config {
    /// Parameters for a deployment: a tick is expected to be about 10 ms.
    pub fn new(cluster: Cluster) -> Config {
        Config {
            cluster,
            checkpoint_interval: 128,
            log_window: 256,
            batch_size_max: 256,
            batch_bytes_max: 4 << 20,
            batch_delay_ticks: 0,
            in_flight_max: 32,
            pipeline_batch_min: 64,
            view_change_timeout_ticks: 100,
            order_timeout_ticks: 50,
            view_change_timeout_max_ticks: 6_000,
            status_interval_ticks: 20,
            state_transfer_timeout_ticks: 500,
            snapshot_chunk_bytes: crate::transfer::SNAPSHOT_CHUNK_BYTES,
            client_window: 64,
            operation_bytes_max: 1 << 20,
            tentative_execution: true,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.cluster.validate()?;
        let at_least = |field, value: u64, min| {
            if value < min {
                Err(ConfigError::TooSmall { field, value, min })
            } else {
                Ok(())
            }
        };
        at_least("checkpoint_interval", self.checkpoint_interval, 1)?;
        at_least("log_window", self.log_window, 2 * self.checkpoint_interval)?;
        if !self.log_window.is_multiple_of(self.checkpoint_interval) {
            return Err(ConfigError::WindowNotMultiple {
                window: self.log_window,
                interval: self.checkpoint_interval,
            });
        }
        at_least("batch_size_max", self.batch_size_max as u64, 1)?;
        at_least("in_flight_max", self.in_flight_max, 1)?;
        at_least("pipeline_batch_min", self.pipeline_batch_min as u64, 1)?;
        at_least(
            "view_change_timeout_ticks",
            self.view_change_timeout_ticks,
            1,
        )?;
        at_least(
            "view_change_timeout_max_ticks",
            self.view_change_timeout_max_ticks,
            self.view_change_timeout_ticks,
        )?;
        at_least("status_interval_ticks", self.status_interval_ticks, 1)?;
        at_least(
            "state_transfer_timeout_ticks",
            self.state_transfer_timeout_ticks,
            1,
        )?;
        at_least("client_window", self.client_window, 1)?;
        at_least(
            "snapshot_chunk_bytes",
            u64::from(self.snapshot_chunk_bytes),
            1,
        )?;
        Ok(())
    }

    /// The size limits the shell checks before verifying signatures.
    pub fn limits(&self) -> Limits {
        Limits {
            batch_size_max: self.batch_size_max,
            operation_bytes_max: self.operation_bytes_max,
            log_window: self.log_window,
        }
    }

    pub fn quorum(&self) -> usize {
        self.cluster.quorum()
    }

    pub fn weak_quorum(&self) -> usize {
        self.cluster.weak_quorum()
    }

    pub fn replica_count(&self) -> usize {
        self.cluster.size()
    }
}
