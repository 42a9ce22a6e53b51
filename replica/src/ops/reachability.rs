//! Which replica peers this replica cannot reach, said once when it loses one and once
//! when it is back. A connection that is replaced, or lost and made again within
//! [`UNREACHABLE_AFTER`], is not worth a line.

use std::time::{Duration, Instant};

use crate::message::ReplicaId;
use crate::net::PeerStats;

/// How long a peer must be without a connection before it is called unreachable.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Not yet connected since the replica started.
    Starting {
        since: Instant,
    },
    Up,
    Down {
        since: Instant,
        said: bool,
    },
}

/// A change worth a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Unreachable { peer: ReplicaId, for_: Duration },
    Back { peer: ReplicaId, after: Duration },
}

#[derive(Debug)]
pub(crate) struct Reachability {
    me: ReplicaId,
    links: Vec<Link>,
}

impl Reachability {
    pub(crate) fn new(me: ReplicaId, replicas: usize, now: Instant) -> Reachability {
        Reachability {
            me,
            links: vec![Link::Starting { since: now }; replicas],
        }
    }

    /// Takes the transport's latest view of its peers; logs and returns what changed.
    pub(crate) fn update(&mut self, peers: &[PeerStats], now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for peer in peers {
            let replica = peer.replica;
            let Some(link) = self.links.get_mut(replica.0 as usize) else {
                continue;
            };
            if replica == self.me {
                continue;
            }
            let (next, change) = match (*link, peer.connected) {
                (Link::Up, true) => (Link::Up, None),
                (Link::Up, false) => (
                    Link::Down {
                        since: now,
                        said: false,
                    },
                    None,
                ),
                (Link::Starting { .. }, true) => (Link::Up, None),
                (Link::Down { since, said }, true) => {
                    let after = now.duration_since(since);
                    (
                        Link::Up,
                        said.then_some(Change::Back {
                            peer: replica,
                            after,
                        }),
                    )
                }
                (Link::Starting { since } | Link::Down { since, said: false }, false)
                    if now.duration_since(since) >= UNREACHABLE_AFTER =>
                {
                    let for_ = now.duration_since(since);
                    (
                        Link::Down { since, said: true },
                        Some(Change::Unreachable {
                            peer: replica,
                            for_,
                        }),
                    )
                }
                (unchanged, false) => (unchanged, None),
            };
            *link = next;
            if let Some(change) = change {
                self.write(change);
                changes.push(change);
            }
        }
        changes
    }

    fn write(&self, change: Change) {
        let replica = self.me;
        match change {
            Change::Unreachable { peer, for_ } => tracing::info!(
                %replica, %peer, seconds = for_.as_secs(),
                "cannot reach replica {peer}: no connection for {} s; retrying", for_.as_secs()
            ),
            Change::Back { peer, after } => tracing::info!(
                %replica, %peer, seconds = after.as_secs(),
                "replica {peer} is reachable again after {} s", after.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(connected: [bool; 3]) -> Vec<PeerStats> {
        connected
            .iter()
            .enumerate()
            .map(|(index, connected)| PeerStats {
                replica: ReplicaId(index as u32),
                connected: *connected,
                ..PeerStats::default()
            })
            .collect()
    }

    #[test]
    fn a_peer_lost_for_a_while_is_said_unreachable_once_and_back_once() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut reachability = Reachability::new(ReplicaId(0), 3, start);
        let (one, two) = (ReplicaId(1), ReplicaId(2));
        assert_eq!(reachability.update(&peers([false, true, false]), at(1)), []);
        assert_eq!(
            reachability.update(&peers([false, true, false]), at(5)),
            [Change::Unreachable {
                peer: two,
                for_: Duration::from_secs(5)
            }]
        );
        assert_eq!(reachability.update(&peers([false, true, false]), at(9)), []);
        // Replica 1 drops and reconnects at once: nothing to say.
        assert_eq!(
            reachability.update(&peers([false, false, true]), at(10)),
            [Change::Back {
                peer: two,
                after: Duration::from_secs(10)
            }]
        );
        assert_eq!(reachability.update(&peers([false, true, true]), at(11)), []);
        assert_eq!(
            reachability.update(&peers([false, false, true]), at(20)),
            []
        );
        assert_eq!(
            reachability.update(&peers([false, false, true]), at(25)),
            [Change::Unreachable {
                peer: one,
                for_: Duration::from_secs(5)
            }]
        );
    }
}
