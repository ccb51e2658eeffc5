//! JSON Schemas of the query parameters and responses, for the host's OpenAPI document.

use serde_json::{json, Value};

use crate::calendar::{Period, MAX_DAYS};
use crate::listing::{MAX_LIMIT, SORTS};
use crate::params::DEFAULT_DAYS;

fn millis() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" })
}

fn nullable_millis() -> Value {
    json!({ "type": ["integer", "null"], "format": "int64", "description": "epoch milliseconds" })
}

fn bytes() -> Value {
    json!({
        "type": "object", "required": ["up", "down"],
        "properties": { "up": { "type": "integer" }, "down": { "type": "integer" } }
    })
}

fn id(what: &str) -> Value {
    json!({ "type": "string", "description": what })
}

fn tz() -> Value {
    json!({ "type": "string", "default": "UTC",
            "description": "IANA time zone whose local days and hours the buckets are, e.g. Europe/Berlin" })
}

fn bound(which: &str) -> Value {
    json!({ "type": "string", "description": format!(
        "{which}: an RFC 3339 time (2026-03-29T10:00:00Z) or a date (2026-03-29; as `to` the \
         day is included)") })
}

fn days() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS,
            "description": "calendar days ending today" })
}

fn granularity() -> Value {
    json!({ "type": "string", "enum": ["hour", "day"], "default": "hour",
            "description": "rows per UTC hour or per UTC day" })
}

// ----- query parameters

pub fn traffic_query() -> Value {
    json!({
        "period": { "type": "string", "enum": Period::NAMES,
                    "description": "the calendar period containing today (weeks start on Monday); default month; not with from/to" },
        "from": bound("start"),
        "to": bound("end (exclusive for a time; default now)"),
        "tz": tz(),
        "subscriptionId": id("only this subscription's links (the caller's own)"),
        "linkId": id("only this link (the caller's own)"),
    })
}

pub fn days_query() -> Value {
    json!({
        "days": days(), "tz": tz(),
        "subscriptionId": id("only this subscription's links (the caller's own)"),
        "linkId": id("only this link (the caller's own)"),
    })
}

pub fn admin_usage_query() -> Value {
    json!({
        "userId": id("only this user's rows"),
        "subscriptionId": id("only rows of this subscription's links"),
        "linkId": id("only this link's rows"),
        "nodeId": id("only this node's rows"),
        "from": bound("start (UTC; default 24 hours ago)"),
        "to": bound("end (UTC; default now)"),
        "granularity": granularity(),
        "sort": { "type": "string", "enum": SORTS, "default": "time_asc" },
        "cursor": { "type": "string", "description": "nextCursor of the previous page" },
        "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100 },
    })
}

pub fn users_stats_query() -> Value {
    json!({
        "days": days(), "tz": tz(),
        "limit": { "type": "integer", "minimum": 1, "maximum": 100, "default": 10,
                   "description": "how many top users by traffic" },
    })
}

pub fn user_stats_query() -> Value {
    json!({ "tz": tz() })
}

pub fn outbound_query() -> Value {
    json!({
        "from": bound("start (UTC; default 24 hours or 30 days ago)"),
        "to": bound("end (UTC; default now)"),
        "granularity": granularity(),
        "tag": id("only this outbound tag"),
    })
}

// ----- responses

pub fn traffic() -> Value {
    json!({
        "type": "object",
        "required": ["tz", "granularity", "from", "to", "buckets", "total"],
        "properties": {
            "tz": { "type": "string" },
            "granularity": { "enum": ["hour", "day"] },
            "from": millis(), "to": millis(),
            "buckets": { "type": "array", "items": {
                "type": "object", "required": ["start", "label", "up", "down"],
                "properties": {
                    "start": millis(),
                    "label": { "type": "string", "description": "local hour (2026-03-29T03:00+02:00) or date" },
                    "up": { "type": "integer" }, "down": { "type": "integer" }
                } } },
            "total": bytes()
        }
    })
}

pub fn daily() -> Value {
    json!({
        "type": "object", "required": ["tz", "days", "rows", "total"],
        "properties": {
            "tz": { "type": "string" }, "days": { "type": "integer" },
            "rows": { "type": "array", "items": {
                "type": "object", "required": ["date", "start", "up", "down"],
                "properties": { "date": { "type": "string", "format": "date" }, "start": millis(),
                                "up": { "type": "integer" }, "down": { "type": "integer" } } } },
            "total": bytes()
        }
    })
}

pub fn hourly_dist() -> Value {
    json!({
        "type": "object", "required": ["tz", "days", "hours", "total"],
        "properties": {
            "tz": { "type": "string" }, "days": { "type": "integer" },
            "from": millis(), "to": millis(),
            "hours": { "type": "array", "minItems": 24, "maxItems": 24, "items": {
                "type": "object", "required": ["hour", "up", "down", "bytes", "share"],
                "properties": { "hour": { "type": "integer", "minimum": 0, "maximum": 23 },
                    "up": { "type": "integer" }, "down": { "type": "integer" },
                    "bytes": { "type": "integer" },
                    "share": { "type": "number", "minimum": 0, "maximum": 1 } } } },
            "total": bytes()
        }
    })
}

