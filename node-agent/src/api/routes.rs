//! The seed's Node API routes (plus `GET /node/inbounds`, an extension), the access check,
//! JSON in and out, and one log line per request and per response (user keys never logged).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::auth::key_matches;
use crate::load::LoadSampler;
use crate::node::{Node, NodeError, Status, UserSpec};
use crate::proxy::Exposure;

/// Largest accepted body: 10,000 users fit with room to spare.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What every request handler shares.
pub struct ApiState {
    pub node: Arc<Node>,
    pub key: Vec<u8>,
    pub load: LoadSampler,
    next_id: AtomicU64,
}

impl ApiState {
    pub fn new(node: Arc<Node>, key: Vec<u8>, load: LoadSampler) -> ApiState {
        ApiState {
            node,
            key,
            load,
            next_id: AtomicU64::new(1),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersBody {
    users: Vec<UserSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

#[derive(Serialize)]
struct StatusBody {
    status: Status,
    cpuload: u32,
    memoryload: u32,
    userstats: Vec<UserStat>,
}

#[derive(Serialize)]
struct UserStat {
    name: String,
    /// KiB the user sent (client → node), rounded up so any traffic shows.
    incoming: u64,
    /// KiB the node sent to the user.
    outcoming: u64,
}

/// A response in the making, with what its log line says.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    /// The error message, for the log.
    error: Option<String>,
}

impl Reply {
    fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            error: None,
        }
    }

    fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        let message = message.into();
        Reply {
            status,
            body: serde_json::json!({ "error": { "code": code, "message": message } })
                .to_string()
                .into_bytes(),
            error: Some(message),
        }
    }
}

/// Handles one request.
pub async fn handle(
    state: &ApiState,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    tracing::info!(id, %peer, %method, path, "request");
    let presented = req.headers().get("x-node-auth-key").map(|v| v.as_bytes());
    let reply = if !key_matches(&state.key, presented) {
        Reply::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong x-node-auth-key",
        )
    } else {
        route(state, req, id).await
    };
    tracing::info!(
        id,
        %method,
        path,
        status = reply.status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        error = reply.error.as_deref(),
        "response"
    );
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = reply.status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if reply.error.as_deref() == Some("Node not running") {
        // The seed's wording, also as the HTTP reason phrase.
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(b"Node not running"));
    }
    resp
}

async fn route(state: &ApiState, req: Request<Incoming>, id: u64) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let known = [
        "/node/start",
        "/node/stop",
        "/node/status",
        "/node/inbounds",
        "/users/add",
        "/users/del",
    ];
    let expected = if path == "/node/status" || path == "/node/inbounds" {
        Method::GET
    } else {
        Method::POST
    };
    if !known.contains(&path.as_str()) {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {path}"),
        );
    }
    if method != expected {
        return Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{path} takes {expected}"),
        );
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let node = &state.node;
    let result = match path.as_str() {
        "/node/status" => return status(state).await,
        "/node/inbounds" => return inbounds(state).await,
        "/node/stop" => {
            // No parameters: an empty body or `{}`.
            if !body.iter().all(u8::is_ascii_whitespace) {
                if let Err(reply) = parse::<EmptyBody>(&body) {
                    return reply;
                }
            }
            node.stop().await
        }
        _ => {
            let users = match parse::<UsersBody>(&body) {
                Ok(b) => b.users,
                Err(reply) => return reply,
            };
            let names: Vec<&str> = users.iter().take(5).map(|u| u.name.as_str()).collect();
            tracing::info!(id, users = users.len(), first = ?names, "request body (keys redacted)");
            match path.as_str() {
                "/node/start" => node.start(users).await,
                "/users/add" => node.add_users(users).await,
                _ => node.remove_users(users).await,
            }
        }
    };
    match result {
        Ok(()) => Reply::ok(b"{}".to_vec()),
        Err(e) => error_reply(&e),
    }
}

async fn status(state: &ApiState) -> Reply {
    let load = state.load.latest();
    let userstats = state
        .node
        .user_stats()
        .await
        .into_iter()
        .map(|(name, b)| UserStat {
            name,
            incoming: b.up.div_ceil(1024),
            outcoming: b.down.div_ceil(1024),
        })
        .collect();
    let body = StatusBody {
        status: state.node.status(),
        cpuload: load.cpu.round().clamp(0.0, 100.0) as u32,
        memoryload: load.memory.round().clamp(0.0, 100.0) as u32,
        userstats,
    };
    // Serialised from the struct, so fields keep the seed's order.
    match serde_json::to_vec(&body) {
        Ok(v) => Reply::ok(v),
        Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

/// `GET /node/inbounds` (beyond the seed): the client-facing description of the inbounds that
/// take users, for the Node Manager's subscriptions. No server secret is in it.
async fn inbounds(state: &ApiState) -> Reply {
    let inbounds = match state.node.inbounds().await {
        Ok(i) => i,
        Err(e) => return error_reply(&e),
    };
    let exposure = match Exposure::of(&inbounds, state.node.flavor()) {
        Ok(x) => x,
        Err(e) => {
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "config_rejected",
                e.to_string(),
            )
        }
    };
    match serde_json::to_vec(&exposure) {
        Ok(v) => Reply::ok(v),
        Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

fn error_reply(e: &NodeError) -> Reply {
    let (status, code) = match e {
        NodeError::NotRunning => (StatusCode::BAD_REQUEST, "node_not_running"),
        NodeError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        NodeError::Inbounds(_) | NodeError::Config(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "config_rejected")
        }
        NodeError::Core(_) | NodeError::Api(_) | NodeError::Traffic(_) => {
            (StatusCode::BAD_GATEWAY, "core_error")
        }
        NodeError::State(_) => (StatusCode::INTERNAL_SERVER_ERROR, "state_error"),
    };
    Reply::error(status, code, e.to_string())
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Reply> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("body over {MAX_BODY} bytes"),
            ))
        }
        Err(e) => Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            e.to_string(),
        )),
    }
}

/// Parses a JSON body strictly: unknown fields are refused.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("invalid body: {e}"),
        )
    })
}
