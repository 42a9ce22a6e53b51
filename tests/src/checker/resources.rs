//! What a replica may keep, as a figure computed from the configuration (DESIGN §9: the
//! memory and disk of every correct replica are bounded whatever faulty replicas and
//! clients send).

use rampart_replica::core::Config;

/// An upper bound on the bytes of protocol state a replica's stable storage holds (its
/// persisted messages and certificates; application snapshots are the application's):
/// for every sequence number of the log window a PRE-PREPARE, a prepared and a decided
/// certificate, each with its batch; for every replica a bounded number of VIEW-CHANGEs
/// (each up to a window of prepared certificates with their batches) and CHECKPOINTs.
pub fn stored_bytes_bound(config: &Config) -> usize {
    let n = config.replica_count();
    // A request's encoding adds at most this much to its operation.
    let request = config.operation_bytes_max + 128;
    let batch = config.batch_size_max * request;
    // A signed message of a few fields (view, sequence number, digest, replica) with its
    // signature, bincode's variable-length integers at their longest.
    let signed = 160;
    let certificate = n * signed;
    let slot = 3 * (batch + certificate);
    let window = config.log_window as usize;
    let view_change = window * (certificate + batch) + certificate;
    let per_replica =
        4 * view_change + 2 * (window / config.checkpoint_interval as usize + 4) * signed;
    window * slot + n * per_replica
}
