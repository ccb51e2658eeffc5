//! Test harness: the real agent binary in serve mode, a test node's inbounds and a real client
//! per protocol, the agent's journal as the tests read it, and a stand-in Core for pull mode
//! (`core.rs`). What the Core's tests share too (ports, v2ray clients, the file server, the
//! pull agent) lives in the `testkit` crate.
#![allow(dead_code)]

pub mod core;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
#[allow(unused_imports)] // each test file uses its part
pub use testkit::{
    eventually, file_server, free_port, pid_alive, terminate, v2ray, wait_listening, PullAgent,
    ServeAgent, V2rayClient, BLOB,
};

pub const KEY: &str = "test-node-access-key-0123456789";
/// Size of what each fetch uploads.
pub const UPLOAD: usize = 20_000;

/// The agent binary under test.
pub fn agent_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nexuma-node"))
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nexuma-node-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Ports of the three proxy inbounds of a test node.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub vless: u16,
    pub vmess: u16,
    pub trojan: u16,
}

impl Ports {
    pub fn new() -> Ports {
        Ports {
            vless: free_port(),
            vmess: free_port(),
            trojan: free_port(),
        }
    }

    pub fn inbounds(&self) -> Value {
        json!([
            { "tag": "vless-in", "listen": "127.0.0.1", "port": self.vless, "protocol": "vless",
              "settings": { "clients": [], "decryption": "none" } },
            { "tag": "vmess-in", "listen": "127.0.0.1", "port": self.vmess, "protocol": "vmess",
              "settings": { "clients": [] },
              "streamSettings": { "network": "ws", "wsSettings": { "path": "/ws" } } },
            { "tag": "trojan-in", "listen": "127.0.0.1", "port": self.trojan, "protocol": "trojan",
              "settings": { "clients": [] } }
        ])
    }
}

/// `nexuma-node serve` on `dir` (data in `dir/data`, inbounds in `dir/inbounds.json`) with
/// the test key.
pub fn serve_agent(dir: &Path, port: u16) -> ServeAgent {
    ServeAgent::start(agent_bin(), dir, port, KEY)
}

/// Durable traffic totals as the agent's journal files hold them: name → (up, down).
/// `prefix` is `traffic` (clients) or `outbound-traffic`.
pub fn journal_totals(data: &Path, prefix: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut totals = std::collections::BTreeMap::new();
    let mut generation = 0;
    if let Ok(bytes) = std::fs::read(data.join(format!("{prefix}.snapshot.json"))) {
        let snapshot: Value = serde_json::from_slice(&bytes).expect("snapshot json");
        generation = snapshot["generation"].as_u64().expect("generation");
        for (name, b) in snapshot["totals"].as_object().expect("totals") {
            totals.insert(
                name.clone(),
                (
                    b["up"].as_u64().unwrap_or(0),
                    b["down"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    let journal = std::fs::read_to_string(data.join(format!("{prefix}.{generation}.journal")))
        .unwrap_or_default();
    for line in journal.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let t = totals
            .entry(entry["name"].as_str().unwrap_or_default().to_owned())
            .or_insert((0, 0));
        t.0 += entry["up"].as_u64().unwrap_or(0);
        t.1 += entry["down"].as_u64().unwrap_or(0);
    }
    totals
}

pub fn write_inbounds(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("json")).expect("write inbounds");
}

/// An HTTPS client that trusts the agent's self-signed certificate.
pub fn https() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

pub fn users(list: &[(&str, &str)]) -> Value {
    json!({ "users": list.iter().map(|(n, k)| json!({"name": n, "key": k})).collect::<Vec<_>>() })
}

/// POSTs JSON with the access key; returns status and body text.
pub async fn post(
    client: &reqwest::Client,
    agent: &ServeAgent,
    path: &str,
    body: &Value,
) -> (u16, String) {
    let resp = client
        .post(agent.url(path))
        .header("x-node-auth-key", KEY)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub async fn status(client: &reqwest::Client, agent: &ServeAgent) -> Value {
    let resp = client
        .get(agent.url("/node/status"))
        .header("x-node-auth-key", KEY)
        .send()
        .await
        .expect("status request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("status json")
}

/// `GET /node/inbounds` with the access key.
pub async fn inbounds(client: &reqwest::Client, agent: &ServeAgent) -> Value {
    let resp = client
        .get(agent.url("/node/inbounds"))
        .header("x-node-auth-key", KEY)
        .send()
        .await
        .expect("inbounds request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("inbounds json")
}

impl Ports {
    /// What `GET /node/inbounds` answers for `Ports::inbounds()` on v2ray.
    pub fn exposed(&self) -> Value {
        json!({ "flavor": "v2ray", "inbounds": [
            { "tag": "vless-in", "protocol": "vless", "port": self.vless,
              "network": "tcp", "security": "none" },
            { "tag": "vmess-in", "protocol": "vmess", "port": self.vmess,
              "network": "ws", "security": "none", "path": "/ws" },
            { "tag": "trojan-in", "protocol": "trojan", "port": self.trojan,
              "network": "tcp", "security": "none" }
        ] })
    }
}

/// (incoming, outcoming) of a user in a status body; absent reads as (0, 0).
pub fn counters(status: &Value, name: &str) -> (u64, u64) {
    status["userstats"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == name))
        .map(|u| {
            (
                u["incoming"].as_u64().unwrap_or(0),
                u["outcoming"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or((0, 0))
}

/// Which inbound a client dials.
#[derive(Clone, Copy, Debug)]
pub enum Proto {
    Vless,
    Vmess,
    Trojan,
}

/// The UUID a VLESS/VMess client uses for a key: the key when it is a UUID, else its UUIDv5
/// in the nil namespace (computed here independently of the agent).
pub fn client_uuid(key: &str) -> String {
    match uuid::Uuid::try_parse(key) {
        Ok(u) if key.len() == 36 => u.to_string(),
        _ => uuid::Uuid::new_v5(&uuid::Uuid::nil(), key.as_bytes()).to_string(),
    }
}

/// A v2ray client process: SOCKS inbound on loopback → one outbound with the user's key.
pub fn client(dir: &Path, proto: Proto, ports: Ports, key: &str) -> V2rayClient {
    let outbound = match proto {
        Proto::Vless => json!({ "protocol": "vless", "settings": { "vnext": [{
            "address": "127.0.0.1", "port": ports.vless,
            "users": [{ "id": client_uuid(key), "encryption": "none" }] }] } }),
        Proto::Vmess => json!({ "protocol": "vmess", "settings": { "vnext": [{
            "address": "127.0.0.1", "port": ports.vmess,
            "users": [{ "id": client_uuid(key), "alterId": 0, "security": "auto" }] }] },
            "streamSettings": { "network": "ws", "wsSettings": { "path": "/ws" } } }),
        Proto::Trojan => json!({ "protocol": "trojan", "settings": { "servers": [{
            "address": "127.0.0.1", "port": ports.trojan, "password": key }] } }),
    };
    V2rayClient::start(dir, &outbound)
}
