//! The traffic journal: append-only JSON lines of per-name deltas, fsynced per poll, plus a
//! snapshot that compaction writes. Files in the data dir, by prefix (`traffic` for users,
//! `outbound-traffic` for outbounds): `PREFIX.snapshot.json` =
//! `{"generation": G, "totals": {...}}` and `PREFIX.G.journal`.
//! Compaction starts generation G+1 before the snapshot naming it is renamed into place, so a
//! crash at any step neither loses nor double-counts a delta.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Bytes;
use crate::proxy::config::write_atomic;

/// Totals per name (user name, or outbound tag).
pub type Totals = BTreeMap<String, Bytes>;

/// Journal size that triggers compaction into the snapshot.
const COMPACT_AT_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("traffic journal I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("traffic snapshot is corrupt: {0}")]
    Snapshot(serde_json::Error),
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    generation: u64,
    totals: Totals,
}

#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    up: u64,
    down: u64,
}

pub struct Journal {
    dir: PathBuf,
    prefix: &'static str,
    generation: u64,
    file: File,
    len: u64,
}

impl Journal {
    /// Opens (or creates) the journal and returns it with the totals it holds.
    pub fn open(dir: &Path, prefix: &'static str) -> Result<(Journal, Totals), JournalError> {
        std::fs::create_dir_all(dir)?;
        let snapshot_path = snapshot_path(dir, prefix);
        let (generation, mut totals) = match std::fs::read(&snapshot_path) {
            Ok(bytes) => {
                let s: Snapshot = serde_json::from_slice(&bytes).map_err(JournalError::Snapshot)?;
                (s.generation, s.totals)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, Totals::new()),
            Err(e) => return Err(e.into()),
        };
        let path = journal_path(dir, prefix, generation);
        let mut good_len = 0u64;
        if let Ok(file) = File::open(&path) {
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line)?;
                // A line without its newline is a write torn by a crash: it never counted.
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                match serde_json::from_str::<Entry>(line.trim_end()) {
                    Ok(e) => totals.entry(e.name.into_owned()).or_default().add(Bytes {
                        up: e.up,
                        down: e.down,
                    }),
                    Err(err) => {
                        tracing::warn!(error = %err, "traffic journal: unreadable line ignored");
                    }
                }
                good_len += n as u64;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if file.metadata()?.len() != good_len {
            file.set_len(good_len)?;
        }
        remove_stale(dir, prefix, generation);
        tracing::info!(
            names = totals.len(),
            generation,
            prefix,
            "traffic journal replayed"
        );
        Ok((
            Journal {
                dir: dir.to_owned(),
                prefix,
                generation,
                file,
                len: good_len,
            },
            totals,
        ))
    }

    /// Appends one poll's deltas in a single write and syncs it to disk.
    pub fn append(&mut self, deltas: &BTreeMap<String, Bytes>) -> Result<(), JournalError> {
        let mut buf = Vec::with_capacity(deltas.len() * 48);
        for (name, b) in deltas {
            let entry = Entry {
                name: name.as_str().into(),
                up: b.up,
                down: b.down,
            };
            serde_json::to_writer(&mut buf, &entry).map_err(|e| JournalError::Io(e.into()))?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Folds the journal into a new snapshot once it has grown large.
    pub fn maybe_compact(&mut self, totals: &Totals) -> Result<(), JournalError> {
        if self.len < COMPACT_AT_BYTES {
            return Ok(());
        }
        let next = self.generation + 1;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(journal_path(&self.dir, self.prefix, next))?;
        file.sync_all()?;
        let snapshot = Snapshot {
            generation: next,
            totals: totals.clone(),
        };
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| JournalError::Io(e.into()))?;
        write_atomic(&snapshot_path(&self.dir, self.prefix), &bytes)?;
        let old = journal_path(&self.dir, self.prefix, self.generation);
        let _ = std::fs::remove_file(old);
        self.generation = next;
        self.file =
            OpenOptions::new()
                .append(true)
                .open(journal_path(&self.dir, self.prefix, next))?;
        self.len = 0;
        tracing::info!(
            generation = next,
            prefix = self.prefix,
            "traffic journal compacted"
        );
        Ok(())
    }
}

fn journal_path(dir: &Path, prefix: &str, generation: u64) -> PathBuf {
    dir.join(format!("{prefix}.{generation}.journal"))
}

fn snapshot_path(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}.snapshot.json"))
}

/// Journals of other generations are leftovers of an interrupted compaction.
fn remove_stale(dir: &Path, prefix: &str, generation: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let keep = format!("{prefix}.{generation}.journal");
    let start = format!("{prefix}.");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&start) && name.ends_with(".journal") && name != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deltas(pairs: &[(&str, u64, u64)]) -> BTreeMap<String, Bytes> {
        pairs
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
    fn replays_and_ignores_torn_tail() {
        let dir = std::env::temp_dir().join(format!("nexuma-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut j, totals) = Journal::open(&dir, "traffic").unwrap();
        assert!(totals.is_empty());
        j.append(&deltas(&[("a", 1, 2), ("b", 3, 4)])).unwrap();
        j.append(&deltas(&[("a", 10, 20)])).unwrap();
        drop(j);
        let path = journal_path(&dir, "traffic", 0);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"name\":\"a\",\"up\":99").unwrap();
        drop(f);
        let (mut j, totals) = Journal::open(&dir, "traffic").unwrap();
        assert_eq!(totals["a"], Bytes { up: 11, down: 22 });
        assert_eq!(totals["b"], Bytes { up: 3, down: 4 });
        // Compaction keeps the totals and starts an empty journal.
        j.len = COMPACT_AT_BYTES;
        j.maybe_compact(&totals).unwrap();
        j.append(&deltas(&[("b", 1, 1)])).unwrap();
        drop(j);
        // Another prefix in the same folder is a journal of its own.
        let (_, other) = Journal::open(&dir, "outbound-traffic").unwrap();
        assert!(other.is_empty());
        let (_, totals) = Journal::open(&dir, "traffic").unwrap();
        assert_eq!(totals["a"], Bytes { up: 11, down: 22 });
        assert_eq!(totals["b"], Bytes { up: 4, down: 5 });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
