//! JSON Schemas of the routes' bodies, for the host's OpenAPI document.

use serde_json::{json, Value};

use crate::admin::STATES;
use crate::template::TEXT_MAX;
use nexuma_sdk::{DEFAULT_LIMIT, MAX_LIMIT};

fn ms() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" })
}

fn nullable_ms() -> Value {
    json!({ "type": ["integer", "null"], "format": "int64", "description": "epoch milliseconds" })
}

pub fn list_query() -> Value {
    json!({
        "state": { "type": "string", "enum": STATES, "description": "only messages in this state" },
        "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT },
        "offset": { "type": "integer", "minimum": 0, "default": 0 }
    })
}

pub fn page() -> Value {
    json!({
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": { "type": "array", "items": {
                "type": "object",
                "required": ["id", "userId", "kind", "params", "state", "attempts",
                             "nextAttemptAt", "claimedAt", "lastError", "createdAt", "sentAt"],
                "properties": {
                    "id": { "type": "integer" },
                    "userId": { "type": "string" },
                    "kind": { "type": "string" },
                    "params": { "type": "object", "description": "the values of the text's placeholders" },
                    "state": { "type": "string", "enum": STATES },
                    "attempts": { "type": "integer" },
                    "nextAttemptAt": ms(),
                    "claimedAt": nullable_ms(),
                    "lastError": { "type": ["string", "null"] },
                    "createdAt": ms(),
                    "sentAt": nullable_ms()
                }
            }},
            "total": { "type": "integer" },
            "limit": { "type": "integer" },
            "offset": { "type": "integer" }
        }
    })
}

pub fn template() -> Value {
    json!({
        "type": "object",
        "required": ["kind", "audience", "placeholders", "text", "defaultText", "custom", "updatedAt"],
        "properties": {
            "kind": { "type": "string" },
            "audience": { "type": "string", "enum": ["user", "admins"] },
            "placeholders": { "type": "array", "items": { "type": "string" } },
            "text": { "type": "string" },
            "defaultText": { "type": "string" },
            "custom": { "type": "boolean", "description": "the operator's text replaces the default" },
            "updatedAt": nullable_ms()
        }
    })
}

pub fn templates() -> Value {
    json!({
        "type": "object",
        "required": ["items"],
        "properties": { "items": { "type": "array", "items": template() } }
    })
}

pub fn template_body() -> Value {
    json!({
        "type": "object",
        "required": ["text"],
        "additionalProperties": false,
        "properties": {
            "text": {
                "type": "string", "minLength": 1, "maxLength": TEXT_MAX,
                "description": "plain text; {name} placeholders must be ones the kind has"
            }
        }
    })
}
