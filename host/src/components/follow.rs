//! Every replica follows the active set: a look at its revision every 500 ms (one row), and a
//! load and swap when it moved. A database that does not answer is retried with a growing pause
//! and a warning each time, never a crash; a set that does not load keeps the old one serving
//! until the revision moves again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{store, sync, Error};
use crate::app::Core;

const EVERY: Duration = Duration::from_millis(500);
const MAX_PAUSE: Duration = Duration::from_secs(30);

pub fn spawn(core: Arc<Core>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut pause = Pause::default();
        // A revision whose set failed to load: not tried again until the revision moves.
        let mut refused: Option<i64> = None;
        loop {
            tick.tick().await;
            if pause.waiting() {
                continue;
            }
            let revision = match store::revision(&core.caps.db).await {
                Ok(revision) => revision,
                Err(e) => {
                    pause.failed("cannot read the active components' revision", &e);
                    continue;
                }
            };
            if revision == core.components.revision() || refused == Some(revision) {
                pause.cleared();
                continue;
            }
            match sync(&core, &[]).await {
                Ok(count) => {
                    pause.cleared();
                    tracing::info!(
                        revision,
                        components = count,
                        "active components changed; new set serving"
                    );
                }
                Err(Error::Database(e)) => {
                    pause.failed("cannot read the active components", &e);
                }
                Err(e) => {
                    refused = Some(revision);
                    tracing::error!(revision, error = %e,
                        "the active components changed but do not load here; the previous set keeps serving");
                }
            }
        }
    });
}

/// A growing pause after each failure in a row (1 s, 2 s, … 30 s).
#[derive(Default)]
struct Pause {
    failures: u32,
    until: Option<Instant>,
}

impl Pause {
    fn waiting(&self) -> bool {
        self.until.is_some_and(|t| Instant::now() < t)
    }

    fn failed(&mut self, what: &str, error: &dyn std::fmt::Display) {
        let pause = Duration::from_secs(1 << self.failures.min(5)).min(MAX_PAUSE);
        self.failures += 1;
        self.until = Some(Instant::now() + pause);
        tracing::warn!(error = %error, failures = self.failures,
            retry_in_ms = pause.as_millis() as u64, "{what}; the current set keeps serving");
    }

    fn cleared(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                "the active components' revision is readable again"
            );
        }
        self.failures = 0;
        self.until = None;
    }
}
