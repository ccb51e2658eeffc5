//! The core's JSON config: the agent's API inbound, stats, policy and routing around the
//! operator's inbounds; checked with the core's own test mode before it is used.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

use super::{Flavor, Inbound};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot write core config {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot run the core's test mode: {0}")]
    Run(std::io::Error),
    #[error("the core rejected the config: {0}")]
    Rejected(String),
}

/// A complete core config, as the bytes written to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig(pub Vec<u8>);

impl CoreConfig {
    /// Builds the config: the API behind a loopback dokodemo-door inbound with its routing rule
    /// (the form both Xray and v2ray 4 accept), per-user stats at level 0, then the inbounds.
    pub fn build(inbounds: &[Inbound], api_port: u16) -> CoreConfig {
        let mut all = vec![json!({
            "tag": "api",
            "listen": "127.0.0.1",
            "port": api_port,
            "protocol": "dokodemo-door",
            "settings": { "address": "127.0.0.1" }
        })];
        all.extend(inbounds.iter().map(|i| i.raw.clone()));
        let config = json!({
            "log": { "loglevel": "warning" },
            "api": { "tag": "api", "services": ["HandlerService", "StatsService"] },
            "stats": {},
            "policy": {
                "levels": { "0": { "statsUserUplink": true, "statsUserDownlink": true } },
                "system": {
                    "statsInboundUplink": true, "statsInboundDownlink": true,
                    "statsOutboundUplink": true, "statsOutboundDownlink": true
                }
            },
            "inbounds": all,
            "outbounds": [
                { "protocol": "freedom", "tag": "direct" },
                { "protocol": "blackhole", "tag": "block" }
            ],
            "routing": {
                "rules": [ { "type": "field", "inboundTag": ["api"], "outboundTag": "api" } ]
            }
        });
        let mut bytes = serde_json::to_vec_pretty(&config).unwrap_or_default();
        bytes.push(b'\n');
        CoreConfig(bytes)
    }

    /// Writes the config durably: a temporary file, fsync, rename.
    pub fn write(&self, path: &Path) -> Result<(), ConfigError> {
        write_atomic(path, &self.0).map_err(|source| ConfigError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// Asks the core whether it accepts this config (written to `path` first).
    pub async fn validate(
        &self,
        bin: &Path,
        flavor: Flavor,
        path: &Path,
    ) -> Result<(), ConfigError> {
        self.write(path)?;
        let run = Command::new(bin)
            .args(flavor.test_args(path))
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .map_err(|_| ConfigError::Run(std::io::Error::other("test mode timed out")))?
            .map_err(ConfigError::Run)?;
        if out.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        let detail: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("A unified platform"))
            .collect();
        Err(ConfigError::Rejected(detail.join(" | ")))
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable only once the folder is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
