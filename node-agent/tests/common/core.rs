//! A stand-in Core for agent-level tests: a small real HTTP server that speaks the node
//! protocol (docs/node-protocol.md) and records everything an agent sends. It can go away
//! (every connection dropped unanswered) and come back, and it can take a usage report and
//! then lose its answer, to test exactly-once delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

pub const NODE_ID: &str = "node-7f3a";

/// What the stand-in Core knows and saw.
#[derive(Default)]
pub struct CoreState {
    /// Registration codes not used yet.
    pub codes: BTreeSet<String>,
    /// The node's working keys (registering again revokes the older ones).
    pub keys: BTreeSet<String>,
    pub registrations: Vec<Value>,
    pub heartbeats: Vec<Value>,
    /// The latest config document (with its `revision`).
    pub config: Option<Value>,
    /// A revision the heartbeat answers instead of the config's (to provoke a 304).
    pub heartbeat_revision: Option<u64>,
    /// Pending ops `(id, kind)`; removed when a heartbeat reports them done.
    pub ops: Vec<(String, String)>,
    /// Ops answered once more after they were reported done (a Core racing itself).
    pub sticky_ops: Vec<(String, String)>,
    /// Every id seen in `doneOps`, in order.
    pub done_ops: Vec<String>,
    /// `If-None-Match` of every config fetch.
    pub fetches: Vec<Option<String>>,
    pub not_modified: u32,
    pub applied: Vec<Value>,
    /// Report ids taken, per route.
    pub usage_ids: BTreeSet<String>,
    pub outbound_usage_ids: BTreeSet<String>,
    /// Bytes taken per client name / outbound tag: (up, down).
    pub usage: BTreeMap<String, (u64, u64)>,
    pub outbound_usage: BTreeMap<String, (u64, u64)>,
    pub usage_posts: u32,
    pub duplicates: u32,
    pub largest_report: usize,
    pub events: Vec<Value>,
    pub errors: Vec<Value>,
    /// While set, every request is dropped without an answer.
    pub down: bool,
    pub dropped_while_down: u32,
    /// Usage reports to take and then drop the answer of.
    pub lose_usage_answers: u32,
    /// Requests whose key was refused.
    pub refused_keys: u32,
}

impl CoreState {
    pub fn applied_ok(&self, revision: u64) -> bool {
        self.applied
            .iter()
            .any(|a| a["revision"] == revision && a["ok"] == true)
    }

    pub fn last_heartbeat(&self) -> Value {
        self.heartbeats.last().cloned().unwrap_or(Value::Null)
    }

    pub fn events_of(&self, name: &str, kind: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e["name"] == name && e["kind"] == kind)
            .count()
    }
}

pub struct StandInCore {
    pub port: u16,
    pub state: Arc<Mutex<CoreState>>,
}

