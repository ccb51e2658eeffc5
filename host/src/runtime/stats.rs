//! What one loaded version of a component did on this replica since it was loaded: the
//! operator's "since activation" figures (`GET /admin/components`). The Prometheus metrics count
//! per name since the process started, which mixes versions; these belong to one version.
//! A canary (`components/decide.rs`) compares its failures with the active version's.

use std::sync::atomic::{AtomicU64, Ordering};

/// One version's counters on this replica, bumped per call without a lock.
#[derive(Debug, Default)]
pub struct Stats {
    calls: AtomicU64,
    traps: AtomicU64,
    deadline_hits: AtomicU64,
    /// 5xx answers the component returned itself (a trap's 500 is the host's: a trap).
    server_errors: AtomicU64,
    memory_peak: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Requests handed to it, whatever came of them.
    pub calls: u64,
    /// Calls the guest trapped in.
    pub traps: u64,
    /// Calls cut at their deadline.
    pub deadline_hits: u64,
    /// 5xx answers the component returned itself (a trap's 500 counts as a trap).
    pub server_errors: u64,
    /// The largest linear memory one call of it reached, in bytes.
    pub memory_peak: u64,
}

impl StatsSnapshot {
    /// The calls that failed: traps, deadline hits and 5xx answers, each call counted once.
    pub fn failures(&self) -> u64 {
        self.traps + self.deadline_hits + self.server_errors
    }
}

impl Stats {
    pub(crate) fn call(&self, memory_peak: usize) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.memory_peak
            .fetch_max(memory_peak as u64, Ordering::Relaxed);
    }

    pub(crate) fn trap(&self) {
        self.traps.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn deadline_hit(&self) {
        self.deadline_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn server_error(&self) {
        self.server_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter (each one atomically, not all at one instant).
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            deadline_hits: self.deadline_hits.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            memory_peak: self.memory_peak.load(Ordering::Relaxed),
        }
    }
}
