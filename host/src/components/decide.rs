//! Every replica judges the running canaries, once a second while any runs: it adds what its
//! own canary and active versions did since its last tick (calls, and failures: traps,
//! deadline hits, 5xx answers) to counters in the shared key-value store, reads the sums back,
//! and ends the canary when they say so — rolled back once the canary has `MIN_CALLS` calls and
//! a failure rate above the active version's by more than the margin, promoted at the window's
//! end. The end is conditional (`canary::conclude`), so replicas deciding at once end it once.
//!
//! The counters are named by the name, both hashes and the canary's start, so a new canary
//! starts at zero; they expire an hour after the window. With the store down a replica judges
//! by its own counts alone (a warning says so) rather than not at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::canary::{self, End, Ended};
use crate::app::Core;
use crate::iface::clock::now_ms;
use crate::iface::kv::StoreError;
use crate::registry::Canary;

const TICK: Duration = Duration::from_secs(1);
/// Fewer canary calls decide nothing: at 5 calls one unlucky failure is 20 % and would roll
/// back a sound version; 20 still catches a version that fails on every request within a
/// second or two of traffic.
pub const MIN_CALLS: u64 = 20;
/// How long the shared counters outlive the window, for the list to show after the end.
const KEEP_AFTER: Duration = Duration::from_secs(3600);
const FIELDS: [&str; 4] = [
    "canary-calls",
    "canary-failures",
    "active-calls",
    "active-failures",
];

/// Calls and failures of a canary and of the active version beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub canary_calls: u64,
    pub canary_failures: u64,
    pub active_calls: u64,
    pub active_failures: u64,
}

impl Counts {
    fn from_array([cc, cf, ac, af]: [u64; 4]) -> Self {
        Counts {
            canary_calls: cc,
            canary_failures: cf,
            active_calls: ac,
            active_failures: af,
        }
    }

    fn to_array(self) -> [u64; 4] {
        [
            self.canary_calls,
            self.canary_failures,
            self.active_calls,
            self.active_failures,
        ]
    }

    /// What happened since `last`; a counter that went back (its version was loaded again)
    /// counts from zero.
    fn since(self, last: Counts) -> Counts {
        let (now, before) = (self.to_array(), last.to_array());
        Counts::from_array(std::array::from_fn(|i| {
            if now[i] >= before[i] {
                now[i] - before[i]
            } else {
                now[i]
            }
        }))
    }

    fn plus(self, other: Counts) -> Counts {
        let (a, b) = (self.to_array(), other.to_array());
        Counts::from_array(std::array::from_fn(|i| a[i] + b[i]))
    }

    fn rates(&self) -> (f64, f64) {
        (
            rate(self.canary_failures, self.canary_calls),
            rate(self.active_failures, self.active_calls),
        )
    }

    pub fn to_json(self) -> Json {
        json!({
            "canary": { "calls": self.canary_calls, "failures": self.canary_failures },
            "active": { "calls": self.active_calls, "failures": self.active_failures },
        })
    }
}

fn rate(failures: u64, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        failures as f64 / calls as f64
    }
}

/// What the counts say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wait,
    Rollback,
    /// The window is over and the canary did not fail past the margin.
    Promote,
}

pub fn judge(counts: &Counts, margin: f64, window_over: bool) -> Verdict {
    let (canary, active) = counts.rates();
    if counts.canary_calls >= MIN_CALLS && canary - active > margin {
        Verdict::Rollback
    } else if window_over {
        Verdict::Promote
    } else {
        Verdict::Wait
    }
}

/// The audit log's and the log line's reason, with the figures.
pub fn reason(counts: &Counts, margin: f64) -> String {
    let (canary, active) = counts.rates();
    format!(
        "canary {}/{} failures ({:.1}%) vs active {}/{} ({:.1}%), margin {}%",
        counts.canary_failures,
        counts.canary_calls,
        canary * 100.0,
        counts.active_failures,
        counts.active_calls,
        active * 100.0,
        (margin * 1000.0).round() / 10.0,
    )
}

