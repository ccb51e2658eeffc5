//! How busy the rest of the machine was during a part of the run: CPU time of all processes
//! (`/proc/stat`) minus this process and its waited-for children (`/proc/self/stat`). On a
//! shared machine this tells whether something else competed with the measurement.

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
        let total = busy + field(3) + field(4);

        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after_name = own_stat.get(own_stat.rfind(')')? + 2..)?;
        let own_fields: Vec<&str> = after_name.split_whitespace().collect();
        // Fields 14-17 of proc(5) (utime, stime, cutime, cstime) are 11-14 after the name.
        let own = (11..=14)
            .map(|i| own_fields.get(i).and_then(|v| v.parse::<u64>().ok()))
            .sum::<Option<u64>>()?;
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

pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
