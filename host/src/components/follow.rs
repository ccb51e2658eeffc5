//! Every replica follows the active set, two ways that share one load-and-swap:
//!
//! - announcements (`announce.rs`): a revision newer than the served one, heard on the
//!   key-value store's channel, is loaded and swapped in at once;
//! - a look at the database's revision every `EVERY` (one row), which catches up what no
//!   announcement brought: Redis restarted, a message published before this replica subscribed.
//!
//! A database that does not answer is retried with a growing pause and a warning each time,
//! never a crash; a set that does not load keeps the old one serving until the revision moves
//! again. Swaps go one at a time under the components' lock (`set::sync_moved`), so an older set
//! never replaces a newer one, and a change both ways notice is swapped once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::set::sync_moved;
use super::{announce, store, Error};
use crate::app::Core;
use crate::iface::kv::{Received, Subscription};

/// The catch-up look at the database. Announcements bring a change at once, so this only
/// bounds how late a replica is when one was lost; every 2 s keeps that short while reading
/// the row a quarter as often as the 500 ms it took when the timer was the only way.
const EVERY: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Listens for announcements from now on: called before the first load, so a change committed
/// while this replica starts is heard, or found by the look that follows each subscription.
pub fn subscribe(core: &Core) -> Subscription {
    core.caps.kv.subscribe(&announce::channel(core))
}

/// Starts following: the announcements of `subscription` and the timer.
pub fn spawn(core: Arc<Core>, subscription: Subscription) {
    let follower = Arc::new(Follower {
        core,
        refused: Mutex::new(None),
    });
    tokio::spawn(Arc::clone(&follower).listen(subscription));
    tokio::spawn(follower.poll());
}

/// Why a follower swapped, for the log.
#[derive(Clone, Copy)]
enum Cause {
    Announcement,
    /// The subscription was (re)established or fell behind; the database was asked.
    Missed,
    Timer,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::Announcement => "announcement",
            Cause::Missed => "missed-announcements",
            Cause::Timer => "timer",
        }
    }
}

struct Follower {
    core: Arc<Core>,
    /// A revision whose set failed to load: not tried again until the revision moves.
    refused: Mutex<Option<i64>>,
}

impl Follower {
    /// The one load-and-swap both ways share, for a change to revision `seen` (as announced or
    /// as the database showed it). Err only when the database could not be read.
    async fn follow(&self, seen: i64, cause: Cause) -> Result<(), sqlx::Error> {
        if self.refused() == Some(seen) {
            return Ok(());
        }
        match sync_moved(&self.core).await {
            Ok(Some((revision, count))) => {
                tracing::info!(
                    revision,
                    components = count,
                    cause = cause.as_str(),
                    "active components changed; new set serving"
                );
            }
            // Swapped already, by the other way or by this replica's own change.
            Ok(None) => {}
            Err(Error::Database(e)) => return Err(e),
            Err(e) => {
                *self.refused_slot() = Some(seen);
                tracing::error!(revision = seen, error = %e, cause = cause.as_str(),
                    "the active components changed but do not load here; the previous set keeps serving");
            }
        }
        Ok(())
    }

    fn refused(&self) -> Option<i64> {
        *self.refused_slot()
    }

    fn refused_slot(&self) -> std::sync::MutexGuard<'_, Option<i64>> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Announcements: each revision newer than the served one is swapped in as it is heard.
    async fn listen(self: Arc<Self>, mut subscription: Subscription) {
        while let Some(received) = subscription.next().await {
            let outcome = match received {
                Received::Message(message) => self.announced(&message).await,
                Received::Missed => self.look(Cause::Missed).await,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e,
                    "cannot read the active components after an announcement; the timer tries again");
            }
        }
        tracing::warn!(
            "the announcements' subscription ended; changes are followed by the timer alone"
        );
    }

    async fn announced(&self, message: &str) -> Result<(), sqlx::Error> {
        let Some(revision) = announce::revision(message) else {
            tracing::warn!(message, "an announcement that names no revision; ignored");
            return Ok(());
        };
        if revision <= self.core.components.revision() {
            return Ok(());
        }
        self.follow(revision, Cause::Announcement).await
    }

    /// Reads the database's revision and follows it when it is not the served one.
    async fn look(&self, cause: Cause) -> Result<(), sqlx::Error> {
        let revision = store::revision(&self.core.caps.db).await?;
        if revision == self.core.components.revision() {
            return Ok(());
        }
        self.follow(revision, cause).await
    }

    /// The timer: a look every `EVERY`, with a growing pause while the database is down.
    async fn poll(self: Arc<Self>) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut pause = Pause::default();
        loop {
            tick.tick().await;
            if pause.waiting() {
                continue;
            }
            match self.look(Cause::Timer).await {
                Ok(()) => pause.cleared(),
                Err(e) => pause.failed("cannot read the active components", &e),
            }
        }
    }
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
