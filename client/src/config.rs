//! How a client finds the replicas, and how patient it is with them.

use std::net::SocketAddr;
use std::time::Duration;

use rampart_net::ClientTransportConfig;
use rampart_protocol::cluster::Cluster;
use rampart_protocol::core::Config as ReplicaConfig;

use crate::error::ClientError;

/// A client's configuration. [`ClientConfig::new`] fills in defaults suited to a cluster on
/// a local network; adjust the public fields before connecting.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The replicas' keys and the cluster id.
    pub cluster: Cluster,
    /// Every replica's address; the index is the replica's id. These override
    /// `transport.replica_addresses`.
    pub replica_addresses: Vec<SocketAddr>,
    /// How long [`crate::Client::connect`] waits for the first replica connection.
    pub connect_timeout: Duration,
    /// How long [`crate::Client::connect`] then waits for a quorum (2f + 1) of the replicas
    /// to say which view they are in, before it goes on without knowing; zero does not
    /// wait. A quorum answers at once from a cluster that can make progress, so the wait
    /// runs out only where requests could not complete anyway.
    pub status_timeout: Duration,
    /// How long one call may take, from the moment it is made (waiting for room in the
    /// window included) until a quorum of replies arrives.
    pub request_timeout: Duration,
    /// How long to wait for the primary's replies before sending the request to every
    /// replica (PBFT §4.1); the interval doubles on every retransmission.
    pub retransmit_interval_min: Duration,
    /// The ceiling on the doubled retransmission interval.
    pub retransmit_interval_max: Duration,
    /// After a request needed a retransmission, how long every replica is asked to answer
    /// every request, instead of the primary and the designated backups alone; zero never
    /// asks.
    ///
    /// The primary and f (2f with tentative execution) designated backups answer a request,
    /// so one slow, partitioned or faulty replier costs every request it is designated for
    /// a whole retransmission interval. Answered by all, the first matching replies decide
    /// and a missing replica costs nothing; the price, more replies, is paid only while
    /// replies go missing.
    pub all_answer_after_retransmit: Duration,
    /// The largest operation the replicas accept (their `operation_bytes_max`); a larger
    /// one is refused before it is sent.
    pub operation_bytes_max: usize,
    /// How long a read-only request (PBFT §5.1.3) may wait for a quorum of matching answers
    /// before the client orders the operation instead.
    pub read_only_timeout: Duration,
    /// How many request numbers may be unanswered at once. Must equal the replicas'
    /// `client_window`: a number at or above the oldest unanswered number plus the window
    /// could make the replicas' reply cache forget the old request before executing it.
    pub window: u64,
    /// The QUIC transport's buffers and timings.
    pub transport: ClientTransportConfig,
}

impl ClientConfig {
    /// A configuration with default timings, and the replicas' default window.
    pub fn new(cluster: Cluster, replica_addresses: Vec<SocketAddr>) -> ClientConfig {
        let replica_defaults = ReplicaConfig::new(cluster.clone());
        let window = replica_defaults.client_window;
        ClientConfig {
            cluster,
            transport: ClientTransportConfig::new(replica_addresses.clone()),
            replica_addresses,
            connect_timeout: Duration::from_secs(10),
            status_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
            retransmit_interval_min: Duration::from_millis(500),
            retransmit_interval_max: Duration::from_secs(8),
            all_answer_after_retransmit: Duration::from_secs(10),
            operation_bytes_max: replica_defaults.operation_bytes_max,
            read_only_timeout: Duration::from_secs(1),
            window,
        }
    }

    /// Checks the values [`crate::Client::connect`] depends on.
    pub fn validate(&self) -> Result<(), ClientError> {
        let invalid = |reason: String| Err(ClientError::InvalidConfig { reason });
        if let Err(error) = self.cluster.validate() {
            return invalid(error.to_string());
        }
        if self.replica_addresses.len() != self.cluster.size() {
            return invalid(format!(
                "replica_addresses has {} entries for a cluster of {} replicas",
                self.replica_addresses.len(),
                self.cluster.size()
            ));
        }
        if self.window == 0 {
            return invalid("window must be at least 1".to_string());
        }
        let durations = [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("retransmit_interval_min", self.retransmit_interval_min),
            ("read_only_timeout", self.read_only_timeout),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, value)| value.is_zero()) {
            return invalid(format!("{name} must be positive"));
        }
        if self.retransmit_interval_max < self.retransmit_interval_min {
            return invalid(
                "retransmit_interval_max must be at least retransmit_interval_min".to_string(),
            );
        }
        Ok(())
    }

    /// The transport configuration, with this configuration's replica addresses.
    pub(crate) fn transport_config(&self) -> ClientTransportConfig {
        ClientTransportConfig {
            replica_addresses: self.replica_addresses.clone(),
            ..self.transport.clone()
        }
    }
}
