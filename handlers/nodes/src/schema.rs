//! JSON Schemas of the request and response bodies, for the host's OpenAPI document. The
//! private API's payloads are described in full in docs/node-protocol.md.

use serde_json::{json, Value};

use crate::admin::OP_KINDS;
use crate::model::STATUSES;
use nexuma_sdk::{DEFAULT_LIMIT, MAX_LIMIT};

fn millis() -> Value {
    json!({ "type": ["integer", "null"], "format": "int64", "description": "epoch milliseconds" })
}

pub fn page(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": { "type": "array", "items": item },
            "total": { "type": "integer" },
            "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT },
            "offset": { "type": "integer", "minimum": 0 }
        }
    })
}

pub fn inbound() -> Value {
    json!({
        "type": "object",
        "required": ["tag", "protocol", "port"],
        "description": "one inbound: protocol, transport, TLS or REALITY (with its masking site), fallbacks",
        "properties": {
            "tag": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" },
            "protocol": { "enum": ["vless", "vmess", "trojan", "shadowsocks"] },
            "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
            "listen": { "type": "string", "description": "IP address (default all)" },
            "network": { "enum": ["tcp", "ws", "grpc", "xhttp", "httpupgrade"], "default": "tcp" },
            "security": { "enum": ["none", "tls", "reality"], "default": "none" },
            "flow": { "enum": ["xtls-rprx-vision"] },
            "path": { "type": "string" },
            "host": { "type": "string" },
            "serviceName": { "type": "string" },
            "mode": { "enum": ["auto", "packet-up", "stream-up", "stream-one"] },
            "tls": {
                "type": "object",
                "properties": {
                    "serverName": { "type": "string" },
                    "certificateFile": { "type": "string" }, "keyFile": { "type": "string" },
                    "certificate": { "type": "string", "description": "PEM" },
                    "key": { "type": "string", "description": "PEM; shown as (hidden), send (hidden) to keep it" },
                    "alpn": { "type": "array", "items": { "type": "string" } },
                    "fingerprint": { "type": "string" },
                    "allowInsecure": { "type": "boolean" }
                }
            },
            "reality": {
                "type": "object",
                "required": ["dest", "serverNames", "privateKey", "shortIds"],
                "properties": {
                    "dest": { "type": "string", "description": "masking site host:port" },
                    "serverNames": { "type": "array", "items": { "type": "string" } },
                    "privateKey": { "type": "string", "description": "shown as (hidden), send (hidden) to keep it" },
                    "publicKey": { "type": "string", "readOnly": true },
                    "shortIds": { "type": "array", "items": { "type": "string" } },
                    "fingerprint": { "type": "string" },
                    "spiderX": { "type": "string" },
                    "minClientVer": { "type": "string" },
                    "xver": { "type": "integer", "minimum": 0, "maximum": 2 }
                }
            },
            "fallbacks": {
                "type": "array",
                "items": {
                    "type": "object", "required": ["dest"],
                    "properties": {
                        "dest": { "type": "string" }, "path": { "type": "string" },
                        "alpn": { "type": "string" }, "xver": { "type": "integer" }
                    }
                }
            },
            "method": { "type": "string" },
            "serverKey": { "type": "string", "description": "Shadowsocks 2022 server PSK (base64)" }
        }
    })
}

fn node_fields() -> Value {
    json!({
        "name": { "type": "string", "minLength": 1, "maxLength": 100 },
        "address": { "type": "string", "description": "host name or IP clients connect to" },
        "status": { "enum": STATUSES },
        "inbounds": { "type": "array", "items": inbound() },
        "outbounds": { "type": "array", "items": { "type": "object", "required": ["tag", "protocol"] },
                       "description": "extra core outbounds; direct and block are built in" },
        "ruleSetIds": { "type": "array", "items": { "type": "string" } },
        "routing": {
            "type": "object",
            "properties": {
                "domainStrategy": { "enum": ["AsIs", "IPIfNonMatch", "IPOnDemand"] },
                "rules": { "type": "array", "items": { "type": "object" } }
            }
        }
    })
}

pub fn node() -> Value {
    let mut props = node_fields();
    let mut shown = inbound();
    shown["properties"]["heldBack"] = json!({
        "type": "object",
        "readOnly": true,
        "description": "present when the inbound is kept from the node and from subscriptions: its core cannot run it, or has not said what it runs",
        "properties": { "reason": { "type": "string" } }
    });
    props["inbounds"] = json!({ "type": "array", "items": shown });
    for (key, value) in [
        ("id", json!({ "type": "string" })),
        (
            "effectiveStatus",
            json!({ "enum": STATUSES, "description": "an active node without a heartbeat for 60 s, or whose config was rejected, is in error" }),
        ),
        ("statusReason", json!({ "type": ["string", "null"] })),
        ("revision", json!({ "type": "integer" })),
        ("appliedRevision", json!({ "type": ["integer", "null"] })),
        (
            "syncState",
            json!({ "enum": ["synced", "pending", "failed", "never"] }),
        ),
        ("syncError", json!({ "type": ["string", "null"] })),
        ("syncAt", millis()),
        ("registered", json!({ "type": "boolean" })),
        ("registeredAt", millis()),
        ("agent", json!({ "type": "object" })),
        ("lastError", json!({ "type": ["object", "null"] })),
        ("pendingOps", json!({ "type": "array", "items": op() })),
        (
            "onlineLinks",
            json!({ "type": "integer", "readOnly": true, "description": "links online on the node now (its session events; 0 while its agent is silent); in list and get" }),
        ),
        (
            "onlineUsers",
            json!({ "type": "integer", "readOnly": true, "description": "distinct users of those links" }),
        ),
        ("createdAt", millis()),
        ("updatedAt", millis()),
    ] {
        props[key] = value;
    }
    json!({ "type": "object", "properties": props })
}

