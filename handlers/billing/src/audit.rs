//! The audit log: who did what, when, from which address, with before/after snapshots.
//! Rows are written inside the transaction of the change they describe.

use nexuma_sdk::db::{self, Executor, Row, Value};
use nexuma_sdk::{id, response, ApiError, Request, Response};
use serde::Serialize;

use crate::util;

/// One audit entry about to be written.
pub struct Entry<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Writes `entry` as done by the request's caller from its address.
pub fn record(
    db: &impl Executor,
    req: &Request,
    entry: Entry<'_>,
    now: i64,
) -> Result<(), ApiError> {
    let actor = req.caller.as_ref().map(|c| c.id.clone());
    db.execute(
        "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, ip, before, after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id::new_v4().into(),
            actor.into(),
            entry.action.into(),
            entry.target_type.into(),
            entry.target_id.into(),
            req.remote_addr.as_str().into(),
            entry.before.map(|v| v.to_string()).into(),
            entry.after.map(|v| v.to_string()).into(),
            now.into(),
        ],
    )?;
    Ok(())
}

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
        before: util::json_text(row.opt_str("before")?),
        after: util::json_text(row.opt_str("after")?),
        created_at: row.i64("created_at")?,
    })
}

#[derive(Serialize)]
struct Page {
    items: Vec<LogEntry>,
    total: i64,
    limit: i64,
    offset: i64,
}

/// `GET /admin/logs?limit&offset&actorId&action&targetId`.
pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    for (name, column) in [
        ("actorId", "actor_id"),
        ("action", "action"),
        ("targetId", "target_id"),
    ] {
        if let Some(value) = req.query(name).map(str::trim).filter(|v| !v.is_empty()) {
            params.push(value.into());
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let total = util::count(
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
    response::json(
        200,
        &Page {
            items,
            total,
            limit,
            offset,
        },
    )
}
