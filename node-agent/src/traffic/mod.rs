//! Traffic counters polled from the core with reset, made durable in a journal before they
//! count, summed per name: per user (by user name) and, apart from them, per outbound (by tag).

pub mod journal;

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
/// For an outbound: `up` is what left through it, `down` what came back.
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

    /// What `self` has beyond `other` (never below zero).
    pub fn beyond(self, other: Bytes) -> Bytes {
        Bytes {
            up: self.up.saturating_sub(other.up),
            down: self.down.saturating_sub(other.down),
        }
    }

    pub fn is_zero(self) -> bool {
        self.up == 0 && self.down == 0
    }
}

/// Which of the core's counters a [`Traffic`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counters {
    /// `user>>>EMAIL>>>traffic>>>uplink|downlink`, kept by user name.
    Users,
    /// `outbound>>>TAG>>>traffic>>>uplink|downlink`, kept by tag.
    Outbounds,
}

impl Counters {
    /// The first part of the counter names (also the QueryStats pattern, with `>>>`).
    fn kind(self) -> &'static str {
        match self {
            Counters::Users => "user",
            Counters::Outbounds => "outbound",
        }
    }

    /// The journal's file prefix: kept apart, so user totals never show an outbound.
    fn file_prefix(self) -> &'static str {
        match self {
            Counters::Users => "traffic",
            Counters::Outbounds => "outbound-traffic",
        }
    }
}

struct Inner {
    counters: Counters,
    journal: Journal,
    /// Durable totals per name.
    totals: Totals,
    /// Polled but not yet durable (a failed journal write): retried with the next poll.
    pending: BTreeMap<String, Bytes>,
    /// email → name for every user name ever seen, so late counters of removed users still land.
    names: HashMap<String, String>,
    /// Names whose counters moved since [`Traffic::take_moved`] last ran.
    moved: BTreeSet<String>,
}

/// The traffic counters of the node. Cheap to clone.
#[derive(Clone)]
pub struct Traffic {
    inner: Arc<Mutex<Inner>>,
    /// Serialises polls, so deltas reach the journal in the order they were read.
    poll_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Traffic {
    /// Opens the user journal in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<Traffic, JournalError> {
        Traffic::open_counting(dir, Counters::Users)
    }

    /// Opens the journal of `counters` in `dir` and replays it.
    pub fn open_counting(dir: &Path, counters: Counters) -> Result<Traffic, JournalError> {
        let (journal, totals) = Journal::open(dir, counters.file_prefix())?;
        let names = match counters {
            Counters::Users => totals.keys().map(|n| (email_for(n), n.clone())).collect(),
            Counters::Outbounds => HashMap::new(),
        };
        Ok(Traffic {
            inner: Arc::new(Mutex::new(Inner {
                counters,
                journal,
                totals,
                pending: BTreeMap::new(),
                names,
                moved: BTreeSet::new(),
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

    /// The names whose counters moved since the last call.
    pub fn take_moved(&self) -> BTreeSet<String> {
        std::mem::take(&mut self.lock().moved)
    }

    /// Reads and resets the core's counters, journals the deltas (fsync) and only then adds
    /// them to the totals. Returns the number of names whose counters moved.
    pub async fn poll(&self, api: &CoreApi) -> Result<usize, TrafficError> {
        let _one_at_a_time = self.poll_lock.lock().await;
        let pattern = format!("{}>>>", self.lock().counters.kind());
        let stats = api.query_stats(&pattern, true).await?;
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
        let kind = self.counters.kind();
        for stat in stats {
            // KIND>>>ID>>>traffic>>>uplink|downlink
            let mut parts = stat.name.split(">>>");
            let (Some(k), Some(id), Some("traffic"), Some(dir)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let value = u64::try_from(stat.value).unwrap_or(0);
            if k != kind || value == 0 {
                continue;
            }
            let name = match self.counters {
                // The agent's own API is not traffic anyone sent.
                Counters::Outbounds if id == "api" => continue,
                Counters::Outbounds => id.to_owned(),
                Counters::Users => match self.names.get(id) {
                    Some(n) => n.clone(),
                    None => {
                        // Not one of ours (e.g. a user put in by hand): kept by email.
                        tracing::warn!(
                            email = id,
                            "traffic of an unknown email; kept under the email"
                        );
                        id.to_owned()
                    }
                },
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
            self.moved.insert(name.clone());
            self.totals.entry(name).or_default().add(bytes);
        }
        self.journal.maybe_compact(&self.totals)?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::messages::Stat;

    fn stat(name: &str, value: i64) -> Stat {
        Stat {
            name: name.into(),
            value,
        }
    }

    #[tokio::test]
    async fn users_and_outbounds_are_kept_apart() {
        let dir = std::env::temp_dir().join(format!("nexuma-traffic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let users = Traffic::open(&dir).unwrap();
        let outbounds = Traffic::open_counting(&dir, Counters::Outbounds).unwrap();
        users.know(["alice"]);
        let email = email_for("alice");
        let stats = vec![
            stat(&format!("user>>>{email}>>>traffic>>>uplink"), 10),
            stat(&format!("user>>>{email}>>>traffic>>>downlink"), 20),
            stat("outbound>>>direct>>>traffic>>>uplink", 5),
            stat("outbound>>>api>>>traffic>>>uplink", 7),
        ];
        users.record(stats.clone()).await.unwrap();
        outbounds.record(stats).await.unwrap();
        assert_eq!(
            users.totals().into_iter().collect::<Vec<_>>(),
            vec![("alice".to_string(), Bytes { up: 10, down: 20 })]
        );
        assert_eq!(
            outbounds.totals().into_iter().collect::<Vec<_>>(),
            vec![("direct".to_string(), Bytes { up: 5, down: 0 })]
        );
        assert_eq!(
            users.take_moved().into_iter().collect::<Vec<_>>(),
            ["alice"]
        );
        assert!(users.take_moved().is_empty());
        drop((users, outbounds));
        // Durable, each in its own journal.
        let users = Traffic::open(&dir).unwrap();
        let outbounds = Traffic::open_counting(&dir, Counters::Outbounds).unwrap();
        assert_eq!(users.totals()["alice"], Bytes { up: 10, down: 20 });
        assert!(!users.totals().contains_key("direct"));
        assert_eq!(outbounds.totals()["direct"], Bytes { up: 5, down: 0 });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
