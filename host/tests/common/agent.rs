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

/// Registers `node`'s agent with a fresh code, saying `report` of its core (`coreVersion`,
/// `coreFlavor`, `capabilities`); the node key.
pub async fn register_with(core: &Core, admin: &str, node: &str, report: Value) -> String {
    let code = core
        .post(
            &format!("/admin/nodes/{node}/registration-code"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(code.status, 201, "{}", code.text);
    let mut body = json!({ "protocol": 1, "code": code.str("code"), "hostname": "test-node",
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
