//! What one seed does: a cluster size, a network, up to f faulty replicas (Byzantine
//! behaviours, Twins, crashes forever, wiped and faulty disks), faulty clients, and a
//! schedule of transient faults for the others (crashes and restarts, isolation,
//! partitions, one-way links). The plan depends on the seed alone, never on the
//! application under test.
//!
//! The negative control ([`Plan::beyond_tolerance`]) runs with f + 1 Twins, more faults
//! than PBFT tolerates: the checkers must then report a safety violation, which shows they
//! can fail.

use rampart_replica::core::Rng;
use rampart_replica::message::ReplicaId;

use crate::byzantine::all_behaviours;
use crate::faulty_client::ClientFault;
use crate::network::NetworkConfig;
use crate::simulation::SimConfig;

/// How long the fault phase lasts, and how long the healed cluster gets to finish.
pub(crate) const FAULT_PHASE_TICKS: u64 = 800;
pub(crate) const HEALED_PHASE_TICKS_MAX: u64 = 30_000;

/// A fault a seed injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Byzantine {
        replica: ReplicaId,
        behaviour: &'static str,
    },
    Twin {
        replica: ReplicaId,
    },
    CrashForever {
        replica: ReplicaId,
    },
    WipedDisk {
        replica: ReplicaId,
    },
    /// A disk that does not sync and is damaged at each of the replica's two crashes
    /// (unsynced writes lost, the last write torn, a record corrupted: see
    /// `rampart_replica::store::disk::DiskFault`).
    FaultyDisk {
        replica: ReplicaId,
    },
    CrashRestart {
        replica: ReplicaId,
        at: u64,
        ticks: u64,
    },
    Isolate {
        replica: ReplicaId,
        at: u64,
        ticks: u64,
    },
    Partition {
        minority: Vec<ReplicaId>,
        at: u64,
        ticks: u64,
    },
    OneWay {
        from: ReplicaId,
        to: ReplicaId,
        at: u64,
        ticks: u64,
    },
}

impl Fault {
    /// Whether the fault makes its replica faulty for good (it counts against f).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Fault::Byzantine { .. }
                | Fault::Twin { .. }
                | Fault::CrashForever { .. }
                | Fault::WipedDisk { .. }
                | Fault::FaultyDisk { .. }
        )
    }
}

/// Everything one seed does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub config: SimConfig,
    pub faults: Vec<Fault>,
    /// Negative control: Twins beyond the tolerance, on links that guarantee a split.
    pub beyond_tolerance: bool,
}

impl Plan {
    /// The plan of a seed in the regular campaign.
    pub fn generate(seed: u64) -> Plan {
        let mut rng = Rng::new(seed ^ 0x5eed_ca3b_a1c0_0001);
        let replicas = if rng.chance(1, 4) { 7 } else { 4 };
        let mut config = SimConfig::new(seed, replicas);
        config.clients = 2 + rng.below(3) as usize;
        config.operations_per_client = 15 + rng.below(20) as usize;
        config.batch_delay_ticks = rng.below(3);
        config.network = NetworkConfig {
            delay_min_ticks: 1,
            delay_max_ticks: 2 + rng.below(7),
            loss_per_mille: [0, 0, 10, 30, 60][rng.below(5) as usize],
            duplicate_per_mille: [0, 10, 40][rng.below(3) as usize],
        };
        let f = (replicas - 1) / 3;
        let mut ids: Vec<ReplicaId> = (0..replicas as u32).map(ReplicaId).collect();
        shuffle(&mut ids, &mut rng);
        let faulty_count = rng.below(f as u64 + 1) as usize;
        let (faulty, correct) = ids.split_at(faulty_count);
        let behaviours = all_behaviours();
        let mut faults = Vec::new();
        for &replica in faulty {
            let fault = match rng.below(11) {
                0..=5 => {
                    let make = behaviours[rng.below(behaviours.len() as u64) as usize];
                    Fault::Byzantine {
                        replica,
                        behaviour: make(replica, replicas).name(),
                    }
                }
                6 | 7 => Fault::Twin { replica },
                8 => Fault::CrashForever { replica },
                9 => Fault::WipedDisk { replica },
                _ => Fault::FaultyDisk { replica },
            };
            faults.push(fault);
        }
        if rng.chance(1, 3) {
            let count = 1 + rng.below(2);
            config.faulty_clients = (0..count)
                .map(|_| ClientFault::ALL[rng.below(ClientFault::ALL.len() as u64) as usize])
                .collect();
        }
        let transient = rng.below(4);
        for _ in 0..transient {
            let replica = correct[rng.below(correct.len() as u64) as usize];
            let at = 20 + rng.below(FAULT_PHASE_TICKS / 2);
            let ticks = 50 + rng.below(FAULT_PHASE_TICKS / 2);
            let fault = match rng.below(4) {
                0 => Fault::CrashRestart { replica, at, ticks },
                1 => Fault::Isolate { replica, at, ticks },
                2 => {
                    let size = 1 + rng.below(f as u64) as usize;
                    let mut minority: Vec<ReplicaId> = ids.clone();
                    shuffle(&mut minority, &mut rng);
                    minority.truncate(size);
                    Fault::Partition {
                        minority,
                        at,
                        ticks,
                    }
                }
                _ => {
                    let to = ids[rng.below(ids.len() as u64) as usize];
                    if to == replica {
                        continue;
                    }
                    Fault::OneWay {
                        from: replica,
                        to,
                        at,
                        ticks,
                    }
                }
            };
            faults.push(fault);
        }
        Plan {
            config,
            faults,
            beyond_tolerance: false,
        }
    }

    /// The negative control: n = 4 with f + 1 = 2 Twins (replicas 0 and 1, the first two
    /// primaries). Replica 2 hears only the originals and replica 3 only the twins, so the
    /// two halves can each assemble quorums: more faults than PBFT tolerates.
    pub fn beyond_tolerance(seed: u64) -> Plan {
        let mut config = SimConfig::new(seed, 4);
        config.clients = 4;
        config.operations_per_client = 15;
        Plan {
            config,
            faults: vec![
                Fault::Twin {
                    replica: ReplicaId(0),
                },
                Fault::Twin {
                    replica: ReplicaId(1),
                },
            ],
            beyond_tolerance: true,
        }
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}
