//! JSON Schemas for the host's OpenAPI document.

use serde_json::{json, Value};

pub fn page(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": { "type": "array", "items": item },
            "total": { "type": "integer" }, "limit": { "type": "integer" }, "offset": { "type": "integer" }
        }
    })
}

pub fn export() -> Value {
    json!({
        "type": "string",
        "description": "v2ray: standard base64 of share links, one per line (text/plain); clash: a mihomo config (text/yaml); singbox: a sing-box 1.12+ config (application/json). Headers: subscription-userinfo, profile-title, profile-update-interval, profile-web-page-url, support-url, content-disposition, etag (If-None-Match gives 304), vary (the request headers the answer depends on: those the format rules read, and user-agent for singbox)"
    })
}

pub fn info() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": { "enum": ["active", "expired", "cancelled", "disabled", "suspended"] },
            "statusReason": { "type": "string", "description": "absent while active" },
            "message": { "type": "string", "description": "why it grants nothing; absent while active" },
            "tariff": { "type": "string" },
            "trafficUsedBytes": { "type": "integer" },
            "trafficLimitBytes": { "type": "integer", "description": "absent: unlimited" },
            "expiresAt": { "type": "integer", "description": "epoch milliseconds; absent: never" },
            "link": { "type": "object", "properties": {
                "name": { "type": "string", "description": "absent for an unnamed link" },
                "enabled": { "type": "boolean" } } },
            "links": {
                "type": "array", "items": { "type": "string" },
                "description": "the names of the subscription's named links"
            },
            "urls": { "type": "object" }
        },
        "description": "nothing is ever null: what there is none of is left out"
    })
}

pub fn configs() -> Value {
    json!({
        "type": "object",
        "properties": { "items": { "type": "array", "items": { "type": "object", "properties": {
            "linkId": { "type": "string" }, "linkName": { "type": ["string", "null"] },
            "url": { "type": "string" }, "status": { "type": "string" },
            "connections": { "type": "array", "items": { "type": "object", "properties": {
                "name": { "type": "string" }, "protocol": { "type": "string" },
                "address": { "type": "string" }, "port": { "type": "integer" },
                "shareLink": { "type": "string" }, "outbound": { "type": "object" } } } } } } } }
    })
}

pub fn settings() -> Value {
    json!({ "type": "object", "properties": {
        "profileTitle": { "type": "string", "maxLength": 100 },
        "updateIntervalHours": { "type": "integer", "minimum": 1, "maximum": 720 },
        "supportUrl": { "type": ["string", "null"] },
        "webPageUrl": { "type": ["string", "null"] },
        "silentNodeGraceSeconds": { "type": "integer", "minimum": 0, "maximum": 86400, "default": 300,
            "description": "how long exports keep listing a node whose agent went silent, counted from when it counts as down (60 s after its last heartbeat)" } } })
}

fn source_fields() -> Value {
    json!({
        "name": { "type": "string", "maxLength": 100 },
        "url": { "type": "string", "description": "http(s) address of a subscription (base64 or plain share links)" },
        "enabled": { "type": "boolean" },
        "intervalMinutes": { "type": "integer", "minimum": 5, "maximum": 10080, "default": 60 }
    })
}

pub fn source() -> Value {
    let mut props = source_fields();
    for key in ["id", "lastError"] {
        props[key] = json!({ "type": ["string", "null"] });
    }
    for key in [
        "entriesCount",
        "lastFetchedAt",
        "lastOkAt",
        "createdAt",
        "updatedAt",
    ] {
        props[key] = json!({ "type": ["integer", "null"] });
    }
    json!({ "type": "object", "properties": props })
}

pub fn source_create() -> Value {
    json!({ "type": "object", "required": ["name", "url"], "properties": source_fields() })
}

pub fn source_patch() -> Value {
    json!({ "type": "object", "properties": source_fields() })
}

pub fn test_url() -> Value {
    json!({ "type": "object", "required": ["url"], "properties": { "url": { "type": "string" } } })
}

pub fn test_report() -> Value {
    json!({ "type": "object", "properties": {
        "ok": { "type": "boolean" }, "url": { "type": "string" }, "entries": { "type": "integer" },
        "protocols": { "type": "object" }, "names": { "type": "array", "items": { "type": "string" } },
        "skipped": { "type": "array", "items": { "type": "string" } }, "error": { "type": "string" } } })
}

pub fn parse_request() -> Value {
    json!({ "type": "object", "required": ["link"], "properties": { "link": { "type": "string", "description": "vless://, vmess://, trojan:// or ss:// link" } } })
}

pub fn parse_reply() -> Value {
    json!({ "type": "object", "properties": {
        "protocol": { "type": "string" }, "name": { "type": "string" }, "address": { "type": "string" },
        "port": { "type": "integer" }, "outbound": { "type": "object", "description": "the core's outbound object" } } })
}

pub fn empty() -> Value {
    json!({ "description": "no content" })
}