fn summary_properties() -> Value {
    json!({
        "subscriptions": {
            "type": "object", "required": ["active", "expired", "cancelled", "activeDetails"],
            "properties": {
                "active": { "type": "integer" }, "expired": { "type": "integer" },
                "cancelled": { "type": "integer" },
                "activeDetails": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" }, "tariffName": { "type": "string" },
                        "usedBytes": { "type": "integer" },
                        "limitBytes": { "type": ["integer", "null"] },
                        "leftBytes": { "type": ["integer", "null"], "description": "null: unlimited" },
                        "expiresAt": nullable_millis(),
                        "daysLeft": { "type": ["integer", "null"], "description": "null: never expires by time; a started day counts" }
                    } } }
            }
        },
        "balance": { "type": "object", "properties": {
            "amount": { "type": "integer", "description": "minor units" },
            "currency": { "type": "string" } } },
        "links": { "type": "object", "properties": {
            "enabled": { "type": "integer" }, "total": { "type": "integer" } } },
        "devicesOnline": { "type": "integer",
            "description": "the user's links online now on nodes whose agent is live" }
    })
}

pub fn me_stats() -> Value {
    json!({ "type": "object", "required": ["subscriptions", "balance", "links", "devicesOnline"],
            "properties": summary_properties() })
}

pub fn user_stats() -> Value {
    let mut props = summary_properties();
    props["userId"] = json!({ "type": "string" });
    props["tz"] = json!({ "type": "string" });
    props["traffic"] = json!({ "type": "object", "properties": {
        "today": bytes(), "last7Days": bytes(), "last30Days": bytes() },
        "description": "local calendar days of tz, today included" });
    props["linkDetails"] = json!({ "type": "array", "items": { "type": "object", "properties": {
        "id": { "type": "string" }, "name": { "type": ["string", "null"] },
        "enabled": { "type": "boolean" }, "subscriptionId": { "type": ["string", "null"] },
        "online": { "type": "boolean" },
        "onlineNodes": { "type": "array", "items": { "type": "string" } },
        "lastSeenAt": nullable_millis() } } });
    props["lastSeenAt"] = nullable_millis();
    json!({ "type": "object", "properties": props })
}

pub fn users_stats() -> Value {
    json!({
        "type": "object",
        "properties": {
            "total": { "type": "integer" },
            "byStatus": { "type": "object", "properties": {
                "active": { "type": "integer" }, "pending": { "type": "integer" },
                "rejected": { "type": "integer" } } },
            "blocked": { "type": "integer" },
            "withActiveSubscription": { "type": "integer" },
            "tz": { "type": "string" }, "days": { "type": "integer" },
            "newUsers": { "type": "array", "items": { "type": "object", "properties": {
                "date": { "type": "string", "format": "date" }, "start": millis(),
                "count": { "type": "integer" } } } },
            "topUsers": { "type": "array", "items": { "type": "object", "properties": {
                "userId": { "type": "string" }, "email": { "type": ["string", "null"] },
                "name": { "type": ["string", "null"] }, "up": { "type": "integer" },
                "down": { "type": "integer" }, "bytes": { "type": "integer" } } } }
        }
    })
}

pub fn usage_page() -> Value {
    json!({
        "type": "object", "required": ["granularity", "from", "to", "items", "nextCursor", "totals"],
        "properties": {
            "granularity": { "enum": ["hour", "day"] }, "from": millis(), "to": millis(),
            "items": { "type": "array", "items": { "type": "object", "properties": {
                "time": millis(), "userId": { "type": "string" }, "nodeId": { "type": "string" },
                "linkId": { "type": "string" }, "up": { "type": "integer" },
                "down": { "type": "integer" } } } },
            "nextCursor": { "type": ["string", "null"], "description": "null on the last page" },
            "totals": { "type": "object", "description": "the whole filter, every page",
                "required": ["up", "down"],
                "properties": { "up": { "type": "integer" }, "down": { "type": "integer" } } }
        }
    })
}

pub fn outbound() -> Value {
    json!({
        "type": "object",
        "properties": {
            "nodeId": { "type": "string" }, "granularity": { "enum": ["hour", "day"] },
            "from": millis(), "to": millis(),
            "tags": { "type": "array", "items": { "type": "object", "properties": {
                "tag": { "type": "string" },
                "points": { "type": "array", "items": { "type": "object", "properties": {
                    "time": millis(), "up": { "type": "integer" }, "down": { "type": "integer" } } } },
                "total": bytes() } } },
            "total": bytes()
        }
    })
}
