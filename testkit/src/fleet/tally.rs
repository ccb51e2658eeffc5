//! What a fleet of simulated agents did and saw, counted as it happens: the figures the bench
//! reports and the checks a test makes ("nothing lost", "no 5xx").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nexuma_node::pull::control::ControlError;

/// Counters shared by every agent of a fleet.
#[derive(Default)]
pub struct Tally {
    registered: AtomicU64,
    heartbeats: AtomicU64,
    configs: AtomicU64,
    unchanged: AtomicU64,
    confirmed: AtomicU64,
    rejected: AtomicU64,
    usage_reports: AtomicU64,
    outbound_reports: AtomicU64,
    duplicates: AtomicU64,
    server_errors: AtomicU64,
    other_errors: AtomicU64,
    first_server_error: Mutex<Option<String>>,
    first_other_error: Mutex<Option<String>>,
    /// Heartbeat round trips (send to answer read), in the order they ended.
    heartbeat_latencies: Mutex<Vec<Duration>>,
}

/// The counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Agents that registered (201 with a key).
    pub registered: u64,
    /// Heartbeats the Core answered 200.
    pub heartbeats: u64,
    /// `GET /node/config/latest` answered 200 with a config.
    pub configs: u64,
    /// `GET /node/config/latest` answered 304.
    pub unchanged: u64,
    /// `POST /node/config/applied` taken (ok or not).
    pub confirmed: u64,
    /// Configs the agent's own check refused (the Core built something an agent cannot run).
    pub rejected: u64,
    /// Client usage reports the Core acknowledged (each report id once).
    pub usage_reports: u64,
    /// Outbound usage reports the Core acknowledged (each report id once).
    pub outbound_reports: u64,
    /// Acknowledgements that said `duplicate: true` (a report sent again after a lost answer).
    pub duplicates: u64,
    /// Answers with a 5xx status.
    pub server_errors: u64,
    /// Other failures: transport errors, 4xx, answers that do not parse.
    pub other_errors: u64,
    pub first_server_error: Option<String>,
    pub first_other_error: Option<String>,
}

impl Tally {
    pub(super) fn registered(&self) {
        self.registered.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn heartbeat(&self, took: Duration) {
        self.heartbeats.fetch_add(1, Ordering::Relaxed);
        lock(&self.heartbeat_latencies).push(took);
    }

    pub(super) fn config(&self) {
        self.configs.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn unchanged(&self) {
        self.unchanged.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn confirmed(&self) {
        self.confirmed.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn usage_report(&self, duplicate: bool) {
        self.usage_reports.fetch_add(1, Ordering::Relaxed);
        self.duplicate(duplicate);
    }

    pub(super) fn outbound_report(&self, duplicate: bool) {
        self.outbound_reports.fetch_add(1, Ordering::Relaxed);
        self.duplicate(duplicate);
    }

    fn duplicate(&self, duplicate: bool) {
        if duplicate {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A failed call: `what` names the route, for the first error's text.
    pub(super) fn failed(&self, what: &str, error: &ControlError) {
        let text = format!("{what}: {error}");
        let (count, first) = match error {
            ControlError::Refused { status, .. } if *status >= 500 => {
                (&self.server_errors, &self.first_server_error)
            }
            _ => (&self.other_errors, &self.first_other_error),
        };
        count.fetch_add(1, Ordering::Relaxed);
        lock(first).get_or_insert(text);
    }

    pub fn totals(&self) -> Totals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Totals {
            registered: get(&self.registered),
            heartbeats: get(&self.heartbeats),
            configs: get(&self.configs),
            unchanged: get(&self.unchanged),
            confirmed: get(&self.confirmed),
            rejected: get(&self.rejected),
            usage_reports: get(&self.usage_reports),
            outbound_reports: get(&self.outbound_reports),
            duplicates: get(&self.duplicates),
            server_errors: get(&self.server_errors),
            other_errors: get(&self.other_errors),
            first_server_error: lock(&self.first_server_error).clone(),
            first_other_error: lock(&self.first_other_error).clone(),
        }
    }

    /// The heartbeat round trips recorded since the last call (so a bench can leave out its
    /// warm-up).
    pub fn take_heartbeat_latencies(&self) -> Vec<Duration> {
        std::mem::take(&mut *lock(&self.heartbeat_latencies))
    }
}

/// A poisoned lock still holds plain counters worth reading.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
