//! The core's JSON config: the agent's API inbound, stats, policy and API routing rule around a
//! layout (the operator's or the Core's inbounds, outbounds and routing); checked with the
//! core's own test mode before it is used.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};
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
    #[error("config: {0}")]
    Shape(String),
    /// Asks for what the core lacks (it would refuse it, or silently run without it).
    #[error("the core cannot run this config: {0}")]
    Unsupported(#[from] super::capabilities::Unsupported),
}

/// The parts of a core config that come from outside the agent — inbounds, outbounds and
/// routing. Changing any of them needs a core restart; clients change live.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub inbounds: Vec<Inbound>,
    pub outbounds: Vec<Value>,
    /// The routing object; the agent puts its API rule first in `rules`.
    pub routing: Map<String, Value>,
}

impl Layout {
    /// Checks outbounds and routing: objects where the core wants objects, and no `api` tag,
    /// which belongs to the agent's own API.
    pub fn new(
        inbounds: Vec<Inbound>,
        outbounds: Vec<Value>,
        routing: Map<String, Value>,
    ) -> Result<Layout, ConfigError> {
        for (i, outbound) in outbounds.iter().enumerate() {
            let Some(obj) = outbound.as_object() else {
                return Err(ConfigError::Shape(format!(
                    "outbound #{i} is not an object"
                )));
            };
            if obj.get("tag").and_then(Value::as_str) == Some("api") {
                return Err(ConfigError::Shape(
                    "the outbound tag `api` belongs to the agent's own API".into(),
                ));
            }
        }
        match routing.get("rules") {
            None | Some(Value::Array(_)) => {}
            Some(_) => return Err(ConfigError::Shape("`routing.rules` is not an array".into())),
        }
        Ok(Layout {
            inbounds,
            outbounds,
            routing,
        })
    }

    /// Push mode's layout: the operator's inbounds, traffic out through `direct` (first, so
    /// the default), `block` available, no rules but the agent's.
    pub fn with_default_routes(inbounds: Vec<Inbound>) -> Layout {
        Layout {
            inbounds,
            outbounds: vec![
                json!({ "protocol": "freedom", "tag": "direct" }),
                json!({ "protocol": "blackhole", "tag": "block" }),
            ],
            routing: Map::new(),
        }
    }
}

/// A complete core config, as the bytes written to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreConfig(pub Vec<u8>);

impl CoreConfig {
    /// Builds the config: the API behind a loopback dokodemo-door inbound with its routing rule
    /// first (the form both Xray and v2ray 4 accept), per-user and per-outbound stats, then the
    /// layout's inbounds, outbounds and routing.
    pub fn build(layout: &Layout, api_port: u16) -> CoreConfig {
        let mut all = vec![json!({
            "tag": "api",
            "listen": "127.0.0.1",
            "port": api_port,
            "protocol": "dokodemo-door",
            "settings": { "address": "127.0.0.1" }
        })];
        all.extend(layout.inbounds.iter().map(|i| i.raw.clone()));
        let mut rules =
            vec![json!({ "type": "field", "inboundTag": ["api"], "outboundTag": "api" })];
        if let Some(Value::Array(theirs)) = layout.routing.get("rules") {
            rules.extend(theirs.iter().cloned());
        }
        let mut routing = layout.routing.clone();
        routing.insert("rules".into(), Value::Array(rules));
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
            "outbounds": layout.outbounds,
            "routing": routing
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
    write_atomic_mode(path, bytes, 0o644)
}

/// As [`write_atomic`], for a file with secrets: readable by the agent's user only, from the
/// moment the temporary file exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, 0o600)
}

fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = path.with_extension("tmp");
    // A leftover of a crash keeps its old mode when opened, so it goes first.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config_json(layout: &Layout) -> Value {
        serde_json::from_slice(&CoreConfig::build(layout, 1234).0).unwrap()
    }

    #[test]
    fn api_rule_goes_first_and_the_rest_passes_through() {
        let inbounds = crate::proxy::inbound::parse(
            r#"[{"tag":"v","protocol":"vless","port":1,"settings":{"clients":[]}}]"#,
        )
        .unwrap();
        let routing = json!({ "domainStrategy": "AsIs", "balancers": [],
            "rules": [{ "type": "field", "port": "25", "outboundTag": "block" }] });
        let layout = Layout::new(
            inbounds,
            vec![json!({ "protocol": "freedom", "tag": "out" })],
            routing.as_object().unwrap().clone(),
        )
        .unwrap();
        let config = config_json(&layout);
        assert_eq!(config["inbounds"][0]["tag"], "api");
        assert_eq!(config["inbounds"][1]["tag"], "v");
        assert_eq!(
            config["outbounds"],
            json!([{ "protocol": "freedom", "tag": "out" }])
        );
        assert_eq!(config["routing"]["domainStrategy"], "AsIs");
        assert_eq!(config["routing"]["rules"][0]["inboundTag"], json!(["api"]));
        assert_eq!(config["routing"]["rules"][1]["port"], "25");
        assert_eq!(config["routing"]["rules"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn default_routes_are_direct_then_block() {
        let config = config_json(&Layout::with_default_routes(Vec::new()));
        assert_eq!(config["outbounds"][0]["tag"], "direct");
        assert_eq!(config["outbounds"][1]["tag"], "block");
        assert_eq!(
            config["routing"],
            json!({ "rules": [{ "type": "field", "inboundTag": ["api"], "outboundTag": "api" }] })
        );
    }

    #[test]
    fn layouts_refuse_the_api_tag_and_bad_rules() {
        let api = vec![json!({ "protocol": "freedom", "tag": "api" })];
        assert!(Layout::new(Vec::new(), api, Map::new()).is_err());
        assert!(Layout::new(Vec::new(), vec![json!(1)], Map::new()).is_err());
        let rules = json!({ "rules": {} }).as_object().unwrap().clone();
        assert!(Layout::new(Vec::new(), Vec::new(), rules).is_err());
    }
}
