//! The usage spool: what the Core has acknowledged, and the one report on its way. A report
//! is written to disk (id and contents) before it is sent, sent again with the same id until
//! the Core answers 200, and only then acknowledged — the acknowledged totals advance by exactly
//! its contents and the pending report is cleared, in one atomic write. With durable traffic
//! totals underneath, a crash or an outage at any step neither loses nor double-counts: the
//! Core takes a report id once and answers a repeat as a duplicate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::proxy::config::write_atomic;
use crate::traffic::{Bytes, Totals};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("usage spool {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("usage spool {path} is corrupt: {source}")]
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
}

/// A report on its way to the Core.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    /// Unix milliseconds when the report was made.
    pub collected_at: u64,
    /// Bytes per name (client name or outbound tag) since the previous acknowledged report.
    pub items: BTreeMap<String, Bytes>,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Stored {
    /// Totals the Core has acknowledged, per name.
    acked: Totals,
    pending: Option<Report>,
}

/// One spool file (`usage.json`, `outbound-usage.json`).
pub struct Spool {
    path: PathBuf,
    stored: Stored,
}

impl Spool {
    /// Opens the spool at `path`. A new spool takes `start()` as acknowledged, so totals
    /// counted before pull mode began (push mode in the same data dir) are never reported.
    pub fn open(path: &Path, start: impl FnOnce() -> Totals) -> Result<Spool, SpoolError> {
        let stored = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SpoolError::Corrupt {
                path: path.display().to_string(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let stored = Stored {
                    acked: start(),
                    pending: None,
                };
                save(path, &stored)?;
                stored
            }
            Err(source) => {
                return Err(SpoolError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Spool {
            path: path.to_owned(),
            stored,
        })
    }

    pub fn pending(&self) -> Option<&Report> {
        self.stored.pending.as_ref()
    }

    /// The report to send: the pending one as it is, or else a new one with what `totals` has
    /// beyond the acknowledged (at most `max` names), on disk before it is returned. `None`
    /// when nothing is new.
    pub fn next(
        &mut self,
        totals: &Totals,
        now_ms: u64,
        max: usize,
    ) -> Result<Option<Report>, SpoolError> {
        if let Some(pending) = &self.stored.pending {
            return Ok(Some(pending.clone()));
        }
        let items: BTreeMap<String, Bytes> = totals
            .iter()
            .filter_map(|(name, total)| {
                let acked = self.stored.acked.get(name).copied().unwrap_or_default();
                let new = total.beyond(acked);
                (!new.is_zero()).then(|| (name.clone(), new))
            })
            .take(max)
            .collect();
        if items.is_empty() {
            return Ok(None);
        }
        let report = Report {
            id: uuid::Uuid::new_v4().to_string(),
            collected_at: now_ms,
            items,
        };
        let next = Stored {
            acked: self.stored.acked.clone(),
            pending: Some(report.clone()),
        };
        save(&self.path, &next)?;
        self.stored = next;
        Ok(Some(report))
    }

    /// The Core has taken report `id`: its contents count as acknowledged (one atomic write).
    /// Returns false, changing nothing, when `id` is not the pending report.
    pub fn ack(&mut self, id: &str) -> Result<bool, SpoolError> {
        let Some(pending) = self.stored.pending.as_ref().filter(|p| p.id == id) else {
            return Ok(false);
        };
        let mut acked = self.stored.acked.clone();
        for (name, bytes) in &pending.items {
            acked.entry(name.clone()).or_default().add(*bytes);
        }
        let next = Stored {
            acked,
            pending: None,
        };
        // Disk first: if the write fails, the report stays pending and is sent again (the Core
        // answers it as a duplicate).
        save(&self.path, &next)?;
        self.stored = next;
        Ok(true)
    }
}

fn save(path: &Path, stored: &Stored) -> Result<(), SpoolError> {
    let io = |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = serde_json::to_vec(stored).map_err(|e| io(e.into()))?;
    write_atomic(path, &bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nexuma-spool-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn totals(entries: &[(&str, u64, u64)]) -> Totals {
        entries
            .iter()
            .map(|(n, up, down)| {
                (
                    n.to_string(),
                    Bytes {
                        up: *up,
                        down: *down,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_report_is_on_disk_before_it_is_sent_and_kept_until_acknowledged() {
        let dir = dir("pending");
        let path = dir.join("usage.json");
        // Counted before pull mode: never reported.
        let mut spool = Spool::open(&path, || totals(&[("old", 5, 5)])).unwrap();
        assert_eq!(spool.next(&totals(&[("old", 5, 5)]), 1, 100).unwrap(), None);

        let t1 = totals(&[("old", 5, 5), ("a", 10, 100)]);
        let report = spool.next(&t1, 1000, 100).unwrap().unwrap();
        assert_eq!(report.items, totals(&[("a", 10, 100)]));
        assert_eq!(report.collected_at, 1000);

        // Crash after the report was written (sent or not): the same report comes back.
        drop(spool);
        let mut spool = Spool::open(&path, Totals::new).unwrap();
        assert_eq!(spool.pending(), Some(&report));
        // More traffic meanwhile does not change the pending report (same id, same contents).
        let t2 = totals(&[("old", 5, 5), ("a", 30, 300), ("b", 1, 0)]);
        assert_eq!(spool.next(&t2, 2000, 100).unwrap(), Some(report.clone()));

        // Acknowledged: the next report holds exactly what came after it.
        assert!(!spool.ack("some-other-id").unwrap());
        assert!(spool.ack(&report.id).unwrap());
        assert!(!spool.ack(&report.id).unwrap(), "acknowledged once");
        drop(spool);
        let mut spool = Spool::open(&path, Totals::new).unwrap();
        assert_eq!(spool.pending(), None);
        let second = spool.next(&t2, 3000, 100).unwrap().unwrap();
        assert_ne!(second.id, report.id);
        assert_eq!(second.items, totals(&[("a", 20, 200), ("b", 1, 0)]));
        assert!(spool.ack(&second.id).unwrap());
        assert_eq!(spool.next(&t2, 4000, 100).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn everything_reported_adds_up_to_the_totals_exactly() {
        let dir = dir("sum");
        let path = dir.join("usage.json");
        let mut spool = Spool::open(&path, Totals::new).unwrap();
        let mut core_side: Totals = Totals::new();
        let mut seen_ids = std::collections::BTreeSet::new();
        let mut t = Totals::new();
        for round in 0u64..20 {
            t.entry(format!("c{}", round % 3)).or_default().add(Bytes {
                up: round,
                down: round * 2 + 1,
            });
            let Some(report) = spool.next(&t, round, 2).unwrap() else {
                continue;
            };
            // Every other round the answer is lost: the report is sent again.
            if round % 2 == 0 {
                drop(spool);
                spool = Spool::open(&path, Totals::new).unwrap();
                assert_eq!(spool.next(&t, round, 2).unwrap().as_ref(), Some(&report));
            }
            if seen_ids.insert(report.id.clone()) {
                for (name, b) in &report.items {
                    core_side.entry(name.clone()).or_default().add(*b);
                }
            }
            assert!(spool.ack(&report.id).unwrap());
        }
        while let Some(report) = spool.next(&t, 99, 2).unwrap() {
            for (name, b) in &report.items {
                core_side.entry(name.clone()).or_default().add(*b);
            }
            spool.ack(&report.id).unwrap();
        }
        assert_eq!(core_side, t);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reports_hold_at_most_max_names() {
        let dir = dir("max");
        let path = dir.join("usage.json");
        let mut spool = Spool::open(&path, Totals::new).unwrap();
        let t: Totals = (0..25)
            .map(|i| (format!("c{i:02}"), Bytes { up: 1, down: 1 }))
            .collect();
        let mut sizes = Vec::new();
        while let Some(report) = spool.next(&t, 0, 10).unwrap() {
            sizes.push(report.items.len());
            spool.ack(&report.id).unwrap();
        }
        assert_eq!(sizes, [10, 10, 5]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn totals_below_the_acknowledged_report_nothing() {
        let dir = dir("below");
        let path = dir.join("usage.json");
        let mut spool = Spool::open(&path, || totals(&[("a", 50, 50)])).unwrap();
        assert_eq!(
            spool
                .next(&totals(&[("a", 10, 60)]), 0, 10)
                .unwrap()
                .unwrap()
                .items,
            totals(&[("a", 0, 10)])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_spool_is_an_error_not_a_fresh_start() {
        let dir = dir("corrupt");
        let path = dir.join("usage.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            Spool::open(&path, Totals::new),
            Err(SpoolError::Corrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
