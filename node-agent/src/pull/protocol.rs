//! The wire shapes of the Core's `/node/*` API (docs/node-protocol.md, version 1). Answers are
//! read leniently: fields a newer Core adds are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::node::{Assignment, Clients, Desired};
use crate::proxy::config::ConfigError;
use crate::proxy::{inbound, Capabilities, Layout};

/// The protocol version this agent speaks.
pub const PROTOCOL: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Register<'a> {
    pub protocol: u32,
    pub code: &'a str,
    pub hostname: &'a str,
    pub agent_version: &'a str,
    pub core_version: &'a str,
    pub core_flavor: &'a str,
    /// What the core runs (added within version 1; older agents send none).
    pub capabilities: Capabilities,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    pub node_id: String,
    pub key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat<'a> {
    pub protocol: u32,
    pub status: &'a str,
    pub agent_version: &'a str,
    pub core_version: &'a str,
    pub core_flavor: &'a str,
    pub capabilities: Capabilities,
    pub applied_revision: Option<u64>,
    pub load: Load,
    pub clients: usize,
    pub done_ops: Vec<String>,
}

#[derive(Serialize)]
pub struct Load {
    pub cpu: u32,
    pub memory: u32,
}

#[derive(Deserialize)]
pub struct HeartbeatReply {
    /// The node's latest config revision (absent while the Core has none for it).
    #[serde(default)]
    pub revision: Option<u64>,
    #[serde(default)]
    pub ops: Vec<Op>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Op {
    pub id: String,
    pub kind: String,
}

/// `GET /node/config/latest`: kept on disk as it came, so an agent restart applies it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigDoc {
    pub revision: u64,
    #[serde(default)]
    pub inbounds: Vec<Value>,
    /// Every client once, with the tags of the inbounds it goes into.
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    #[serde(default)]
    pub outbounds: Vec<Value>,
    #[serde(default)]
    pub routing: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientEntry {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub inbounds: Vec<String>,
}

impl ConfigDoc {
    /// The node's desired state, or why the document cannot be one.
    pub fn desired(&self) -> Result<Desired, ConfigError> {
        let inbounds = inbound::parse(&Value::Array(self.inbounds.clone()).to_string())
            .map_err(|e| ConfigError::Shape(e.to_string()))?;
        let layout = Layout::new(inbounds, self.outbounds.clone(), self.routing.clone())?;
        let mut clients = Clients::default();
        let mut seen = std::collections::BTreeSet::new();
        for client in &self.clients {
            if client.name.is_empty() || client.key.is_empty() {
                return Err(ConfigError::Shape(
                    "a client has an empty name or key".to_string(),
                ));
            }
            if !seen.insert(client.name.as_str()) {
                return Err(ConfigError::Shape(format!(
                    "client `{}` appears twice",
                    client.name
                )));
            }
            for tag in &client.inbounds {
                let Some(inbound) = layout.inbounds.iter().find(|i| &i.tag == tag) else {
                    return Err(ConfigError::Shape(format!(
                        "client `{}` names inbound `{tag}`, which the config does not have",
                        client.name
                    )));
                };
                clients.insert(tag, &client.name, &key_for(inbound, &client.key));
            }
        }
        Ok(Desired {
            layout,
            assignment: Assignment::PerInbound(clients),
        })
    }

    /// Clients in the config.
    pub fn client_entries(&self) -> usize {
        self.clients.len()
    }
}

/// The credential a client's `key` becomes in `inbound`: the key itself, except on a
/// Shadowsocks 2022 inbound, where it is the user PSK the protocol doc defines: standard base64
/// of the first n bytes of SHA-256(key), n being the server PSK's length.
fn key_for(inbound: &crate::proxy::Inbound, key: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    if !inbound.method.starts_with("2022-") {
        return key.to_string();
    }
    let server_len = inbound.raw["settings"]["password"]
        .as_str()
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .map(|b| b.len())
        .unwrap_or(16)
        .min(32);
    let digest = sha2::Sha256::digest(key.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..server_len])
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied<'a> {
    pub revision: u64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport<'a> {
    pub report_id: &'a str,
    pub collected_at: u64,
    pub clients: Vec<UsageItem<'a>>,
}

