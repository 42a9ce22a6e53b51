//! Random faults on a real cluster: the nemesis an application's author runs alongside a
//! workload, round after round, to shake out what scripted scenarios miss.
//!
//! Each round picks one fault with a seeded [`Rng`], holds it for a while and undoes it, so
//! at most one replica is faulty at a time (within f for any cluster). A wiped replica
//! counts as faulty until it has caught up (it may have forgotten what it signed), so the
//! round that wipes one waits for it to catch up before it ends.
//!
//! ```no_run
//! # async fn run(mut cluster: rampart_testkit::real::LocalCluster) {
//! use rampart_replica::core::Rng;
//! let mut rng = Rng::new(7);
//! for _ in 0..20 {
//!     let (fault, hold) = cluster.random_fault(&mut rng);
//!     cluster.inject(&fault, hold).await.expect("the fault is injected and undone");
//! }
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use rampart_replica::core::Rng;
use rampart_replica::message::ReplicaId;

use super::cluster::{LocalCluster, LocalClusterError};

/// One fault a round injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RealFault {
    /// Stopped as by `kill -9`: nobody hears it go (see [`LocalCluster::crash`]).
    Crash { replica: ReplicaId },
    /// Shut down gracefully.
    Stop { replica: ReplicaId },
    /// Its data directory deleted, then started empty.
    Wipe { replica: ReplicaId },
    /// Cut off from its peers; clients still reach it.
    Isolate { replica: ReplicaId },
    /// On its own side of a partition of the replicas.
    Partition { replica: ReplicaId },
    /// Every datagram to and from it delayed.
    Slow { replica: ReplicaId, delay: Duration },
    /// A share of every datagram between replicas dropped, in per mille.
    Loss { per_mille: u64 },
}

impl fmt::Display for RealFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealFault::Crash { replica } => write!(f, "crash {replica}"),
            RealFault::Stop { replica } => write!(f, "stop {replica}"),
            RealFault::Wipe { replica } => write!(f, "wipe {replica}"),
            RealFault::Isolate { replica } => write!(f, "isolate {replica}"),
            RealFault::Partition { replica } => write!(f, "partition {replica} from the rest"),
            RealFault::Slow { replica, delay } => write!(f, "slow {replica} by {delay:?}"),
            RealFault::Loss { per_mille } => write!(f, "lose {per_mille}‰ of datagrams"),
        }
    }
}

/// How long a wiped replica may take to catch up before the round fails.
const WIPE_CATCH_UP: Duration = Duration::from_secs(60);

impl LocalCluster {
    /// A fault and how long to hold it (0.2 to 1.7 s), drawn from `rng`.
    pub fn random_fault(&self, rng: &mut Rng) -> (RealFault, Duration) {
        let replica = ReplicaId(rng.below(self.cluster().size() as u64) as u32);
        let fault = match rng.below(8) {
            0 | 1 => RealFault::Crash { replica },
            2 => RealFault::Stop { replica },
            3 => RealFault::Wipe { replica },
            4 => RealFault::Isolate { replica },
            5 => RealFault::Partition { replica },
            6 => RealFault::Slow {
                replica,
                delay: Duration::from_millis(5 + rng.below(40)),
            },
            _ => RealFault::Loss {
                per_mille: 20 + rng.below(100),
            },
        };
        (fault, Duration::from_millis(200 + rng.below(1_500)))
    }

    /// Injects `fault`, holds it for `hold`, and undoes it: restarts what was stopped and
    /// heals every link. After a wipe it also waits until the wiped replica has caught up.
    pub async fn inject(
        &mut self,
        fault: &RealFault,
        hold: Duration,
    ) -> Result<(), LocalClusterError> {
        let node_error = |replica: ReplicaId| {
            move |source| LocalClusterError::Node {
                replica: replica.0,
                source,
            }
        };
        match fault {
            RealFault::Crash { replica } => {
                self.crash(*replica).await.map_err(node_error(*replica))?
            }
            RealFault::Stop { replica } => {
                self.stop(*replica).await.map_err(node_error(*replica))?
            }
            RealFault::Wipe { replica } => self.wipe(*replica).await?,
            RealFault::Isolate { replica } => self.isolate(*replica),
            RealFault::Partition { replica } => {
                let rest: Vec<ReplicaId> = self
                    .replica_ids()
                    .into_iter()
                    .filter(|other| other != replica)
                    .collect();
                self.partition(&[&[*replica], &rest]);
            }
            RealFault::Slow { replica, delay } => self.slow(*replica, *delay),
            RealFault::Loss { per_mille } => self.set_loss(*per_mille),
        }
        tokio::time::sleep(hold).await;
        if let RealFault::Crash { replica } | RealFault::Stop { replica } = fault {
            self.restart(*replica).await?;
        }
        self.heal();
        if let RealFault::Wipe { replica } = fault {
            self.wait_caught_up(*replica).await?;
        }
        Ok(())
    }

    /// Waits until `replica` has executed as far as the furthest replica had when the wait
    /// began, and is not fetching state.
    async fn wait_caught_up(&self, replica: ReplicaId) -> Result<(), LocalClusterError> {
        let target = self
            .replica_ids()
            .into_iter()
            .filter_map(|other| self.status(other))
            .map(|status| status.last_executed)
            .max()
            .unwrap_or_default();
        let caught_up = self
            .wait_until(WIPE_CATCH_UP, |statuses| {
                statuses
                    .get(&replica)
                    .is_some_and(|status| status.last_executed >= target && !status.transferring)
            })
            .await;
        if caught_up {
            Ok(())
        } else {
            Err(LocalClusterError::NotCaughtUp {
                replica: replica.0,
                waited: WIPE_CATCH_UP,
            })
        }
    }
}
