//! `pull-state.json`: the config the core runs, as the Core sent it (with its revision and
//! clients), and the ops already carried out — so an agent restart applies it again at once,
//! without waiting for the Core, and never carries out an op twice. Mode 0600: it holds the
//! clients' keys.

use std::collections::VecDeque;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::protocol::ConfigDoc;
use crate::proxy::config::write_private;

/// Done op ids remembered (the Core stops sending an op once it saw it in `doneOps`).
const MAX_DONE_OPS: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullState {
    /// The last config applied without error.
    #[serde(default)]
    pub config: Option<ConfigDoc>,
    /// Ids of ops carried out, oldest first.
    #[serde(default)]
    pub done_ops: VecDeque<String>,
}

impl PullState {
    pub fn load(path: &Path) -> std::io::Result<PullState> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PullState::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_private(path, &bytes)
    }

    pub fn is_done(&self, op: &str) -> bool {
        self.done_ops.iter().any(|id| id == op)
    }

    pub fn mark_done(&mut self, op: &str) {
        if self.is_done(op) {
            return;
        }
        self.done_ops.push_back(op.to_owned());
        while self.done_ops.len() > MAX_DONE_OPS {
            self.done_ops.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_ops_are_bounded_and_remembered() {
        let mut s = PullState::default();
        for i in 0..300 {
            s.mark_done(&format!("op{i}"));
        }
        s.mark_done("op299");
        assert_eq!(s.done_ops.len(), MAX_DONE_OPS);
        assert!(s.is_done("op299"));
        assert!(!s.is_done("op0"));
        let dir = std::env::temp_dir().join(format!("nexuma-pullstate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pull-state.json");
        s.save(&path).unwrap();
        assert_eq!(PullState::load(&path).unwrap(), s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
