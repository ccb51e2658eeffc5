//! JSON Schemas of the request and response bodies, for the host's OpenAPI document.

use serde_json::{json, Value};

use crate::nodes::NAME_MAX as NODE_NAME_MAX;
use crate::users::NAME_MAX as USER_NAME_MAX;

fn int_or_null() -> Value {
    json!({ "type": ["integer", "null"], "format": "int64" })
}

pub fn node_add() -> Value {
    json!({
        "type": "object",
        "required": ["url", "accesskey"],
        "properties": {
            "url": { "type": "string", "format": "uri", "description": "the agent's Node API, https://" },
            "accesskey": { "type": "string", "minLength": 1, "maxLength": 512 },
            "fingerprint": { "type": ["string", "null"],
                "description": "SHA-256 of the agent's certificate (hex, `:` allowed) to pin" },
            "name": { "type": ["string", "null"], "maxLength": NODE_NAME_MAX }
        }
    })
}

pub fn node() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name", "url", "address", "status", "online", "inbounds"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "name": { "type": "string" },
            "url": { "type": "string" },
            "address": { "type": "string", "description": "the host clients dial" },
            "fingerprint": { "type": ["string", "null"] },
            "status": { "type": "string", "enum": ["active", "disabled", "maintenance", "error"] },
            "online": { "type": "boolean" },
            "agentStatus": { "type": ["string", "null"] },
            "cpuLoad": int_or_null(),
            "memoryLoad": int_or_null(),
            "inbounds": { "type": "array", "items": { "type": "object" } },
            "lastSeenAt": int_or_null(),
            "createdAt": { "type": "integer", "format": "int64" },
            "updatedAt": { "type": "integer", "format": "int64" },
            "users": { "type": "integer", "description": "connected users (in GET /nodes)" }
        }
    })
}

pub fn node_list() -> Value {
    json!({ "type": "array", "items": node() })
}

pub fn node_del() -> Value {
    json!({ "type": "object", "required": ["url"], "properties": { "url": { "type": "string" } } })
}

pub fn node_deleted() -> Value {
    json!({ "type": "object", "required": ["id", "url"],
            "properties": { "id": { "type": "string" }, "url": { "type": "string" } } })
}

pub fn user_new() -> Value {
    json!({
        "type": "object",
        "required": ["namesuggest"],
        "properties": { "namesuggest": { "type": "string", "minLength": 1, "maxLength": USER_NAME_MAX } }
    })
}

pub fn user_created() -> Value {
    json!({
        "type": "object",
        "required": ["id", "subscription"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "subscription": { "type": "string", "format": "uri" }
        }
    })
}

pub fn user_del() -> Value {
    json!({ "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } })
}

pub fn user_deleted() -> Value {
    json!({ "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } })
}

pub fn user_list() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "name", "subscription", "createdAt", "nodes", "totalIncoming", "totalOutcoming"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "name": { "type": ["string", "null"] },
                "subscription": { "type": "string" },
                "createdAt": { "type": "integer", "format": "int64" },
                "nodes": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "nodeId": { "type": "string" }, "node": { "type": "string" },
                        "connected": { "type": "boolean" },
                        "incoming": { "type": "integer", "description": "KiB sent by the user" },
                        "outcoming": { "type": "integer", "description": "KiB sent to the user" }
                    }
                } },
                "totalIncoming": { "type": "integer" },
                "totalOutcoming": { "type": "integer" }
            }
        }
    })
}

pub fn subscription() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["node", "address", "protocol", "port", "link", "outbound"],
            "properties": {
                "node": { "type": "string" },
                "address": { "type": "string" },
                "protocol": { "type": "string", "enum": ["vless", "vmess", "trojan"] },
                "port": { "type": "integer" },
                "network": { "type": "string" },
                "security": { "type": "string" },
                "link": { "type": "string", "description": "vless://, vmess:// or trojan:// share link" },
                "outbound": { "type": "object", "description": "Xray/v2ray client outbound" }
            }
        }
    })
}
