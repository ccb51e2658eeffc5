//! JSON Schemas of the request and response bodies, for the host's OpenAPI document.

use serde_json::{json, Value};

use crate::balance::{KEY_MAX, REASON_MAX};
use crate::period::MAX_TIME_MS;
use crate::subscriptions::STATUSES;
use crate::tariffs::MAX_TRAFFIC_BYTES;
use nexuma_sdk::{DEFAULT_LIMIT, MAX_LIMIT};

fn millis() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" })
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

/// A tariff as answered: derived from the type it is serialised from.
pub fn tariff() -> Value {
    nexuma_sdk::answer_schema_of::<crate::tariffs::Tariff>()
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

/// A balance movement as answered: derived from the type it is serialised from.
pub fn transaction() -> Value {
    nexuma_sdk::answer_schema_of::<crate::ledger::Entry>()
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

fn opt_millis(description: &str) -> Value {
    json!({ "type": ["integer", "null"], "format": "int64", "description": description })
}

fn refund_rule() -> Value {
    json!({ "type": "string", "enum": ["none", "prorata", "full"] })
}

pub fn billing_settings() -> Value {
    json!({
        "type": "object",
        "properties": {
            "userCancelRefund": {
                "allOf": [refund_rule()],
                "description": "what users get back when they cancel their own subscription (default none)"
            }
        }
    })
}

/// A link as answered: derived from the type it is serialised from.
pub fn link() -> Value {
    nexuma_sdk::answer_schema_of::<crate::links::Link>()
}

pub fn link_page() -> Value {
    page(link())
}

pub fn reset_reply() -> Value {
    json!({
        "type": "object",
        "required": ["links"],
        "properties": { "links": { "type": "array", "items": link() } }
    })
}

pub fn subscription() -> Value {
    json!({
        "type": "object",
        "required": ["id", "userId", "tariffId", "tariffName", "status", "statusReason", "price",
                     "currency", "durationMonths", "trafficLimitBytes", "trafficUsedBytes",
                     "autoRenew", "periodStart", "expiresAt", "chargeId", "renewals", "endedAt",
                     "createdAt", "updatedAt", "links"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "userId": { "type": "string" },
            "tariffId": { "type": "string" },
            "tariffName": { "type": "string" },
            "status": { "type": "string", "enum": STATUSES },
            "statusReason": {
                "type": ["string", "null"],
                "enum": [null, "time", "traffic_limit", "insufficient_funds", "currency_mismatch", "user", "admin"]
            },
            "price": { "type": "integer", "format": "int64", "description": "minor units per period" },
            "currency": { "type": "string" },
            "durationMonths": { "type": ["integer", "null"], "description": "null: indefinite" },
            "trafficLimitBytes": { "type": ["integer", "null"], "format": "int64", "description": "null: unlimited" },
            "trafficUsedBytes": { "type": "integer", "format": "int64", "description": "in the current period" },
            "autoRenew": { "type": "boolean" },
            "periodStart": millis(),
            "expiresAt": opt_millis("null: never expires by time"),
            "chargeId": { "type": ["string", "null"], "description": "the ledger row that paid the current period" },
            "renewals": { "type": "integer" },
            "endedAt": opt_millis("when it expired or was cancelled"),
            "createdAt": millis(),
            "updatedAt": millis(),
            "links": { "type": "array", "items": link() }
        }
    })
}

pub fn subscription_page() -> Value {
    page(subscription())
}

pub fn purchase_request() -> Value {
    json!({
        "type": "object",
        "required": ["tariffId"],
        "properties": {
            "tariffId": { "type": "string" },
            "autoRenew": { "type": "boolean", "default": false },
            "idempotencyKey": key(),
            "allowDuplicate": allow_duplicate()
        }
    })
}

fn allow_duplicate() -> Value {
    json!({
        "type": "boolean", "default": false,
        "description": "start it even while the user has an active subscription of the same tariff (else 409 duplicate_subscription)"
    })
}

pub fn activate_request() -> Value {
    json!({
        "type": "object",
        "required": ["userId", "tariffId"],
        "properties": {
            "userId": { "type": "string" },
            "tariffId": { "type": "string" },
            "autoRenew": { "type": "boolean", "default": false },
            "charge": { "type": "boolean", "default": false, "description": "take the price from the user's balance" },
            "idempotencyKey": key(),
            "force": {
                "type": "boolean", "default": false,
                "description": "give it to a user who is pending, rejected or blocked (else 409 user_not_active)"
            },
            "allowDuplicate": allow_duplicate()
        }
    })
}

pub fn auto_renew_request() -> Value {
    json!({
        "type": "object",
        "properties": { "autoRenew": { "type": "boolean" } },
        "description": "an empty body toggles auto-renewal"
    })
}

pub fn subscription_patch() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "properties": {
            "autoRenew": { "type": "boolean" },
            "expiresAt": {
                "type": ["integer", "null"], "format": "int64", "minimum": 0,
                "maximum": MAX_TIME_MS, "description": "epoch milliseconds; null: never expires by time"
            },
            "trafficLimitBytes": {
                "type": ["integer", "null"], "format": "int64", "minimum": 1,
                "maximum": MAX_TRAFFIC_BYTES
            },
            "trafficUsedBytes": {
                "type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_TRAFFIC_BYTES
            },
            "status": { "type": "string", "enum": ["active", "expired"] }
        }
    })
}

pub fn cancel_request() -> Value {
    json!({
        "type": "object",
        "properties": {
            "refund": { "allOf": [refund_rule()], "description": "default none" },
            "reason": { "type": "string", "maxLength": REASON_MAX }
        }
    })
}

pub fn cancel_reply() -> Value {
    json!({
        "type": "object",
        "required": ["subscription", "refund"],
        "properties": {
            "subscription": subscription(),
            "refund": { "oneOf": [transaction(), { "type": "null" }] }
        }
    })
}

pub fn tick_report() -> Value {
    json!({
        "type": "object",
        "required": ["due", "renewed", "expired", "failed"],
        "properties": {
            "due": { "type": "integer" },
            "renewed": { "type": "integer" },
            "expired": { "type": "integer" },
            "failed": { "type": "integer" }
        }
    })
}
