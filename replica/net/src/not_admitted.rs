//! Clients whose key the replicas do not admit: how a replica reports refusing them
//! without letting a stranger flood its log, and how a client learns it was refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rampart_crypto::PublicKey;
use tokio::sync::watch;
use tracing::warn;

use crate::message::ReplicaId;

/// The shortest time between two log lines about refused clients. Anyone who can reach a
/// replica can make keys and connect with them, so the log says what happened at most
/// once per interval, with the count of the refusals since the previous line.
pub(crate) const NOT_ADMITTED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The replica's rate-limited log of refused clients: at most one WARN line per
/// [`NOT_ADMITTED_LOG_INTERVAL`], in bounded memory whatever the number of keys.
#[derive(Debug, Default)]
pub(crate) struct NotAdmittedLog {
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last_line: Option<Instant>,
    /// Refusals since the last line.
    unreported: u64,
}

impl NotAdmittedLog {
    /// Records a refusal of `key` from `remote`; logs it if no line was written in the
    /// last interval, with how many refusals went unreported since the previous line.
    /// Returns whether a line was written.
    pub(crate) fn refused(&self, key: &PublicKey, remote: std::net::SocketAddr) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.unreported += 1;
        let due = state
            .last_line
            .is_none_or(|last| now.duration_since(last) >= NOT_ADMITTED_LOG_INTERVAL);
        if !due {
            return false;
        }
        let refused = std::mem::take(&mut state.unreported);
        state.last_line = Some(now);
        drop(state);
        warn!(
            key = %key.short(),
            %remote,
            refused_since_last_line = refused,
            "refused a client whose key is not admitted; to admit it, list its public key \
             in the cluster file's [clients] keys on every replica"
        );
        true
    }
}

/// A client transport's view of which replicas refused to admit its key: set when a
/// replica closes the connection as not admitted, cleared when a frame from that replica
/// arrives (it admitted a later connection).
#[derive(Debug)]
pub(crate) struct AdmissionRefusals {
    refused: Vec<AtomicBool>,
    count: watch::Sender<usize>,
}

impl AdmissionRefusals {
    pub(crate) fn new(replicas: usize) -> AdmissionRefusals {
        AdmissionRefusals {
            refused: (0..replicas).map(|_| AtomicBool::new(false)).collect(),
            count: watch::Sender::new(0),
        }
    }

    pub(crate) fn refused_by(&self, replica: ReplicaId) {
        if let Some(flag) = self.refused.get(replica.0 as usize)
            && !flag.swap(true, Ordering::AcqRel)
        {
            self.count.send_modify(|count| *count += 1);
        }
    }

    pub(crate) fn admitted_by(&self, replica: ReplicaId) {
        if let Some(flag) = self.refused.get(replica.0 as usize)
            && flag.load(Ordering::Acquire)
            && flag.swap(false, Ordering::AcqRel)
        {
            self.count.send_modify(|count| *count -= 1);
        }
    }

    /// The number of replicas currently refusing this client, updated as it changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_crypto::KeyPair;

    #[test]
    fn a_flood_of_refusals_writes_one_line_per_interval() {
        let log = NotAdmittedLog::default();
        let remote = "127.0.0.1:9".parse().expect("address");
        let lines = (0..1000)
            .filter(|seed| log.refused(&KeyPair::from_seed(*seed).public_key(), remote))
            .count();
        assert_eq!(lines, 1);
    }

    #[test]
    fn refusals_are_counted_once_per_replica_until_it_admits_again() {
        let refusals = AdmissionRefusals::new(4);
        let count = refusals.subscribe();
        refusals.refused_by(ReplicaId(1));
        refusals.refused_by(ReplicaId(1));
        refusals.refused_by(ReplicaId(3));
        refusals.refused_by(ReplicaId(9));
        assert_eq!(*count.borrow(), 2);
        refusals.admitted_by(ReplicaId(1));
        refusals.admitted_by(ReplicaId(2));
        assert_eq!(*count.borrow(), 1);
    }
}
