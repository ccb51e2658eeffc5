//! `GET /subscription/:id`: for every active node, one entry per inbound with the share link
//! (`vless://`, `vmess://`, `trojan://`) and the client outbound object for the core.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::{id, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::nodes;

/// The protocols an entry is made for; an inbound of any other gives none.
pub const PROTOCOLS: [&str; 3] = ["vless", "vmess", "trojan"];

/// One entry of `GET /subscription/:id` (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema, Debug)]
pub struct Entry {
    /// The node's name.
    pub node: String,
    /// The host clients dial.
    pub address: String,
    #[schemars(extend("enum" = PROTOCOLS))]
    pub protocol: String,
    /// As the agent listed it.
    pub port: u64,
    /// The transport (`tcp` unless the inbound names one).
    pub network: String,
    /// `none` unless the inbound names one.
    pub security: String,
    /// A vless://, vmess:// or trojan:// share link.
    pub link: String,
    /// The Xray/v2ray client outbound.
    #[schemars(extend("type" = "object"))]
    pub outbound: Value,
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let user_id = req.param("id")?;
    let not_found =
        || ApiError::not_found("subscription_not_found", "no subscription with this id");
    if !id::is_uuid(user_id) {
        return Err(not_found());
    }
    let rows = Pool.query(
        &format!(
            "SELECT l.uuid FROM subscription_links l JOIN users u ON u.id = l.user_id \
             WHERE l.user_id = $1 AND l.enabled = $2 AND u.status = $3 AND u.blocked = $4 \
             AND {} ORDER BY l.created_at, l.id",
            crate::roster::LIVE_LINK
        ),
        &[user_id.into(), true.into(), "active".into(), false.into()],
    )?;
    let key = rows
        .first()
        .map(|r| r.string("uuid"))
        .transpose()?
        .ok_or_else(not_found)?;
    let mut entries = Vec::new();
    for node in nodes::active(&Pool)? {
        for inbound in &node.inbounds {
            if let Some(entry) = entry(&node.name, &node.address, inbound, &key) {
                entries.push(entry);
            }
        }
    }
    log::info(
        "subscription served",
        &[("userId", user_id), ("entries", &entries.len().to_string())],
    );
    Ok(response::json(200, &entries)?.with_header("cache-control", "no-store"))
}

fn text<'a>(inbound: &'a Value, key: &str) -> Option<&'a str> {
    inbound
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// One subscription entry, or `None` for an inbound a client cannot use with this key.
pub fn entry(node_name: &str, address: &str, inbound: &Value, key: &str) -> Option<Entry> {
    let protocol = text(inbound, "protocol")?;
    if !PROTOCOLS.contains(&protocol) {
        return None;
    }
    let port = inbound.get("port").and_then(Value::as_u64)?;
    let tag = text(inbound, "tag").unwrap_or(protocol);
    let display = format!("{node_name} {tag}");
    let network = text(inbound, "network").unwrap_or("tcp");
    let security = text(inbound, "security").unwrap_or("none");
    Some(Entry {
        node: node_name.to_string(),
        address: address.to_string(),
        protocol: protocol.to_string(),
        port,
        network: network.to_string(),
        security: security.to_string(),
        link: link(protocol, address, port, inbound, key, &display),
        outbound: outbound(protocol, address, port, inbound, key, &display),
    })
}

/// `flow` applies only on raw TCP (no HTTP header) with TLS or REALITY.
fn flow(inbound: &Value) -> Option<&str> {
    let network = text(inbound, "network").unwrap_or("tcp");
    let security = text(inbound, "security").unwrap_or("none");
    let header = text(inbound, "headerType").unwrap_or("none");
    (network == "tcp" && matches!(security, "tls" | "reality") && header != "http")
        .then(|| text(inbound, "flow"))
        .flatten()
}

fn alpn(inbound: &Value) -> Vec<String> {
    inbound
        .get("alpn")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn link_host(address: &str) -> String {
    if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    }
}

