//! Per-user traffic: polled from the core with reset, made durable in the journal before it
//! counts, summed per user name.

pub mod journal;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::credential::email_for;
use crate::grpc::{ApiError, CoreApi};
pub use journal::{Journal, JournalError, Totals};

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Bytes of one user: `up` is client→server (the node's incoming), `down` server→client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bytes {
    pub up: u64,
    pub down: u64,
}

impl Bytes {
    pub fn add(&mut self, other: Bytes) {
        self.up = self.up.saturating_add(other.up);
        self.down = self.down.saturating_add(other.down);
    }
}

struct Inner {
    journal: Journal,
    /// Durable totals per user name.
    totals: Totals,
    /// Polled but not yet durable (a failed journal write): retried with the next poll.
    pending: BTreeMap<String, Bytes>,
    /// email → name for every name ever seen, so late counters of removed users still land.
    names: HashMap<String, String>,
}

/// The traffic counters of the node. Cheap to clone.
#[derive(Clone)]
pub struct Traffic {
    inner: Arc<Mutex<Inner>>,
    /// Serialises polls, so deltas reach the journal in the order they were read.
    poll_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Traffic {
    /// Opens the journal in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<Traffic, JournalError> {
        let (journal, totals) = Journal::open(dir)?;
        let names = totals.keys().map(|n| (email_for(n), n.clone())).collect();
        Ok(Traffic {
            inner: Arc::new(Mutex::new(Inner {
                journal,
                totals,
                pending: BTreeMap::new(),
                names,
            })),
            poll_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Makes a user name known, so its counters are attributed to it.
    pub fn know(&self, names: impl IntoIterator<Item = impl AsRef<str>>) {
        let mut inner = self.lock();
        for name in names {
            let name = name.as_ref();
            inner
                .names
                .entry(email_for(name))
                .or_insert_with(|| name.to_owned());
        }
    }

    /// Durable totals per name (counters never read are simply absent: 0).
    pub fn totals(&self) -> Totals {
        self.lock().totals.clone()
    }

    /// Reads and resets the core's user counters, journals the deltas (fsync) and only then
    /// adds them to the totals. Returns the number of users whose counters moved.
    pub async fn poll(&self, api: &CoreApi) -> Result<usize, TrafficError> {
        let _one_at_a_time = self.poll_lock.lock().await;
        let stats = api.query_stats("user>>>", true).await?;
        self.record(stats).await
    }

    /// Journals counters read from the core and adds them to the totals.
    pub async fn record(
        &self,
        stats: Vec<crate::grpc::messages::Stat>,
    ) -> Result<usize, TrafficError> {
        let inner = self.inner.clone();
        let moved = tokio::task::spawn_blocking(move || {
            let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.absorb(&stats)
        })
        .await
        .map_err(|e| JournalError::Io(std::io::Error::other(e.to_string())))??;
        Ok(moved)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn absorb(&mut self, stats: &[crate::grpc::messages::Stat]) -> Result<usize, JournalError> {
        for stat in stats {
            // user>>>EMAIL>>>traffic>>>uplink|downlink
            let mut parts = stat.name.split(">>>");
            let (Some("user"), Some(email), Some("traffic"), Some(dir)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let value = u64::try_from(stat.value).unwrap_or(0);
            if value == 0 {
                continue;
            }
            let name = match self.names.get(email) {
                Some(n) => n.clone(),
                None => {
                    // Not one of ours (e.g. a user an operator put in by hand): keep it by email.
                    tracing::warn!(email, "traffic of an unknown email; kept under the email");
                    email.to_owned()
                }
            };
            let entry = self.pending.entry(name).or_default();
            match dir {
                "uplink" => entry.add(Bytes { up: value, down: 0 }),
                "downlink" => entry.add(Bytes { up: 0, down: value }),
                _ => {}
            }
        }
        if self.pending.is_empty() {
            return Ok(0);
        }
        self.journal.append(&self.pending)?;
        let moved = self.pending.len();
        for (name, bytes) in std::mem::take(&mut self.pending) {
            self.totals.entry(name).or_default().add(bytes);
        }
        self.journal.maybe_compact(&self.totals)?;
        Ok(moved)
    }
}
