//! JSON Schemas of the request and response bodies, for the host's OpenAPI document.

use serde_json::{json, Value};

use crate::balance::{KEY_MAX, MAX_AMOUNT, REASON_MAX};
use crate::tariffs::{MAX_DURATION_MONTHS, MAX_ITEMS, NAME_MAX, PROTOCOLS};
use nexuma_sdk::{DEFAULT_LIMIT, MAX_LIMIT};

fn millis() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" })
}

fn strings() -> Value {
    json!({ "type": "array", "maxItems": MAX_ITEMS, "items": { "type": "string", "minLength": 1 } })
}

fn page(item: Value) -> Value {
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

fn tariff_fields() -> Value {
    json!({
        "name": { "type": "string", "minLength": 1, "maxLength": NAME_MAX },
        "price": { "type": "integer", "format": "int64", "minimum": 0, "description": "minor units" },
        "currency": { "type": "string", "pattern": "^[A-Z]{3}$" },
        "durationMonths": {
            "type": ["integer", "null"], "minimum": 1, "maximum": MAX_DURATION_MONTHS,
            "description": "null: indefinite"
        },
        "trafficLimitBytes": {
            "type": ["integer", "null"], "format": "int64", "minimum": 1,
            "description": "null: unlimited"
        },
        "protocols": { "type": "array", "items": { "type": "string", "enum": PROTOCOLS } },
        "nodeIds": strings(),
        "externalSourceIds": strings(),
        "active": { "type": "boolean" }
    })
}

pub fn tariff() -> Value {
    let mut props = tariff_fields();
    props["id"] = json!({ "type": "string", "format": "uuid" });
    props["createdAt"] = millis();
    props["updatedAt"] = millis();
    json!({
        "type": "object",
        "required": ["id", "name", "price", "currency", "durationMonths", "trafficLimitBytes",
                     "protocols", "nodeIds", "externalSourceIds", "active", "createdAt", "updatedAt"],
        "properties": props
    })
}

pub fn tariff_create() -> Value {
    json!({
        "type": "object",
        "required": ["name", "price", "currency"],
        "properties": tariff_fields()
    })
}

pub fn tariff_patch() -> Value {
    json!({ "type": "object", "minProperties": 1, "properties": tariff_fields() })
}

pub fn tariff_page() -> Value {
    page(tariff())
}

pub fn empty() -> Value {
    json!({ "description": "no content" })
}

pub fn balance() -> Value {
    json!({
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": { "type": "integer", "format": "int64", "minimum": 0, "description": "minor units" },
            "currency": { "type": "string" }
        }
    })
}

pub fn transaction() -> Value {
    json!({
        "type": "object",
        "required": ["id", "userId", "kind", "amount", "balanceAfter", "currency", "reason",
                     "actorId", "reversesId", "idempotencyKey", "createdAt"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "userId": { "type": "string" },
            "kind": { "type": "string", "enum": ["deposit", "withdrawal", "charge", "refund", "renewal"] },
            "amount": { "type": "integer", "format": "int64", "description": "signed minor units: + in, - out" },
            "balanceAfter": { "type": "integer", "format": "int64" },
            "currency": { "type": "string" },
            "reason": { "type": ["string", "null"] },
            "actorId": { "type": ["string", "null"] },
            "reversesId": { "type": ["string", "null"], "description": "the transaction a refund reverses" },
            "idempotencyKey": { "type": ["string", "null"] },
            "createdAt": millis()
        }
    })
}

pub fn transaction_page() -> Value {
    page(transaction())
}

fn key() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": KEY_MAX,
        "description": "a retry with the same key answers the first result and changes nothing (the idempotency-key header wins)"
    })
}

pub fn movement_request() -> Value {
    json!({
        "type": "object",
        "required": ["amount"],
        "properties": {
            "amount": { "type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_AMOUNT },
            "reason": { "type": "string", "maxLength": REASON_MAX },
            "idempotencyKey": key()
        }
    })
}

pub fn refund_request() -> Value {
    json!({
        "type": "object",
        "required": ["transactionId"],
        "properties": {
            "transactionId": { "type": "string" },
            "amount": {
                "type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_AMOUNT,
                "description": "default: all that is not yet refunded"
            },
            "reason": { "type": "string", "maxLength": REASON_MAX },
            "idempotencyKey": key()
        }
    })
}

pub fn audit_page() -> Value {
    page(json!({
        "type": "object",
        "required": ["id", "actorId", "action", "targetType", "targetId", "ip", "before", "after", "createdAt"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "actorId": { "type": ["string", "null"] },
            "action": { "type": "string" },
            "targetType": { "type": ["string", "null"] },
            "targetId": { "type": ["string", "null"] },
            "ip": { "type": ["string", "null"] },
            "before": { "description": "JSON snapshot before the change, or null" },
            "after": { "description": "JSON snapshot after the change, or null" },
            "createdAt": millis()
        }
    }))
}