/// The share link of one inbound for `key`: the vmess JSON form or a URL with the inbound's
/// parameters (vless, trojan, shadowsocks).
fn link(
    protocol: &str,
    address: &str,
    port: u64,
    inbound: &Value,
    key: &str,
    display: &str,
) -> String {
    if protocol == "vmess" {
        return vmess_link(address, port, inbound, key, display);
    }
    let query: Vec<String> = link_params(protocol, inbound)
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!(
        "{protocol}://{}@{}:{port}?{}#{}",
        encode(key),
        link_host(address),
        query.join("&"),
        encode(display)
    )
}

/// `vmess://` and the base64 of the JSON clients read (v2rayN's form).
fn vmess_link(address: &str, port: u64, inbound: &Value, key: &str, display: &str) -> String {
    let network = text(inbound, "network").unwrap_or("tcp");
    let security = text(inbound, "security").unwrap_or("none");
    let mut v = Map::new();
    let mut put = |k: &str, val: &str| {
        v.insert(k.into(), Value::String(val.into()));
    };
    put("v", "2");
    put("ps", display);
    put("add", address);
    put("port", &port.to_string());
    put("id", key);
    put("aid", "0");
    put("scy", "auto");
    put("net", network);
    let kind = match network {
        "grpc" => "gun",
        "xhttp" => text(inbound, "mode").unwrap_or("auto"),
        _ => text(inbound, "headerType").unwrap_or("none"),
    };
    put("type", kind);
    put("host", text(inbound, "host").unwrap_or(""));
    let path = if network == "grpc" {
        text(inbound, "serviceName")
    } else {
        text(inbound, "path")
    };
    put("path", path.unwrap_or(""));
    put("tls", if security == "none" { "" } else { security });
    put("sni", text(inbound, "sni").unwrap_or(""));
    put("alpn", &alpn(inbound).join(","));
    put("fp", text(inbound, "fingerprint").unwrap_or(""));
    if security == "reality" {
        put("pbk", text(inbound, "publicKey").unwrap_or(""));
        put("sid", text(inbound, "shortId").unwrap_or(""));
        put("spx", text(inbound, "spiderX").unwrap_or(""));
    }
    format!(
        "vmess://{}",
        base64(Value::Object(v).to_string().as_bytes())
    )
}

/// A URL share link's query parameters, in the order clients expect, not yet encoded.
fn link_params(protocol: &str, inbound: &Value) -> Vec<(&'static str, String)> {
    let network = text(inbound, "network").unwrap_or("tcp");
    let security = text(inbound, "security").unwrap_or("none");
    let mut params: Vec<(&str, String)> = vec![("type", network.to_string())];
    if protocol == "vless" {
        params.push(("encryption", "none".into()));
    }
    params.push(("security", security.to_string()));
    if protocol == "vless" {
        if let Some(f) = flow(inbound) {
            params.push(("flow", f.into()));
        }
    }
    for (param, field) in [
        ("headerType", "headerType"),
        ("host", "host"),
        ("path", "path"),
        ("serviceName", "serviceName"),
        ("mode", "mode"),
        ("sni", "sni"),
        ("fp", "fingerprint"),
    ] {
        if let Some(value) = text(inbound, field) {
            params.push((param, value.into()));
        }
    }
    let alpn = alpn(inbound);
    if !alpn.is_empty() {
        params.push(("alpn", alpn.join(",")));
    }
    if security == "tls" && inbound.get("allowInsecure") == Some(&Value::Bool(true)) {
        params.push(("allowInsecure", "1".into()));
    }
    if security == "reality" {
        for (param, field) in [("pbk", "publicKey"), ("sid", "shortId"), ("spx", "spiderX")] {
            if let Some(value) = text(inbound, field) {
                params.push((param, value.into()));
            }
        }
    }
    params
}

/// The client outbound object for Xray or v2ray, with `streamSettings`.
fn outbound(
    protocol: &str,
    address: &str,
    port: u64,
    inbound: &Value,
    key: &str,
    display: &str,
) -> Value {
    let settings = match protocol {
        "vless" => {
            let mut user = json!({ "id": key, "encryption": "none" });
            if let Some(f) = flow(inbound) {
                user["flow"] = f.into();
            }
            json!({ "vnext": [{ "address": address, "port": port, "users": [user] }] })
        }
        "vmess" => json!({ "vnext": [{ "address": address, "port": port,
            "users": [{ "id": key, "alterId": 0, "security": "auto" }] }] }),
        _ => json!({ "servers": [{ "address": address, "port": port, "password": key }] }),
    };
    json!({
        "tag": display,
        "protocol": protocol,
        "settings": settings,
        "streamSettings": stream_settings(inbound),
    })
}

