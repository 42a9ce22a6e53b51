//! Why a replica will not execute a client's request, as the client hears it.
//!
//! PBFT (§4.1) answers a request with a REPLY once it executes. A request that a replica
//! will never execute must not be met with silence, or its client waits for a timeout and
//! retransmits into the same refusal: every such request gets a [`Refusal`] at once, which
//! the client turns into an error that says what happened.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The highest request number a replica accepts. A request executed at number `m` makes
/// every number below `m + 1 - client_window` forgotten (see the reply cache,
/// `core::ClientTable`), so a number close to `u64::MAX` would leave its client no room
/// above it. Clients number requests from their clock in microseconds, which stays
/// below 2^63 for some 290,000 years.
pub const REQUEST_NUMBER_MAX: u64 = (1 << 63) - 1;

/// A typed reason for refusing a client's request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Refusal {
    /// The number is below the lowest one the replica still remembers for this client
    /// (`floor`): a request with that number was executed, or superseded by a higher
    /// number, and its reply is gone. Two processes sharing one client key cause this.
    TooOld { floor: u64 },
    /// The number is above [`REQUEST_NUMBER_MAX`].
    NumberSpaceExhausted,
    /// The client already has `limit` requests waiting at this replica; it may send more
    /// once some of them have executed.
    OverQuota { limit: u64 },
    /// The client asked for something the replica refuses outright: an invalid signature,
    /// an operation over the size limit, a malformed frame.
    Invalid { reason: String },
    /// The client's requests waiting at the replica hold `limit_bytes` bytes already; it
    /// may send more once some of them have executed.
    OverBytesQuota { limit_bytes: u64 },
}

impl Refusal {
    /// Whether the same request may succeed if sent again later: a full quota (of
    /// requests or bytes) drains as the client's earlier requests execute. Every other
    /// refusal is final.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Refusal::OverQuota { .. } | Refusal::OverBytesQuota { .. }
        )
    }

    /// The refusal's kind without its details: replicas at different points of execution
    /// refuse for the same reason with different figures (a `floor`, say).
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::TooOld { .. } => "too old",
            Refusal::NumberSpaceExhausted => "number space exhausted",
            Refusal::OverQuota { .. } => "over quota",
            Refusal::OverBytesQuota { .. } => "over bytes quota",
            Refusal::Invalid { .. } => "invalid",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooOld { floor } => write!(
                f,
                "the request number is below {floor}, the lowest the replicas still remember \
                 for this client key: it was used already (is another process using the same \
                 client key?)"
            ),
            Refusal::NumberSpaceExhausted => write!(
                f,
                "the request number is above {REQUEST_NUMBER_MAX}, the highest a replica \
                 accepts"
            ),
            Refusal::OverQuota { limit } => write!(
                f,
                "the client already has {limit} requests waiting at the replica; wait for \
                 some to complete"
            ),
            Refusal::Invalid { reason } => f.write_str(reason),
            Refusal::OverBytesQuota { limit_bytes } => write!(
                f,
                "the client's requests waiting at the replica hold {limit_bytes} bytes \
                 already, its limit (client_bytes_in_flight_max); wait for some to complete"
            ),
        }
    }
}
