//! What push mode was asked to run (`state.json`), kept in the data dir so an agent restart
//! resumes it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::proxy::config::write_private;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PushState {
    /// Whether `POST /node/start` is in force (no `POST /node/stop` since).
    pub running: bool,
    /// name → key of the node's users.
    pub users: BTreeMap<String, String>,
}

impl PushState {
    pub fn load(path: &Path) -> std::io::Result<PushState> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PushState::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        // It holds the users' keys.
        write_private(path, &bytes)
    }
}