/// The shared counters' keys.
fn keys(core: &Core, name: &str, active: &str, canary: &str, started_at: i64) -> Vec<String> {
    let prefix = core.caps.kv.prefix();
    FIELDS
        .iter()
        .map(|f| format!("{prefix}canary:{name}:{active}:{canary}:{started_at}:{f}"))
        .collect()
}

/// The counts across replicas so far.
pub async fn shared(
    core: &Core,
    name: &str,
    active: &str,
    canary: &str,
    started_at: i64,
) -> Result<Counts, StoreError> {
    let values = core
        .caps
        .kv
        .get_many(&keys(core, name, active, canary, started_at))
        .await?;
    let number = |i: usize| {
        values
            .get(i)
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Counts::from_array(std::array::from_fn(number)))
}

/// Adds `delta` to the shared counters; the sums.
async fn add(core: &Core, canary: &Canary, delta: Counts) -> Result<Counts, StoreError> {
    let left = u64::try_from(canary.until - now_ms()).unwrap_or(0);
    let ttl = Duration::from_millis(left) + KEEP_AFTER;
    let keys = keys(
        core,
        &canary.active.name,
        &canary.active.sha256,
        &canary.component.sha256,
        canary.started_at,
    );
    let by = delta.to_array();
    let mut sums = [0u64; 4];
    for (i, key) in keys.iter().enumerate() {
        let by = i64::try_from(by[i]).unwrap_or(i64::MAX);
        let sum = core.caps.kv.incr(key, by, Some(ttl)).await?;
        sums[i] = u64::try_from(sum).unwrap_or(0);
    }
    Ok(Counts::from_array(sums))
}

/// Starts this replica's judge.
pub fn spawn(core: Arc<Core>) {
    tokio::spawn(run(core));
}

/// One canary as this replica watches it: (name, canary hash, start).
type Key = (Arc<str>, String, i64);

fn key_of(canary: &Canary) -> Key {
    (
        Arc::clone(&canary.active.name),
        canary.component.sha256.clone(),
        canary.started_at,
    )
}

struct Watch {
    /// The versions' own figures at the last tick.
    last: Counts,
    /// This replica's counts since it started watching: what it judges by when the
    /// key-value store is down.
    own: Counts,
    store_down: bool,
}

impl Watch {
    /// The canary's version was loaded for the canary, so all it did counts; the active
    /// version served before, so it counts from now.
    fn new(canary: &Canary) -> Self {
        let active = canary.active.stats.snapshot();
        let last = Counts {
            active_calls: active.calls,
            active_failures: active.failures(),
            ..Counts::default()
        };
        Watch {
            last,
            own: Counts::default(),
            store_down: false,
        }
    }
}

fn local(canary: &Canary) -> Counts {
    let c = canary.component.stats.snapshot();
    let a = canary.active.stats.snapshot();
    Counts {
        canary_calls: c.calls,
        canary_failures: c.failures(),
        active_calls: a.calls,
        active_failures: a.failures(),
    }
}

async fn run(core: Arc<Core>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut watched: HashMap<Key, Watch> = HashMap::new();
    loop {
        tick.tick().await;
        let set = core.registry.current();
        watched.retain(|key, _| set.canaries.iter().any(|c| key_of(c) == *key));
        for canary in &set.canaries {
            let watch = watched
                .entry(key_of(canary))
                .or_insert_with(|| Watch::new(canary));
            judge_one(&core, canary, watch).await;
        }
    }
}

async fn judge_one(core: &Core, canary: &Canary, watch: &mut Watch) {
    let now = local(canary);
    let delta = now.since(watch.last);
    watch.last = now;
    watch.own = watch.own.plus(delta);
    let counts = match add(core, canary, delta).await {
        Ok(sums) => {
            if watch.store_down {
                tracing::info!(component = %canary.active.name,
                    "the canary's shared counters answer again");
            }
            watch.store_down = false;
            sums
        }
        Err(e) => {
            if !watch.store_down {
                tracing::warn!(component = %canary.active.name, error = %e,
                    "cannot reach the canary's shared counters; this replica judges by its own counts");
            }
            watch.store_down = true;
            watch.own
        }
    };
    let verdict = judge(&counts, canary.margin, now_ms() >= canary.until);
    if verdict != Verdict::Wait {
        end(core, canary, &counts, verdict, !watch.store_down).await;
    }
}