/// An outbound's `streamSettings`: the transport's settings, then the security's.
fn stream_settings(inbound: &Value) -> Value {
    let network = text(inbound, "network").unwrap_or("tcp");
    let security = text(inbound, "security").unwrap_or("none");
    let mut s = json!({ "network": network, "security": security });
    if let Some((field, settings)) = transport_settings(network, inbound) {
        s[field] = settings;
    }
    if let Some((field, settings)) = security_settings(security, inbound) {
        s[field] = settings;
    }
    s
}

/// The transport's settings object and its field in `streamSettings`, if it has one.
fn transport_settings(network: &str, inbound: &Value) -> Option<(&'static str, Value)> {
    let host = text(inbound, "host");
    let path = text(inbound, "path");
    match network {
        "ws" => {
            let mut ws = json!({ "path": path.unwrap_or("/") });
            if let Some(h) = host {
                ws["headers"] = json!({ "Host": h });
            }
            Some(("wsSettings", ws))
        }
        "httpupgrade" => Some((
            "httpupgradeSettings",
            json!({ "path": path.unwrap_or("/"), "host": host.unwrap_or("") }),
        )),
        "xhttp" => {
            let mut x = json!({ "path": path.unwrap_or("/") });
            if let Some(h) = host {
                x["host"] = h.into();
            }
            if let Some(m) = text(inbound, "mode") {
                x["mode"] = m.into();
            }
            Some(("xhttpSettings", x))
        }
        "grpc" => Some((
            "grpcSettings",
            json!({ "serviceName": text(inbound, "serviceName").unwrap_or("") }),
        )),
        "tcp" if text(inbound, "headerType") == Some("http") => {
            let mut request = json!({ "path": [path.unwrap_or("/")] });
            if let Some(h) = host {
                request["headers"] = json!({ "Host": [h] });
            }
            Some((
                "tcpSettings",
                json!({ "header": { "type": "http", "request": request } }),
            ))
        }
        _ => None,
    }
}

/// The security's settings object (TLS or REALITY) and its field in `streamSettings`.
fn security_settings(security: &str, inbound: &Value) -> Option<(&'static str, Value)> {
    match security {
        "tls" => {
            let mut tls = json!({
                "allowInsecure": inbound.get("allowInsecure") == Some(&Value::Bool(true)),
            });
            if let Some(sni) = text(inbound, "sni") {
                tls["serverName"] = sni.into();
            }
            let alpn = alpn(inbound);
            if !alpn.is_empty() {
                tls["alpn"] = alpn.into();
            }
            if let Some(fp) = text(inbound, "fingerprint") {
                tls["fingerprint"] = fp.into();
            }
            Some(("tlsSettings", tls))
        }
        "reality" => {
            let mut r = json!({
                "fingerprint": text(inbound, "fingerprint").unwrap_or("chrome"),
                "publicKey": text(inbound, "publicKey").unwrap_or(""),
                "shortId": text(inbound, "shortId").unwrap_or(""),
            });
            if let Some(sni) = text(inbound, "sni") {
                r["serverName"] = sni.into();
            }
            if let Some(spx) = text(inbound, "spiderX") {
                r["spiderX"] = spx.into();
            }
            Some(("realitySettings", r))
        }
        _ => None,
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    use ::base64::Engine as _;
    ::base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    /// An entry is made for exactly the protocols the schema lists, and carries every field.
    #[test]
    fn entries_are_what_the_schema_says() {
        let schema = nexuma_sdk::answer_schema_of::<Entry>();
        assert_eq!(schema["properties"]["protocol"]["enum"], json!(PROTOCOLS));
        assert_eq!(
            schema["required"].as_array().map(Vec::len),
            Some(8),
            "{schema}"
        );
        for protocol in PROTOCOLS.iter().chain(&["shadowsocks"]) {
            let inbound = json!({ "protocol": protocol, "port": 443 });
            let made = entry("n", "x.example", &inbound, "k");
            assert_eq!(made.is_some(), PROTOCOLS.contains(protocol), "{protocol}");
        }
    }
}
