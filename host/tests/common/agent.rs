//! A node's agent as tests that run no real agent stand it in: registration with a capability
//! report (docs/node-protocol.md), as an agent on Xray sends it. Nodes that never report hold
//! back REALITY, gRPC, Shadowsocks and the other inbounds not every core runs.

use serde_json::{json, Value};

use super::Core;

/// What an agent on current Xray reports (the agent's table, node-agent/src/proxy/capabilities.rs).
pub fn xray_capabilities() -> Value {
    json!({
        "protocols": ["vless", "vmess", "trojan", "shadowsocks"],
        "transports": ["tcp", "ws", "grpc", "httpupgrade", "xhttp", "kcp"],
        "security": ["none", "tls", "reality"],
        "flows": ["xtls-rprx-vision"],
        "shadowsocksMethods": ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
            "xchacha20-ietf-poly1305", "2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
            "2022-blake3-chacha20-poly1305"]
    })
}

/// What an agent on Xray says of its core at registration.
pub fn xray_report() -> Value {
    json!({ "coreVersion": "Xray 25.9.11", "coreFlavor": "xray",
            "capabilities": xray_capabilities() })
}

/// A fresh one-time registration code for `node`'s agent.
pub async fn registration_code(core: &Core, admin: &str, node: &str) -> String {
    let r = core
        .post(
            &format!("/admin/nodes/{node}/registration-code"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("code")
}

/// Registers `node`'s agent with a fresh code, saying `report` of its core (`coreVersion`,
/// `coreFlavor`, `capabilities`); the node key.
pub async fn register_with(core: &Core, admin: &str, node: &str, report: Value) -> String {
    let code = registration_code(core, admin, node).await;
    let mut body = json!({ "protocol": 1, "code": code, "hostname": "test-node",
                           "agentVersion": "0.1.0" });
    for (key, value) in report.as_object().expect("a report object") {
        body[key] = value.clone();
    }
    let r = core.post("/node/register", None, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("key")
}

/// Registers `node`'s agent as one on Xray.
pub async fn register_xray(core: &Core, admin: &str, node: &str) -> String {
    register_with(core, admin, node, xray_report()).await
}

/// A call of the private node API with `key`.
pub async fn node_call(
    core: &Core,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> super::Reply {
    let mut req = core
        .client
        .request(method, core.url(path))
        .header("x-node-auth-key", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    super::Reply::from(req.send().await.expect("request")).await
}

/// Does what an agent on Xray does once its node's config is built: says it is alive, fetches
/// the latest revision and confirms running it (exports list only confirmed inbounds of nodes
/// whose agent speaks). The confirmed revision.
pub async fn apply_latest(core: &Core, key: &str) -> i64 {
    let mut hb = json!({ "protocol": 1, "status": "Running", "agentVersion": "0.1.0" });
    for (k, v) in xray_report().as_object().expect("a report object") {
        hb[k] = v.clone();
    }
    let r = node_call(
        core,
        reqwest::Method::POST,
        "/node/heartbeat",
        key,
        Some(hb),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let config = node_call(core, reqwest::Method::GET, "/node/config/latest", key, None).await;
    assert_eq!(config.status, 200, "{}", config.text);
    let revision = config.body["revision"].as_i64().expect("a revision");
    let body = json!({ "revision": revision, "ok": true });
    let r = node_call(
        core,
        reqwest::Method::POST,
        "/node/config/applied",
        key,
        Some(body),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    revision
}

/// Registers `node`'s agent as one on Xray and has it apply its config; the node key.
pub async fn serving_xray(core: &Core, admin: &str, node: &str) -> String {
    let key = register_xray(core, admin, node).await;
    apply_latest(core, &key).await;
    key
}
