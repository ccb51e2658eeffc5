//! `GET /admin/logs`: the audit log (rows written through `nexuma_sdk::record::audit`).

use nexuma_sdk::db::{self, Pool, Row, Value};
use nexuma_sdk::{response, ApiError, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry {
    id: String,
    actor_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    before: serde_json::Value,
    after: serde_json::Value,
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

/// `GET /admin/logs?limit&offset&actorId&action&targetType&targetId&since&until` (times in
/// epoch milliseconds, `since` inclusive, `until` exclusive).
pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    for (name, column) in [
        ("actorId", "actor_id"),
        ("action", "action"),
        ("targetType", "target_type"),
        ("targetId", "target_id"),
    ] {
        if let Some(value) = req.query(name).map(str::trim).filter(|v| !v.is_empty()) {
            params.push(value.into());
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    for (name, op) in [("since", ">="), ("until", "<")] {
        if req.query(name).is_some() {
            params.push(req.int_query(name, 0, 0, i64::MAX)?.into());
            conditions.push(format!("created_at {op} ${}", params.len()));
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM audit_log {filter}"),
        &params,
    )?;
    let sql = format!(
        "SELECT id, actor_id, action, target_type, target_id, ip, before, after, created_at \
         FROM audit_log {filter} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
        params.len() + 1,
        params.len() + 2
    );
    params.push(limit.into());
    params.push(offset.into());
    let items = db::query(&sql, &params)?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

/// Parses a JSON TEXT column back into JSON (absent or broken → null).
fn json_text(raw: Option<&str>) -> serde_json::Value {
    raw.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(serde_json::Value::Null)
}
