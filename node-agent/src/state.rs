//! What the agent was asked to run, kept in the data dir so an agent restart resumes it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::proxy::config::write_atomic;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Whether `POST /node/start` is in force (no `POST /node/stop` since).
    pub running: bool,
    /// name → key of the node's users.
    pub users: BTreeMap<String, String>,
}

impl DesiredState {
    pub fn load(path: &Path) -> std::io::Result<DesiredState> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DesiredState::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)?;
        // It holds the users' keys.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
}
