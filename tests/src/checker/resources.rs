//! What a replica may keep, as a figure computed from the configuration (DESIGN §9: the
//! memory and disk of every correct replica are bounded whatever faulty replicas and
//! clients send).

use rampart_protocol::core::{Config, MemoryFootprint};

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

/// Whether a replica's in-memory stores stay within what the protocol allows, whatever its
/// peers and `clients` registered clients send: a window of slots, a bounded number of
/// CHECKPOINTs and VIEW-CHANGEs per replica, a quota of waiting requests per client and
/// origin, and a window of replies per client. Returns what is over, if anything.
pub fn footprint_excess(
    config: &Config,
    footprint: &MemoryFootprint,
    clients: usize,
) -> Option<String> {
    let n = config.replica_count();
    let window = config.client_window as usize;
    let limits = [
        ("log slots", footprint.log_slots, config.log_window as usize),
        (
            "checkpoint messages",
            footprint.checkpoint_messages,
            n * 4 + n,
        ),
        (
            "view-change messages",
            footprint.view_change_messages,
            n * 4 + 4 + 1,
        ),
        (
            "waiting requests",
            footprint.waiting_requests,
            clients * n * window,
        ),
        ("waiting reads", footprint.waiting_reads, clients * window),
        (
            "batches known only by digest",
            footprint.missing_batches,
            config.log_window as usize,
        ),
        ("cached replies", footprint.cached_replies, clients * window),
    ];
    limits
        .iter()
        .find(|(_, held, limit)| held > limit)
        .map(|(what, held, limit)| format!("{held} {what}, more than {limit}"))
}
