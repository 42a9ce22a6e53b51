//! Where a run's CPU time went, read from Linux's `/proc`: how many cores this process kept
//! busy, its CPU time per operation, and how much time the hypervisor stole from the
//! machine. Throughput on a shared virtual machine varies from run to run by several
//! percent; CPU time per operation varies much less, and steal tells when the host, not
//! Rampart, slowed a run.

use std::fs;

/// Linux reports CPU times in these ticks per second (`USER_HZ`, 100 on every architecture
/// Rampart builds for).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU counters at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CpuSample {
    /// User and system time of this process, in ticks.
    process: u64,
    /// Time of all the machine's CPUs, and the part of it stolen by the hypervisor, in ticks.
    machine: u64,
    steal: u64,
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
    /// The counters now; `None` where `/proc` cannot be read or parsed.
    pub fn now() -> Option<CpuSample> {
        let process = process_ticks(&fs::read_to_string("/proc/self/stat").ok()?)?;
        let (machine, steal) = machine_ticks(&fs::read_to_string("/proc/stat").ok()?)?;
        Some(CpuSample {
            process,
            machine,
            steal,
        })
    }

    /// What was used from `self` until `later`, over `seconds` with `operations` completed.
    pub fn until(&self, later: &CpuSample, seconds: f64, operations: u64) -> CpuUse {
        let process_s = later.process.saturating_sub(self.process) as f64 / TICKS_PER_SECOND;
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

/// utime + stime from the text of `/proc/self/stat`. The command name, in parentheses, may
/// hold spaces, so fields are counted from its closing parenthesis: utime and stime are
/// the 14th and 15th fields.
fn process_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// All CPU time and steal time from the first line of `/proc/stat`: `cpu user nice system
/// idle iowait irq softirq steal guest guest_nice` (guest time is already in user time).
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let mut fields = stat.lines().next()?.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let times: Vec<u64> = fields
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    if times.len() < 8 {
        return None;
    }
    Some((times.iter().sum(), times[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_time_is_counted_after_the_command_name() {
        let stat = "4242 (rampart (x) y) R 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(process_ticks(stat), Some(325));
        assert_eq!(process_ticks("4242 (rampart) R 1"), None);
        assert_eq!(process_ticks("no parenthesis"), None);
    }

    #[test]
    fn machine_time_sums_the_first_eight_columns_and_steal_is_the_eighth() {
        let stat = "cpu  100 5 50 800 10 1 2 32 7 0\ncpu0 50 2 25 400 5 0 1 16 3 0\n";
        assert_eq!(machine_ticks(stat), Some((1000, 32)));
        assert_eq!(machine_ticks("cpu 1 2 3\n"), None);
        assert_eq!(machine_ticks("intr 1 2 3 4 5 6 7 8\n"), None);
    }

    #[test]
    fn use_is_per_second_per_operation_and_per_machine_tick() {
        let before = CpuSample {
            process: 1000,
            machine: 10_000,
            steal: 100,
        };
        let after = CpuSample {
            process: 2200,
            machine: 11_200,
            steal: 160,
        };
        let used = before.until(&after, 6.0, 120_000);
        assert!((used.cores_busy - 2.0).abs() < 1e-9);
        assert!((used.ns_per_op - 100_000.0).abs() < 1e-6);
        assert!((used.steal_share - 0.05).abs() < 1e-9);
    }

    #[test]
    fn this_process_can_be_sampled_on_linux() {
        if cfg!(target_os = "linux") {
            let sample = CpuSample::now().expect("/proc is readable");
            assert!(sample.machine >= sample.steal);
        }
    }
}
