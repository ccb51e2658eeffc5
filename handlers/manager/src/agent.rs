//! The node agents' Node API over HTTPS (`x-node-auth-key`, optional certificate pin).
//!
//! Every call names a short timeout: a request (or a watchdog tick) waits for agents, and an
//! unreachable one must not use up the host's deadline.

use nexuma_sdk::{http, log};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `GET /node/status` and `GET /node/inbounds`.
pub const READ_TIMEOUT_MS: u32 = 3_000;
/// `POST /node/start`, `/users/add`, `/users/del`, `/node/stop`.
pub const WRITE_TIMEOUT_MS: u32 = 4_000;

/// How the manager reaches one agent.
#[derive(Debug, Clone)]
pub struct Agent<'a> {
    pub url: &'a str,
    pub key: &'a str,
    pub pin: Option<&'a str>,
}

/// A user as the agents know it: `name` is the user id, `key` the link UUID.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AgentUser {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Deserialize)]
pub struct Status {
    pub status: String,
    #[serde(default)]
    pub cpuload: i64,
    #[serde(default)]
    pub memoryload: i64,
    #[serde(default)]
    pub userstats: Vec<UserStat>,
}

#[derive(Debug, Deserialize)]
pub struct UserStat {
    pub name: String,
    #[serde(default)]
    pub incoming: i64,
    #[serde(default)]
    pub outcoming: i64,
}

impl Agent<'_> {
    fn request(&self, method: &str, path: &str, timeout_ms: u32) -> http::Request {
        http::Request::new(method, &format!("{}{path}", self.url))
            .header("x-node-auth-key", self.key)
            .pin_opt(self.pin)
            .timeout_ms(timeout_ms)
    }

    /// Sends, logs the exchange (never the key) and answers the body of a 2xx, or a message.
    fn call(&self, req: http::Request, method: &str, path: &str) -> Result<Vec<u8>, String> {
        let outcome = req.try_send();
        match outcome {
            Ok(resp) if resp.is_success() => {
                log::debug(
                    "agent call",
                    &[
                        ("agent", self.url),
                        ("method", method),
                        ("path", path),
                        ("status", &resp.status.to_string()),
                    ],
                );
                Ok(resp.body)
            }
            Ok(resp) => {
                let detail = String::from_utf8_lossy(&resp.body);
                let detail: String = detail.chars().take(200).collect();
                let message = format!("{method} {path} answered {}: {detail}", resp.status);
                log::warn(
                    "agent call refused",
                    &[
                        ("agent", self.url),
                        ("method", method),
                        ("path", path),
                        ("status", &resp.status.to_string()),
                    ],
                );
                Err(message)
            }
            Err(err) => {
                let message = err.to_string();
                log::warn(
                    "agent unreachable",
                    &[
                        ("agent", self.url),
                        ("method", method),
                        ("path", path),
                        ("error", &message),
                    ],
                );
                Err(message)
            }
        }
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        self.call(self.request("GET", path, READ_TIMEOUT_MS), "GET", path)
    }

    fn post(&self, path: &str, body: &Value) -> Result<(), String> {
        let req = self.request("POST", path, WRITE_TIMEOUT_MS).json(body);
        self.call(req, "POST", path).map(|_| ())
    }

    /// `GET /node/inbounds`: the client-facing inbound descriptions (the `inbounds` array).
    pub fn inbounds(&self) -> Result<Vec<Value>, String> {
        let body = self.get("/node/inbounds")?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("GET /node/inbounds answered malformed JSON: {e}"))?;
        match value.get("inbounds") {
            Some(Value::Array(list)) => Ok(list.clone()),
            _ => Err("GET /node/inbounds answered no `inbounds` list".into()),
        }
    }

    pub fn status(&self) -> Result<Status, String> {
        let body = self.get("/node/status")?;
        serde_json::from_slice(&body)
            .map_err(|e| format!("GET /node/status answered malformed JSON: {e}"))
    }

    /// `POST /node/start`: starts the core with exactly these users.
    pub fn start(&self, users: &[AgentUser]) -> Result<(), String> {
        self.post("/node/start", &json!({ "users": users }))
    }

    pub fn stop(&self) -> Result<(), String> {
        self.post("/node/stop", &json!({}))
    }

    pub fn add_users(&self, users: &[AgentUser]) -> Result<(), String> {
        self.post("/users/add", &json!({ "users": users }))
    }

    pub fn del_users(&self, users: &[AgentUser]) -> Result<(), String> {
        self.post("/users/del", &json!({ "users": users }))
    }
}
