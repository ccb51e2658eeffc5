//! The job scheduler: runs the background jobs components declare (`jobs` export), each tick in
//! a fresh instance (`run-job`). A lock in the key-value store makes each tick run on one Core
//! replica only; a tick still running is not started again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::Core;
use crate::metrics;
use crate::runtime::{CallError, LoadedComponent};

/// How often the scheduler looks for due jobs.
const RESOLUTION: Duration = Duration::from_millis(50);

/// Starts the scheduler. It follows the loaded set, so a reload adds and drops jobs.
pub fn spawn(core: Arc<Core>) {
    let replica = uuid::Uuid::new_v4().to_string();
    tokio::spawn(async move {
        let mut last_start: HashMap<String, Instant> = HashMap::new();
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut tick = tokio::time::interval(RESOLUTION);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let set = core.registry.current();
            for component in &set.components {
                for job in &component.jobs {
                    let key = format!("{}:{}", component.name, job.name);
                    let interval = Duration::from_millis(job.interval_ms);
                    if last_start.get(&key).is_some_and(|t| t.elapsed() < interval) {
                        continue;
                    }
                    if !lock(&running).insert(key.clone()) {
                        continue; // the previous tick is still running
                    }
                    last_start.insert(key.clone(), Instant::now());
                    let run = Run {
                        core: Arc::clone(&core),
                        component: Arc::clone(component),
                        job: job.name.clone(),
                        interval,
                        replica: replica.clone(),
                    };
                    let running = Arc::clone(&running);
                    tokio::spawn(async move {
                        run.once().await;
                        lock(&running).remove(&key);
                    });
                }
            }
        }
    });
}

/// The key-value key whose holder runs a job's current tick. Whoever holds it (another replica,
/// or a benchmark that must time a pass alone) keeps this replica's ticks of that job from
/// running.
pub fn lock_key(kv_prefix: &str, component: &str, job: &str) -> String {
    format!("{kv_prefix}host:job-lock:{component}:{job}")
}

fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

struct Run {
    core: Arc<Core>,
    component: Arc<LoadedComponent>,
    job: String,
    interval: Duration,
    replica: String,
}

impl Run {
    async fn once(self) {
        let component = &*self.component.name;
        let job = self.job.as_str();
        // The lock lives for one interval: whichever replica takes it runs this tick.
        let lock_key = lock_key(self.core.caps.kv.prefix(), component, job);
        match self
            .core
            .caps
            .kv
            .set_nx(&lock_key, &self.replica, self.interval)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                // Without the lock another replica might run it too: skip rather than double-run.
                tracing::warn!(component, job, error = %e, "job lock unavailable; tick skipped");
                metrics::job_run(component, job, "skipped");
                return;
            }
        }
        let run_id = format!("job-{}", uuid::Uuid::new_v4());
        let started = Instant::now();
        let outcome = self
            .component
            .run_job(&self.core.caps, run_id.as_str().into(), job)
            .await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let label = match &outcome {
            Ok(Ok(())) => {
                tracing::debug!(component, job, run_id, latency_ms, "job tick done");
                "ok"
            }
            Ok(Err(message)) => {
                tracing::warn!(component, job, run_id, latency_ms, error = %message, "job tick failed");
                "error"
            }
            Err(CallError::Deadline(_)) => {
                tracing::warn!(
                    component,
                    job,
                    run_id,
                    latency_ms,
                    "job tick cut at its deadline"
                );
                "deadline"
            }
            Err(e) => {
                tracing::error!(component, job, run_id, latency_ms, error = %e, "job tick trapped");
                "trap"
            }
        };
        metrics::job_run(component, job, label);
    }
}
