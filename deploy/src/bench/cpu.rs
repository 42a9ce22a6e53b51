//! Where a run's CPU time went, read from Linux's `/proc` with the `procfs` crate: how many
//! cores this process kept busy, its CPU time per operation, and how much time the
//! hypervisor stole from the machine. Throughput on a shared virtual machine varies from
//! run to run by several percent; CPU time per operation varies much less, and steal tells
//! when the host, not Rampart, slowed a run.

/// CPU counters at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuSample {
    /// User and system time of this process, in ticks.
    process: u64,
    /// Time of all the machine's CPUs, and the part of it stolen by the hypervisor, in ticks.
    machine: u64,
    steal: u64,
    /// The length of a tick: the kernel's `USER_HZ` ticks make a second.
    ticks_per_second: u64,
}

/// The CPU a measured period used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuUse {
    /// Cores this process kept busy on average.
    pub cores_busy: f64,
    /// This process's CPU time per completed operation, in nanoseconds.
    pub ns_per_op: f64,
    /// The share of the machine's CPU time stolen by the hypervisor.
    pub steal_share: f64,
}

impl CpuSample {
    /// The counters now; `None` where `/proc` cannot be read or parsed, and off Linux.
    #[cfg(target_os = "linux")]
    pub fn now() -> Option<CpuSample> {
        use procfs::CurrentSI;

        let process = procfs::process::Process::myself().ok()?.stat().ok()?;
        // The first line of /proc/stat, all CPUs together. Guest time is already counted
        // in user time, so it is left out of the sum.
        let machine = procfs::KernelStats::current().ok()?.total;
        let steal = machine.steal.unwrap_or(0);
        Some(CpuSample {
            process: process.utime + process.stime,
            machine: [
                machine.user,
                machine.nice,
                machine.system,
                machine.idle,
                machine.iowait.unwrap_or(0),
                machine.irq.unwrap_or(0),
                machine.softirq.unwrap_or(0),
                steal,
            ]
            .iter()
            .sum(),
            steal,
            ticks_per_second: procfs::ticks_per_second(),
        })
    }

    /// The counters now; `None` where `/proc` cannot be read or parsed, and off Linux.
    #[cfg(not(target_os = "linux"))]
    pub fn now() -> Option<CpuSample> {
        None
    }

    /// What was used from `self` until `later`, over `seconds` with `operations` completed.
    pub fn until(&self, later: &CpuSample, seconds: f64, operations: u64) -> CpuUse {
        let process_s =
            later.process.saturating_sub(self.process) as f64 / self.ticks_per_second.max(1) as f64;
        let machine = later.machine.saturating_sub(self.machine);
        let steal = later.steal.saturating_sub(self.steal);
        CpuUse {
            cores_busy: process_s / seconds.max(1e-9),
            ns_per_op: process_s * 1e9 / operations.max(1) as f64,
            steal_share: if machine == 0 {
                0.0
            } else {
                steal as f64 / machine as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_is_per_second_per_operation_and_per_machine_tick() {
        let before = CpuSample {
            process: 1000,
            machine: 10_000,
            steal: 100,
            ticks_per_second: 100,
        };
        let after = CpuSample {
            process: 2200,
            machine: 11_200,
            steal: 160,
            ticks_per_second: 100,
        };
        let used = before.until(&after, 6.0, 120_000);
        assert!((used.cores_busy - 2.0).abs() < 1e-9);
        assert!((used.ns_per_op - 100_000.0).abs() < 1e-6);
        assert!((used.steal_share - 0.05).abs() < 1e-9);
    }

    /// Linux's counters, through `procfs`: the process's CPU time grows as it works, in
    /// ticks of the kernel's `USER_HZ`.
    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_sampled_from_proc() {
        let before = CpuSample::now().expect("/proc is readable");
        assert!(
            before.machine >= before.steal && before.machine > 0,
            "{before:?}"
        );
        assert_eq!(
            before.ticks_per_second, 100,
            "Linux counts CPU time in USER_HZ"
        );
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        let after = loop {
            for _ in 0..1_000_000 {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
            let now = CpuSample::now().expect("/proc is readable");
            if now.process >= before.process + 5 {
                break now;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "busy for 30 s, yet {before:?} became {now:?}"
            );
        };
        assert!(after.machine > before.machine, "{before:?} {after:?}");
        let used = before.until(&after, started.elapsed().as_secs_f64(), 1);
        assert!(used.ns_per_op >= 50e6, "5 ticks are 50 ms: {used:?}");
    }
}
