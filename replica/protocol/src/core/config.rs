//! Protocol parameters. Every duration is in ticks: the core has no clock, and the shell
//! decides how long a tick is.

use super::quorum::Quorums;
use crate::cluster::{ClientAdmission, Cluster, ClusterError};
use crate::message::{Limits, REQUEST_OVERHEAD_BYTES, SIGNED_MESSAGE_BYTES_MAX};
use crate::settings::ClusterSettings;

/// The default size of a snapshot chunk: large enough that per-chunk overhead (a key, a
/// checksum, a request) is negligible, small enough to stay far below RocksDB's write
/// buffer and the frame size limit.
pub const SNAPSHOT_CHUNK_BYTES: u32 = 1 << 20;

/// The default of [`Config::client_bytes_in_flight_max`]: 16 MiB, sixteen requests of the
/// default largest operation.
pub const CLIENT_BYTES_IN_FLIGHT_MAX_DEFAULT: usize = 16 << 20;

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
    /// The most bytes of requests in one batch (each counted by
    /// [`crate::message::request_bytes`]). The primary cuts a batch when either limit is
    /// reached, so a PRE-PREPARE stays within the frame cap however large the operations
    /// are.
    pub batch_bytes_max: usize,
    /// The largest frame replicas send each other (the transport's cap). Every message
    /// kind's largest size is bounded by a formula over this configuration
    /// ([`Config::message_bytes_max`]), and [`Config::validate`] refuses a configuration in
    /// which one could exceed it: nothing is ever too large to send.
    pub frame_bytes_max: usize,
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
    /// digest's manifest (see `transfer::Manifest`). It is part of the state
    /// digest, so every replica of a cluster must use the same one.
    pub snapshot_chunk_bytes: u32,
    /// How many recent replies each client's entry in the reply cache holds, and how many of
    /// its requests may wait for execution at once.
    pub client_window: u64,
    /// The largest operation a request may carry, in bytes.
    pub operation_bytes_max: usize,
    /// The most bytes of requests (each counted by [`crate::message::request_bytes`]) one
    /// client may have waiting at this replica, sent straight to it. A request is taken
    /// whatever its size when the client has nothing waiting here, so one request of the
    /// largest operation always fits. Replicas may differ: a request a backup forwards
    /// counts against the backup's own quota, not this one, so a primary never refuses a
    /// correct backup's forward for bytes.
    pub client_bytes_in_flight_max: usize,
    /// The most requests one client may have waiting at this replica, sent straight to it;
    /// `None` (the default) allows `client_window`, and more than that has no effect.
    /// Replicas may differ, for the same reason as `client_bytes_in_flight_max`.
    pub client_requests_in_flight_max: Option<u64>,
    /// Which clients' requests this replica accepts: those the transport admits. A
    /// request of any other client is refused whoever relays it, and a PRE-PREPARE that
    /// holds one is refused as a faulty primary's, so neither a faulty replica nor a
    /// stranger can add clients to the reply cache. The default admits none.
    pub clients: ClientAdmission,
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
    #[error(
        "operation_bytes_max ({operation}) leaves no room in a batch of batch_bytes_max \
         ({batch}) bytes: a request of the largest operation counts {request} bytes; raise \
         batch_bytes_max or lower operation_bytes_max"
    )]
    OperationOverBatch {
        operation: usize,
        batch: usize,
        request: usize,
    },
    #[error(
        "a {message} could be {bytes} bytes, more than the frame cap of {frame} bytes \
         (max_frame_bytes); {advice}"
    )]
    MessageOverFrame {
        message: &'static str,
        bytes: usize,
        frame: usize,
        advice: &'static str,
    },
}

