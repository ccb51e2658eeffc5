//! `pull.json`: who this node is to the Core — its id, its key and the Core's URL — kept with
//! mode 0600 and written atomically, so a registration is never half-remembered.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::proxy::config::write_private;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub node_id: String,
    pub key: String,
    pub core_url: String,
}

/// Never prints the key.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .field("core_url", &self.core_url)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The stored identity, or `None` when the node has not registered.
    pub fn load(path: &Path) -> std::io::Result<Option<Identity>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_private(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("nexuma-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pull.json");
        assert!(Identity::load(&path).unwrap().is_none());
        let id = Identity {
            node_id: "n1".into(),
            key: "secret-key".into(),
            core_url: "http://core".into(),
        };
        id.save(&path).unwrap();
        assert_eq!(Identity::load(&path).unwrap(), Some(id.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!format!("{id:?}").contains("secret-key"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
