//! The machine's CPU and memory load, sampled in the background (CPU load needs two samples
//! apart in time, so a request cannot measure it on the spot).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sysinfo::System;

/// Latest load figures in percent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Load {
    pub cpu: f32,
    pub memory: f32,
}

/// Shared, periodically refreshed load figures.
#[derive(Clone, Default)]
pub struct LoadSampler {
    latest: Arc<Mutex<Load>>,
}

impl LoadSampler {
    /// Starts sampling every `every`.
    pub fn start(every: Duration) -> LoadSampler {
        let sampler = LoadSampler::default();
        let latest = sampler.latest.clone();
        // A plain thread: a blocking-pool task would hold up runtime shutdown.
        std::thread::spawn(move || {
            let mut sys = System::new();
            loop {
                sys.refresh_cpu_usage();
                sys.refresh_memory();
                let total = sys.total_memory();
                let memory = if total == 0 {
                    0.0
                } else {
                    sys.used_memory() as f32 * 100.0 / total as f32
                };
                let load = Load {
                    cpu: sys.global_cpu_usage(),
                    memory,
                };
                *latest.lock().unwrap_or_else(|p| p.into_inner()) = load;
                std::thread::sleep(every);
                if Arc::strong_count(&latest) == 1 {
                    return;
                }
            }
        });
        sampler
    }

    pub fn latest(&self) -> Load {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }
}