/// The largest size of each message kind, from the configuration (see
/// [`Config::message_bytes_max`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageBytesMax {
    /// A PRE-PREPARE with a full batch; also a relayed commit certificate, a fetched batch.
    pub pre_prepare: usize,
    /// A VIEW-CHANGE: the stable checkpoint's proof and a window of prepared certificates,
    /// with the batches that fit in half a frame.
    pub view_change: usize,
    /// A NEW-VIEW: a quorum of VIEW-CHANGEs (their signed parts), a window of
    /// PRE-PREPAREs, and the batches that fit in half a frame.
    pub new_view: usize,
    /// A state-transfer chunk.
    pub state_chunk: usize,
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
            frame_bytes_max: 16 << 20,
            batch_delay_ticks: 0,
            in_flight_max: 32,
            pipeline_batch_min: 64,
            view_change_timeout_ticks: 100,
            order_timeout_ticks: 50,
            view_change_timeout_max_ticks: 6_000,
            status_interval_ticks: 20,
            state_transfer_timeout_ticks: 500,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
            client_window: 64,
            operation_bytes_max: 1 << 20,
            client_bytes_in_flight_max: CLIENT_BYTES_IN_FLIGHT_MAX_DEFAULT,
            client_requests_in_flight_max: None,
            clients: ClientAdmission::default(),
            tentative_execution: true,
        }
    }

    /// The cluster settings of this configuration for `application`: the replicas and the
    /// parameters every replica must share (see [`ClusterSettings`]).
    pub fn settings(&self, application: &str) -> ClusterSettings {
        ClusterSettings {
            replicas: self.cluster.replicas.clone(),
            checkpoint_interval: self.checkpoint_interval,
            log_window: self.log_window,
            batch_size_max: self.batch_size_max as u64,
            client_window: self.client_window,
            operation_bytes_max: self.operation_bytes_max as u64,
            application: application.to_string(),
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
        if let Some(max) = self.client_requests_in_flight_max {
            at_least("client_requests_in_flight_max", max, 1)?;
        }
        at_least(
            "client_bytes_in_flight_max",
            self.client_bytes_in_flight_max as u64,
            1,
        )?;
        at_least(
            "snapshot_chunk_bytes",
            u64::from(self.snapshot_chunk_bytes),
            1,
        )?;
        at_least(
            "order_timeout_ticks",
            self.order_timeout_ticks,
            self.batch_delay_ticks + 1,
        )?;
        let request = self.operation_bytes_max + REQUEST_OVERHEAD_BYTES;
        if request > self.batch_bytes_max {
            return Err(ConfigError::OperationOverBatch {
                operation: self.operation_bytes_max,
                batch: self.batch_bytes_max,
                request,
            });
        }
        let sizes = self.message_bytes_max();
        let frame = self.frame_bytes_max;
        let over = |message, bytes: usize, advice| {
            if bytes > frame {
                Err(ConfigError::MessageOverFrame {
                    message,
                    bytes,
                    frame,
                    advice,
                })
            } else {
                Ok(())
            }
        };
        over(
            "PRE-PREPARE with a full batch",
            sizes.pre_prepare,
            "lower batch_bytes_max or raise max_frame_bytes",
        )?;
        over(
            "VIEW-CHANGE",
            sizes.view_change,
            "lower log_window or raise max_frame_bytes",
        )?;
        over(
            "NEW-VIEW",
            sizes.new_view,
            "lower log_window or raise max_frame_bytes",
        )?;
        over(
            "state-transfer chunk",
            sizes.state_chunk,
            "lower snapshot_chunk_bytes or raise max_frame_bytes",
        )?;
        Ok(())
    }

    /// The largest size of each message kind, as a formula over the configuration, with
    /// every signed part counted at [`SIGNED_MESSAGE_BYTES_MAX`] and every certificate at
    /// its largest (n signers). Batches beyond half a frame stay out of VIEW-CHANGE and
    /// NEW-VIEW and are fetched by digest (`batch_fetch.rs`).
    pub fn message_bytes_max(&self) -> MessageBytesMax {
        let n = self.replica_count();
        let window = self.log_window as usize;
        let header = 64;
        let signed = SIGNED_MESSAGE_BYTES_MAX;
        let batch = self.batch_bytes_max + 16;
        let certificate = n * signed;
        let checkpoint_proof = n * signed + header;
        let view_change_signed = header + checkpoint_proof + window * certificate;
        let batches_carried = self.frame_bytes_max / 2;
        MessageBytesMax {
            pre_prepare: header + signed + batch,
            view_change: view_change_signed + batches_carried,
            new_view: header + signed + n * view_change_signed + window * signed + batches_carried,
            state_chunk: header + self.snapshot_chunk_bytes as usize,
        }
    }

    /// The size limits the shell checks before verifying signatures.
    pub fn limits(&self) -> Limits {
        Limits {
            batch_size_max: self.batch_size_max,
            operation_bytes_max: self.operation_bytes_max,
            log_window: self.log_window,
        }
    }

    pub fn quorums(&self) -> Quorums {
        self.cluster.quorums()
    }

    pub fn replica_count(&self) -> usize {
        self.cluster.size()
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use rampart_crypto::{ClusterId, Digest, KeyPair, Signed};

    use super::*;
    use crate::message::{Prepare, ReplicaId, Seq, View, encode};

    fn config(replicas: u64) -> Config {
        let keys = (0..replicas)
            .map(|seed| KeyPair::from_seed(seed).public_key())
            .collect();
        Config::new(Cluster::new(ClusterId(1), keys).expect("a valid cluster"))
    }

    #[test]
    fn a_signed_message_of_fixed_fields_is_within_its_bound() {
        let prepare = Prepare {
            view: View(u64::MAX),
            seq: Seq(u64::MAX),
            digest: Digest::of(b"batch"),
            replica: ReplicaId(u32::MAX),
        };
        let signed = Signed::sign(ClusterId(1), prepare, &KeyPair::from_seed(1)).expect("signs");
        assert!(encode(&signed).len() <= SIGNED_MESSAGE_BYTES_MAX);
    }

    #[test]
    fn the_defaults_fit_every_message_in_a_frame() {
        for replicas in [4, 7, 10] {
            config(replicas).validate().expect("the defaults are valid");
        }
    }

    #[test]
    fn a_configuration_whose_messages_could_exceed_the_frame_cap_is_refused_with_advice() {
        let mut large_batches = config(4);
        large_batches.frame_bytes_max = 1 << 20;
        let error = large_batches
            .validate()
            .expect_err("a 4 MiB batch in a 1 MiB frame");
        assert!(
            error
                .to_string()
                .contains("lower batch_bytes_max or raise max_frame_bytes"),
            "{error}"
        );

        let mut many_replicas = config(31);
        many_replicas.log_window = 1 << 12;
        let error = many_replicas
            .validate()
            .expect_err("a NEW-VIEW of 31 windows");
        assert!(
            error
                .to_string()
                .contains("lower log_window or raise max_frame_bytes"),
            "{error}"
        );

        let mut large_operations = config(4);
        large_operations.operation_bytes_max = large_operations.batch_bytes_max;
        let error = large_operations.validate().expect_err("no room in a batch");
        assert!(
            error.to_string().contains("raise batch_bytes_max"),
            "{error}"
        );
    }
}