/// Ends the canary as `verdict` says, once across replicas, with one log line.
async fn end(core: &Core, canary: &Canary, counts: &Counts, verdict: Verdict, shared: bool) {
    let (how, serving) = match verdict {
        Verdict::Rollback => (End::Rollback, &canary.active),
        _ => (End::Promote, &canary.component),
    };
    let reason = match how {
        End::Rollback => reason(counts, canary.margin),
        End::Promote => format!("window ended: {}", reason(counts, canary.margin)),
    };
    let ended = Ended {
        name: &canary.active.name,
        active: &canary.active.sha256,
        canary: &canary.component.sha256,
        started_at: canary.started_at,
        percent: i64::from(canary.percent),
        how,
        actor: None,
        ip: None,
        reason,
    };
    let decision = match how {
        End::Rollback => "rollback",
        End::Promote => "promote",
    };
    let result = canary::conclude(core, &ended, serving).await;
    let (canary_calls, canary_failures) = (counts.canary_calls, counts.canary_failures);
    let (active_calls, active_failures) = (counts.active_calls, counts.active_failures);
    match result {
        Ok(Some(revision)) if how == End::Rollback => tracing::warn!(component = %ended.name,
            canary = %ended.canary, active = %ended.active, decision, reason = %ended.reason,
            canary_calls, canary_failures, active_calls, active_failures,
            margin = canary.margin, shared, revision, "canary ended by this replica"),
        Ok(Some(revision)) => tracing::info!(component = %ended.name, canary = %ended.canary,
            active = %ended.active, decision, reason = %ended.reason, canary_calls,
            canary_failures, active_calls, active_failures, margin = canary.margin, shared,
            revision, "canary ended by this replica"),
        // Another replica (or an operator) ended it a moment before: its line tells.
        Ok(None) => tracing::info!(component = %ended.name, canary = %ended.canary, decision,
            "canary ended already"),
        Err(e) => tracing::warn!(component = %ended.name, canary = %ended.canary, decision,
            error = %e, "cannot end the canary; the next tick tries again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(cc: u64, cf: u64, ac: u64, af: u64) -> Counts {
        Counts::from_array([cc, cf, ac, af])
    }

    #[test]
    fn a_canary_failing_past_the_margin_is_rolled_back() {
        assert_eq!(
            judge(&counts(20, 5, 180, 0), 0.05, false),
            Verdict::Rollback
        );
        // Within the margin, or too few calls to tell: wait, then promote at the end.
        assert_eq!(judge(&counts(100, 5, 100, 1), 0.05, false), Verdict::Wait);
        assert_eq!(judge(&counts(19, 19, 100, 0), 0.05, false), Verdict::Wait);
        assert_eq!(judge(&counts(19, 19, 100, 0), 0.05, true), Verdict::Promote);
        assert_eq!(judge(&counts(0, 0, 0, 0), 0.05, true), Verdict::Promote);
        // Failing as often as the active version is no reason.
        assert_eq!(judge(&counts(50, 25, 50, 25), 0.0, false), Verdict::Wait);
        assert_eq!(judge(&counts(50, 25, 50, 25), 0.0, true), Verdict::Promote);
    }

    #[test]
    fn the_reason_shows_the_figures() {
        assert_eq!(
            reason(&counts(20, 5, 180, 0), 0.05),
            "canary 5/20 failures (25.0%) vs active 0/180 (0.0%), margin 5%"
        );
        assert_eq!(
            reason(&counts(3, 1, 0, 0), 0.125),
            "canary 1/3 failures (33.3%) vs active 0/0 (0.0%), margin 12.5%"
        );
    }

    #[test]
    fn deltas_survive_a_counter_that_went_back() {
        let d = counts(10, 2, 50, 1).since(counts(4, 1, 60, 0));
        assert_eq!(d, counts(6, 1, 50, 1));
        assert_eq!(d.plus(counts(1, 1, 1, 1)), counts(7, 2, 51, 2));
    }
}