pub fn node_create() -> Value {
    json!({ "type": "object", "required": ["name", "address"], "properties": node_fields() })
}

pub fn node_patch() -> Value {
    json!({ "type": "object", "properties": node_fields() })
}

pub fn op() -> Value {
    json!({
        "type": "object",
        "required": ["id", "kind", "createdAt"],
        "properties": {
            "id": { "type": "string" },
            "kind": { "enum": OP_KINDS },
            "createdAt": millis()
        }
    })
}

pub fn code_request() -> Value {
    json!({
        "type": "object",
        "properties": { "ttlMinutes": { "type": "integer", "minimum": 1, "maximum": 43200, "default": 1440 } }
    })
}

pub fn code() -> Value {
    json!({
        "type": "object",
        "required": ["nodeId", "code", "expiresAt"],
        "properties": {
            "nodeId": { "type": "string" },
            "code": { "type": "string", "description": "shown once; give it to the agent as NEXUMA_NODE_CODE" },
            "expiresAt": millis()
        }
    })
}

pub fn revoked() -> Value {
    json!({ "type": "object", "properties": { "revoked": { "type": "integer" } } })
}

pub fn errors_page() -> Value {
    page(json!({
        "type": "object",
        "properties": { "kind": { "type": "string" }, "message": { "type": "string" }, "at": millis() }
    }))
}

pub fn sync_report() -> Value {
    json!({
        "type": "object",
        "properties": {
            "usageReports": { "type": "integer", "description": "waiting usage reports counted" },
            "usageEntries": { "type": "integer" },
            "changes": { "type": "integer" },
            "nodesBuilt": { "type": "integer" },
            "revisionsBumped": { "type": "integer" }
        }
    })
}

pub fn key_pair() -> Value {
    json!({
        "type": "object",
        "properties": { "privateKey": { "type": "string" }, "publicKey": { "type": "string" } }
    })
}

pub fn node_config() -> Value {
    json!({
        "type": "object",
        "description": "the config a node gets (docs/node-protocol.md)",
        "required": ["revision", "inbounds", "clients", "outbounds", "routing"],
        "properties": {
            "revision": { "type": "integer" },
            "inbounds": { "type": "array", "items": { "type": "object" } },
            "clients": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string" }, "key": { "type": "string" },
                        "inbounds": { "type": "array", "items": { "type": "string" } }
                    }
                }
            },
            "outbounds": { "type": "array", "items": { "type": "object" } },
            "routing": { "type": "object" }
        }
    })
}

fn rule_set_fields() -> Value {
    json!({
        "name": { "type": "string", "minLength": 1, "maxLength": 100 },
        "rules": { "type": "array", "items": { "type": "object" },
                   "description": "core routing rules: matchers (domain, ip, port, network, protocol, ...) and outboundTag or balancerTag" },
        "balancers": { "type": "array", "items": {
            "type": "object", "required": ["tag", "selector"],
            "properties": { "tag": { "type": "string" }, "selector": { "type": "array", "items": { "type": "string" } },
                            "strategy": { "type": "object" } } } },
        "blocking": { "type": "object", "properties": {
            "bittorrent": { "type": "boolean" }, "privateIps": { "type": "boolean" },
            "domains": { "type": "array", "items": { "type": "string" } },
            "ips": { "type": "array", "items": { "type": "string" } } } }
    })
}

pub fn rule_set() -> Value {
    let mut props = rule_set_fields();
    props["id"] = json!({ "type": "string" });
    props["createdAt"] = millis();
    props["updatedAt"] = millis();
    json!({ "type": "object", "properties": props })
}

pub fn rule_set_create() -> Value {
    json!({ "type": "object", "required": ["name"], "properties": rule_set_fields() })
}

pub fn rule_set_patch() -> Value {
    json!({ "type": "object", "properties": rule_set_fields() })
}

pub fn empty() -> Value {
    json!({ "description": "no content" })
}

/// The private routes' bodies are documented in docs/node-protocol.md; these name the shapes.
pub fn protocol_doc(what: &str) -> Value {
    json!({ "type": "object", "description": format!("{what} (docs/node-protocol.md)") })
}