impl StandInCore {
    pub async fn start() -> StandInCore {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(CoreState::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { handle(&state, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        StandInCore { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Reads or changes the state.
    pub fn with<T>(&self, f: impl FnOnce(&mut CoreState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Publishes a config revision.
    pub fn set_config(
        &self,
        revision: u64,
        inbounds: Value,
        clients: Value,
        outbounds: Value,
        routing: Value,
    ) {
        self.with(|s| {
            s.config = Some(json!({
                "revision": revision, "inbounds": inbounds, "clients": clients,
                "outbounds": outbounds, "routing": routing
            }))
        });
    }

    /// Waits until `check` holds (checked every 100 ms); panics with `what` and `log` after
    /// `within`.
    pub async fn wait(
        &self,
        what: &str,
        within: Duration,
        log: impl Fn() -> String,
        check: impl Fn(&CoreState) -> bool,
    ) {
        let until = Instant::now() + within;
        loop {
            if self.with(|s| check(s)) {
                return;
            }
            if Instant::now() > until {
                panic!(
                    "timed out waiting for: {what}\n--- agent log ---\n{}",
                    log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Direct then block: the outbounds of every test config.
pub fn default_outbounds() -> Value {
    json!([{ "protocol": "freedom", "tag": "direct" }, { "protocol": "blackhole", "tag": "block" }])
}

type Reply = Result<hyper::Response<Full<bytes::Bytes>>, std::io::Error>;

fn reply(status: u16, body: Option<Value>) -> Reply {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let mut resp = hyper::Response::new(Full::new(bytes::Bytes::from(bytes)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn error(status: u16, code: &str) -> Reply {
    reply(
        status,
        Some(json!({ "error": { "code": code, "message": code.replace('_', " ") } })),
    )
}

/// Drops the connection without an answer.
fn drop_connection() -> Reply {
    Err(std::io::Error::other("dropped on purpose"))
}

async fn handle(state: &Mutex<CoreState>, req: hyper::Request<hyper::body::Incoming>) -> Reply {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    if lock().down {
        lock().dropped_while_down += 1;
        return drop_connection();
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let key = req
        .headers()
        .get("x-node-auth-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let inm = req
        .headers()
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(400, "bad_json"),
        }
    };
    let mut s = lock();
    if path == "/node/register" && method == hyper::Method::POST {
        if json["protocol"] != 1 {
            return error(400, "unsupported_protocol");
        }
        let code = json["code"].as_str().unwrap_or_default().to_owned();
        s.registrations.push(json);
        if !s.codes.remove(&code) {
            return error(401, "invalid_code");
        }
        let key = uuid::Uuid::new_v4().to_string();
        s.keys.clear();
        s.keys.insert(key.clone());
        return reply(201, Some(json!({ "nodeId": NODE_ID, "key": key })));
    }
    if !key.is_some_and(|k| s.keys.contains(&k)) {
        s.refused_keys += 1;
        return error(401, "invalid_node_key");
    }
    match (method.as_str(), path.as_str()) {
        ("POST", "/node/heartbeat") => {
            if json["protocol"] != 1 {
                return error(400, "unsupported_protocol");
            }
            let done: Vec<String> = json["doneOps"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut answered = Vec::new();
            for id in &done {
                s.done_ops.push(id.clone());
                if let Some(i) = s.ops.iter().position(|(op, _)| op == id) {
                    let op = s.ops.remove(i);
                    if let Some(j) = s.sticky_ops.iter().position(|(sticky, _)| sticky == id) {
                        // Answered once more after it was done.
                        answered.push(s.sticky_ops.remove(j));
                    }
                    drop(op);
                }
            }
            s.heartbeats.push(json);
            let revision = s
                .heartbeat_revision
                .or_else(|| s.config.as_ref().and_then(|c| c["revision"].as_u64()));
            let ops: Vec<Value> = s
                .ops
                .iter()
                .chain(answered.iter())
                .map(|(id, kind)| json!({ "id": id, "kind": kind }))
                .collect();
            reply(200, Some(json!({ "revision": revision, "ops": ops })))
        }
        ("GET", "/node/config/latest") => {
            s.fetches.push(inm.clone());
            let Some(config) = s.config.clone() else {
                return error(404, "no_config");
            };
            let etag = format!("\"{}\"", config["revision"]);
            if inm.as_deref() == Some(etag.as_str()) {
                s.not_modified += 1;
                let mut resp = hyper::Response::new(Full::new(bytes::Bytes::new()));
                *resp.status_mut() = hyper::StatusCode::NOT_MODIFIED;
                return Ok(resp);
            }
            let mut resp = reply(200, Some(config))?;
            resp.headers_mut().insert(
                http::header::ETAG,
                http::HeaderValue::from_str(&etag).expect("etag"),
            );
            Ok(resp)
        }
        ("POST", "/node/config/applied") => {
            s.applied.push(json);
            reply(204, None)
        }
        ("POST", "/node/usage") | ("POST", "/node/outbound-usage") => {
            let outbound = path == "/node/outbound-usage";
            let (list, name_field) = match outbound {
                true => ("outbounds", "tag"),
                false => ("clients", "name"),
            };
            let Some(id) = json["reportId"].as_str().map(str::to_owned) else {
                return error(400, "no_report_id");
            };
            let Some(items) = json[list].as_array().cloned() else {
                return error(400, "no_items");
            };
            if items.len() > 10_000 || json["collectedAt"].as_u64().is_none() {
                return error(400, "bad_report");
            }
            s.largest_report = s.largest_report.max(items.len());
            let fresh = match outbound {
                true => s.outbound_usage_ids.insert(id.clone()),
                false => {
                    s.usage_posts += 1;
                    s.usage_ids.insert(id.clone())
                }
            };
            if fresh {
                for item in &items {
                    let name = item[name_field].as_str().unwrap_or_default().to_owned();
                    let up = item["up"].as_u64().unwrap_or(0);
                    let down = item["down"].as_u64().unwrap_or(0);
                    let totals = match outbound {
                        true => &mut s.outbound_usage,
                        false => &mut s.usage,
                    };
                    let entry = totals.entry(name).or_default();
                    entry.0 += up;
                    entry.1 += down;
                }
            } else {
                s.duplicates += 1;
            }
            if !outbound && fresh && s.lose_usage_answers > 0 {
                s.lose_usage_answers -= 1;
                return drop_connection();
            }
            reply(200, Some(json!({ "reportId": id, "duplicate": !fresh })))
        }
        ("POST", "/node/session-events") => {
            if let Some(events) = json["events"].as_array() {
                s.events.extend(events.iter().cloned());
            }
            reply(204, None)
        }
        ("POST", "/node/error") => {
            s.errors.push(json);
            reply(204, None)
        }
        _ => error(404, "not_found"),
    }
}
