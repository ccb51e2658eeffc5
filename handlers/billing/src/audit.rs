//! `GET /admin/logs`: the audit log (rows written through `nexuma_sdk::record::audit`).

use nexuma_sdk::cursor::{self, where_all, CursorPage, KeysetPaging, Order, Position};
use nexuma_sdk::db::{self, Row, Value};
use nexuma_sdk::response::Page;
use nexuma_sdk::{response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

/// One audit log entry as the API answers it (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    #[schemars(extend("format" = "uuid"))]
    id: String,
    /// Null: the Core itself.
    actor_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    /// JSON snapshot before the change, or null.
    before: serde_json::Value,
    /// JSON snapshot after the change, or null.
    after: serde_json::Value,
    /// Epoch milliseconds.
    created_at: i64,
}

fn from_row(row: Row<'_>) -> Result<LogEntry, ApiError> {
    Ok(LogEntry {
        id: row.string("id")?,
        actor_id: row.opt_string("actor_id")?,
        action: row.string("action")?,
        target_type: row.opt_string("target_type")?,
        target_id: row.opt_string("target_id")?,
        ip: row.opt_string("ip")?,
        before: json_text(row.opt_str("before")?),
        after: json_text(row.opt_str("after")?),
        created_at: row.i64("created_at")?,
    })
}

/// `GET /admin/logs`'s query: paging and filters, each left out when absent (its JSON Schema is
/// derived from this type).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    #[serde(flatten)]
    paging: KeysetPaging,
    /// Only entries of this actor (a user id).
    actor_id: Option<String>,
    /// Only entries of this action, e.g. `tariff.update`.
    action: Option<String>,
    /// Only entries on this kind of target, e.g. `subscription`.
    target_type: Option<String>,
    /// Only entries on this target.
    target_id: Option<String>,
    /// Only entries from this time on (epoch milliseconds, inclusive).
    #[schemars(range(min = 0))]
    since: Option<i64>,
    /// Only entries before this time (epoch milliseconds, exclusive).
    #[schemars(range(min = 0))]
    until: Option<i64>,
}

impl LogQuery {
    fn read(req: &Request) -> Result<Self, ApiError> {
        let text = |name| {
            req.query(name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        // Present but empty is the default, 0.
        let time = |name| {
            req.query(name)
                .map(|_| req.int_query(name, 0, 0, i64::MAX))
                .transpose()
        };
        Ok(LogQuery {
            paging: req.keyset_paging()?,
            actor_id: text("actorId"),
            action: text("action"),
            target_type: text("targetType"),
            target_id: text("targetId"),
            since: time("since")?,
            until: time("until")?,
        })
    }
}

/// A page of `GET /admin/logs`: the paging convention plus the keyset cursor.
pub type LogPage<'a> = CursorPage<'a, LogEntry>;

/// The log's order: newest first, the id deciding within one millisecond; a page after a cursor
/// is a range of migration 0017's indexes (behind the filtered column).
const ORDER: Order = Order::descending(&["created_at", "id"]);

/// `GET /admin/logs`, newest first, by offset or after a cursor.
pub fn list(req: &Request) -> Result<Response, ApiError> {
    let q = LogQuery::read(req)?;
    let limit = q.paging.limit;
    let at: Option<Position<(i64, String)>> = q.paging.position()?;
    let offset = q.paging.offset_at(at.as_ref());
    let key = at.map(|p| vec![p.key.0.into(), p.key.1.into()]);
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    for (value, column) in [
        (q.actor_id, "actor_id"),
        (q.action, "action"),
        (q.target_type, "target_type"),
        (q.target_id, "target_id"),
    ] {
        if let Some(value) = value {
            params.push(value.into());
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    for (value, op) in [(q.since, ">="), (q.until, "<")] {
        if let Some(value) = value {
            params.push(value.into());
            conditions.push(format!("created_at {op} ${}", params.len()));
        }
    }
    let total = ORDER.total("audit_log", &conditions, &params)?;
    let skip = if key.is_some() { 0 } else { offset };
    if let Some(key) = key {
        conditions.push(ORDER.after(key, &mut params));
    }
    let sql = format!(
        "SELECT id, actor_id, action, target_type, target_id, ip, before, after, created_at \
         FROM audit_log {} ORDER BY {} LIMIT ${} OFFSET ${}",
        where_all(&conditions),
        ORDER.by(),
        params.len() + 1,
        params.len() + 2
    );
    // One more row than the page: whether there is a next page.
    params.push((limit + 1).into());
    params.push(skip.into());
    let mut items = db::query(&sql, &params)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = cursor::finish_page(&mut items, limit, offset, |last| {
        (last.created_at, last.id.clone())
    });
    response::json(
        200,
        &LogPage {
            page: Page {
                items: &items,
                total,
                limit,
                offset,
            },
            next_cursor,
        },
    )
}

/// Parses a JSON TEXT column back into JSON (absent or broken → null).
fn json_text(raw: Option<&str>) -> serde_json::Value {
    raw.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    /// The query the document declares is the one `read` takes: every parameter by its name,
    /// none required, the times' lower bound as `int_query` checks it.
    #[test]
    fn the_log_query_is_what_the_handler_reads() {
        let schema = nexuma_sdk::query_schema_of::<LogQuery>();
        let properties = schema["properties"].as_object().expect("properties");
        let names: Vec<&str> = properties.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "action",
                "actorId",
                "after",
                "limit",
                "offset",
                "since",
                "targetId",
                "targetType",
                "until"
            ]
        );
        assert!(schema["required"].as_array().is_none_or(Vec::is_empty));
        assert_eq!(properties["since"]["type"], "integer");
        assert_eq!(properties["since"]["minimum"], 0);
        assert_eq!(properties["actorId"]["type"], "string");

        assert_eq!(
            properties["offset"]["maximum"],
            nexuma_sdk::cursor::MAX_OFFSET
        );
        // Every parameter but the cursor, which takes no offset.
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .filter(|n| **n != "after")
            .map(|n| (*n, " 7 "))
            .collect();
        let q =
            LogQuery::read(&nexuma_sdk::Request::with_query(&pairs)).expect("every parameter read");
        let text = Some("7".to_string());
        assert_eq!(
            [q.actor_id, q.action, q.target_type, q.target_id],
            [text.clone(), text.clone(), text.clone(), text]
        );
        assert_eq!(
            (q.since, q.until, q.paging.limit, q.paging.offset),
            (Some(7), Some(7), 7, 7)
        );
        assert!(LogQuery::read(&nexuma_sdk::Request::with_query(&[("since", "-1")])).is_err());
        let q = LogQuery::read(&nexuma_sdk::Request::with_query(&[
            ("since", ""),
            ("action", " "),
        ]))
        .expect("empty");
        assert_eq!((q.since, q.action), (Some(0), None));
    }

    #[test]
    fn a_log_entry_always_has_every_field() {
        let entry = nexuma_sdk::answer_schema_of::<LogEntry>();
        assert_eq!(
            entry["required"].as_array().map(Vec::len),
            Some(9),
            "{entry}"
        );
        assert_eq!(entry["properties"]["id"]["format"], "uuid");
        assert_eq!(
            entry["properties"]["actorId"]["type"],
            json!(["string", "null"])
        );
    }
}
