//! JSON Schemas of the request and response bodies, for the host's OpenAPI document.

use serde_json::{json, Value};

use crate::validate::{EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN};
use nexuma_sdk::{DEFAULT_LIMIT, MAX_LIMIT};

fn nullable_string() -> Value {
    json!({ "type": ["string", "null"] })
}

fn email() -> Value {
    json!({ "type": "string", "format": "email", "maxLength": EMAIL_MAX })
}

fn password() -> Value {
    json!({ "type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX })
}

fn name() -> Value {
    json!({ "type": ["string", "null"], "maxLength": NAME_MAX })
}

pub fn profile() -> Value {
    json!({
        "type": "object",
        "required": ["id", "email", "name", "role", "status", "blocked", "telegramId",
                     "telegramUsername", "createdAt", "updatedAt"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "email": { "type": ["string", "null"], "format": "email" },
            "name": nullable_string(),
            "role": { "type": "string", "enum": ["user", "admin"] },
            "status": { "type": "string", "enum": ["active", "pending", "rejected"] },
            "blocked": { "type": "boolean" },
            "telegramId": nullable_string(),
            "telegramUsername": nullable_string(),
            "createdAt": { "type": "integer", "format": "int64", "description": "epoch milliseconds" },
            "updatedAt": { "type": "integer", "format": "int64", "description": "epoch milliseconds" },
            "telegramNotifications": {
                "type": "boolean",
                "description": "only on the caller's own profile (`/me`): whether the Core sends them Telegram messages"
            },
            "lastSeenAt": {
                "type": ["integer", "null"], "format": "int64",
                "description": "only in GET /admin/users/:id: epoch milliseconds of the latest presence change or traffic hour of the user's links; null: never seen"
            }
        }
    })
}

/// A token pair plus the user it belongs to.
pub fn session() -> Value {
    json!({
        "type": "object",
        "required": ["accessToken", "refreshToken", "expiresIn", "user"],
        "properties": {
            "accessToken": { "type": "string" },
            "refreshToken": { "type": "string" },
            "expiresIn": { "type": "integer", "description": "access token lifetime in seconds" },
            "user": profile()
        }
    })
}

/// Registration answers a session, or (when approval is required) the user and a message.
pub fn register_response() -> Value {
    json!({
        "oneOf": [
            session(),
            {
                "type": "object",
                "required": ["user", "message"],
                "properties": { "user": profile(), "message": { "type": "string" } }
            }
        ]
    })
}

pub fn register_request() -> Value {
    json!({
        "type": "object",
        "required": ["email", "password"],
        "properties": { "email": email(), "password": password(), "name": name() }
    })
}

pub fn login_request() -> Value {
    json!({
        "type": "object",
        "required": ["email", "password"],
        "properties": { "email": email(), "password": { "type": "string" } }
    })
}

pub fn refresh_request() -> Value {
    json!({
        "type": "object",
        "required": ["refreshToken"],
        "properties": { "refreshToken": { "type": "string" } }
    })
}

pub fn telegram_request() -> Value {
    json!({
        "type": "object",
        "description": "The Telegram Login Widget's user object, exactly as Telegram sent it",
        "required": ["id", "auth_date", "hash"],
        "properties": {
            "id": { "type": "integer" },
            "first_name": { "type": "string" },
            "last_name": { "type": "string" },
            "username": { "type": "string" },
            "photo_url": { "type": "string" },
            "auth_date": { "type": "integer", "description": "epoch seconds" },
            "hash": { "type": "string" }
        }
    })
}

pub fn bot_id() -> Value {
    json!({
        "type": "object",
        "required": ["botId"],
        "properties": { "botId": { "type": "string" } }
    })
}

pub fn profile_patch() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "properties": {
            "name": name(),
            "email": email(),
            "password": password(),
            "currentPassword": {
                "type": "string",
                "description": "required to change an existing password"
            },
            "telegramNotifications": {
                "type": "boolean",
                "description": "whether the Core sends the caller Telegram messages (default true)"
            }
        }
    })
}

pub fn user_page() -> Value {
    json!({
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": { "type": "array", "items": profile() },
            "total": { "type": "integer" },
            "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT },
            "offset": { "type": "integer", "minimum": 0 }
        }
    })
}

pub fn admin_user_patch() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "properties": {
            "status": { "type": "string", "enum": ["active", "pending", "rejected"] },
            "blocked": { "type": "boolean" },
            "role": { "type": "string", "enum": ["user", "admin"] },
            "name": name(),
            "email": email()
        }
    })
}

pub fn settings() -> Value {
    json!({
        "type": "object",
        "required": ["registrationRequireApproval"],
        "properties": { "registrationRequireApproval": { "type": "boolean" } }
    })
}
