//! What one loaded version of a component did on this replica since it was loaded: the
//! operator's "since activation" figures (`GET /admin/components`). The Prometheus metrics count
//! per name since the process started, which mixes versions; these belong to one version.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    calls: AtomicU64,
    traps: AtomicU64,
    deadline_hits: AtomicU64,
    memory_peak: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub traps: u64,
    pub deadline_hits: u64,
    pub memory_peak: u64,
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

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            deadline_hits: self.deadline_hits.load(Ordering::Relaxed),
            memory_peak: self.memory_peak.load(Ordering::Relaxed),
        }
    }
}