#[derive(Serialize)]
pub struct UsageItem<'a> {
    pub name: &'a str,
    pub up: u64,
    pub down: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundUsageReport<'a> {
    pub report_id: &'a str,
    pub collected_at: u64,
    pub outbounds: Vec<OutboundItem<'a>>,
}

#[derive(Serialize)]
pub struct OutboundItem<'a> {
    pub tag: &'a str,
    pub up: u64,
    pub down: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageAck {
    pub report_id: String,
    #[serde(default)]
    pub duplicate: bool,
}

#[derive(Serialize)]
pub struct SessionEvents<'a> {
    pub events: &'a [SessionEvent],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    pub name: String,
    /// `online` or `offline`.
    pub kind: &'static str,
    pub at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// `core-exited`, `config-rejected`, `apply-failed` or `usage-failed`.
    pub kind: &'static str,
    pub message: String,
    pub at: u64,
}

/// The Core's error body: `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> ConfigDoc {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_documented_example_reads() {
        let d = doc(json!({
            "revision": 14,
            "inbounds": [{ "tag": "vless-tcp", "listen": "0.0.0.0", "port": 443, "protocol": "vless",
                "settings": { "clients": [], "decryption": "none", "flow": "xtls-rprx-vision" } }],
            "clients": [{ "name": "6a1d", "key": "0b4e9a6c-0000-4000-8000-000000000000",
                          "inbounds": ["vless-tcp"] }],
            "outbounds": [{ "protocol": "freedom", "tag": "direct" }],
            "routing": { "domainStrategy": "AsIs", "rules": [], "balancers": [] },
            "somethingNew": true
        }));
        let desired = d.desired().unwrap();
        assert_eq!(desired.layout.inbounds[0].flow, "xtls-rprx-vision");
        let Assignment::PerInbound(clients) = desired.assignment else {
            panic!("per inbound");
        };
        assert_eq!(
            clients.0["vless-tcp"]["6a1d"],
            "0b4e9a6c-0000-4000-8000-000000000000"
        );
        assert_eq!(d.client_entries(), 1);
    }

    #[test]
    fn malformed_documents_are_refused() {
        let twice = doc(json!({ "revision": 1, "clients": [
            { "name": "x", "key": "1" }, { "name": "x", "key": "2" } ] }));
        assert!(twice.desired().is_err());
        let empty = doc(json!({ "revision": 1, "clients": [{ "name": "", "key": "1" }] }));
        assert!(empty.desired().is_err());
        let unknown = doc(json!({ "revision": 1, "clients": [
            { "name": "x", "key": "1", "inbounds": ["nowhere"] } ] }));
        assert!(unknown.desired().is_err());
        let api =
            doc(json!({ "revision": 1, "inbounds": [{ "tag": "api", "protocol": "vless" }] }));
        assert!(api.desired().is_err());
        let rules = doc(json!({ "revision": 1, "routing": { "rules": "no" } }));
        assert!(rules.desired().is_err());
    }
}

#[cfg(test)]
mod ss2022 {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_psks_follow_the_protocol_doc() {
        let inbounds = crate::proxy::inbound::parse(
            &json!([{ "tag": "ss", "port": 8388, "protocol": "shadowsocks",
                      "settings": { "method": "2022-blake3-aes-128-gcm",
                                    "password": "AAAAAAAAAAAAAAAAAAAAAA==", "clients": [] } },
                    { "tag": "t", "port": 8443, "protocol": "trojan", "settings": { "clients": [] } }])
            .to_string(),
        )
        .unwrap();
        // base64(SHA-256("k")[..16]); SHA-256("k") starts 8254c329a92850f6d539dd376f4816ee.
        assert_eq!(key_for(&inbounds[0], "k"), "glTDKakoUPbVOd03b0gW7g==");
        assert_eq!(key_for(&inbounds[1], "k"), "k");
    }
}
