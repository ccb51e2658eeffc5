//! How busy the rest of the machine was during a part of the run: CPU time of all processes
//! (`/proc/stat`) minus this process and its waited-for children (`/proc/self/stat`). On a
//! shared machine this tells whether something else competed with the measurement.
//!
//! [`Split`] goes one step further for a load run: the bench (the load generator), the Core
//! under test, and everything else (PostgreSQL, Redis, the kernel's share), so a figure can be
//! read against who used the machine's vCPUs.

/// Cumulative CPU ticks at one moment.
#[derive(Clone, Copy)]
pub struct Snapshot {
    busy: u64,
    total: u64,
    own: u64,
}

impl Snapshot {
    /// `None` where `/proc` is not readable.
    pub fn take() -> Option<Snapshot> {
        let (busy, total) = machine_ticks()?;
        // Fields 14-17 of proc(5) (utime, stime, cutime, cstime) are 11-14 after the name.
        let own = process_ticks("/proc/self/stat", 11..=14)?;
        Some(Snapshot { busy, total, own })
    }

    /// Average vCPUs used by other processes since `earlier`, given `cpus` vCPUs.
    pub fn others_since(&self, earlier: &Snapshot, cpus: usize) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        if total == 0 {
            return None;
        }
        let busy = self.busy.saturating_sub(earlier.busy);
        let own = self.own.saturating_sub(earlier.own);
        let others = busy.saturating_sub(own) as f64 / total as f64;
        Some(others * cpus as f64)
    }
}

/// Cumulative ticks of the machine, this process (without children) and the Core's process.
#[derive(Clone, Copy)]
pub struct Split {
    busy: u64,
    total: u64,
    bench: u64,
    core: u64,
}

/// Average vCPUs used over an interval.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub bench: f64,
    pub core: f64,
    /// Busy time of every other process: PostgreSQL and Redis serving the Core included.
    pub others: f64,
    /// Time no process used, in vCPUs.
    pub idle: f64,
}

impl Split {
    /// `None` where `/proc` is not readable or the Core has exited.
    pub fn take(core_pid: u32) -> Option<Split> {
        let (busy, total) = machine_ticks()?;
        // utime and stime only: the Core's own children (there are none) would not be reaped.
        let bench = process_ticks("/proc/self/stat", 11..=12)?;
        let core = process_ticks(&format!("/proc/{core_pid}/stat"), 11..=12)?;
        Some(Split {
            busy,
            total,
            bench,
            core,
        })
    }

    pub fn since(&self, earlier: &Split, cpus: usize) -> Option<Usage> {
        let total = self.total.checked_sub(earlier.total)?;
        if total == 0 {
            return None;
        }
        // Ticks of all vCPUs together: one vCPU busy throughout is total / cpus.
        let share = |ticks: u64| ticks as f64 / total as f64 * cpus as f64;
        let busy = self.busy.saturating_sub(earlier.busy);
        let bench = self.bench.saturating_sub(earlier.bench);
        let core = self.core.saturating_sub(earlier.core);
        Some(Usage {
            bench: share(bench),
            core: share(core),
            others: share(busy.saturating_sub(bench + core)),
            idle: share(total.saturating_sub(busy)),
        })
    }
}

/// (busy, total) ticks of all vCPUs from `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let field = |i: usize| ticks.get(i).copied().unwrap_or(0);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    Some((busy, busy + field(3) + field(4)))
}

/// The sum of the fields `fields` (counted after the command name) of a `/proc/<pid>/stat`.
fn process_ticks(path: &str, fields: std::ops::RangeInclusive<usize>) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let values: Vec<&str> = after_name.split_whitespace().collect();
    fields
        .map(|i| values.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
