//! The operator's routes: the outbox (`GET /admin/notifications`) and the texts
//! (`/admin/notifications/templates*`).

use nexuma_sdk::db::{self, Pool, Row, Value};
use nexuma_sdk::notify::{self, Kind, KINDS};
use nexuma_sdk::record;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use serde::{Deserialize, Serialize};

use crate::template;

pub const STATES: [&str; 4] = ["pending", "sending", "sent", "failed"];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    id: i64,
    user_id: String,
    kind: String,
    params: serde_json::Value,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
    claimed_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl Notification {
    fn from_row(row: Row<'_>) -> Result<Self, ApiError> {
        Ok(Notification {
            id: row.i64("id")?,
            user_id: row.string("user_id")?,
            kind: row.string("kind")?,
            params: serde_json::from_str(row.str("params")?).unwrap_or_default(),
            state: row.string("state")?,
            attempts: row.i64("attempts")?,
            next_attempt_at: row.i64("next_attempt_at")?,
            claimed_at: row.opt_i64("claimed_at")?,
            last_error: row.opt_string("last_error")?,
            created_at: row.i64("created_at")?,
            sent_at: row.opt_i64("sent_at")?,
        })
    }
}

/// `GET /admin/notifications?state&limit&offset`, newest first.
pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let state = req.query("state").map(str::trim).filter(|s| !s.is_empty());
    if let Some(state) = state.filter(|s| !STATES.contains(s)) {
        return Err(ApiError::validation(
            "state",
            format!("{state:?} is not one of {}", STATES.join(", ")),
        ));
    }
    let (filter, mut params): (&str, Vec<Value>) = match state {
        Some(state) => ("WHERE state = $1", vec![state.into()]),
        None => ("", Vec::new()),
    };
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM notifications {filter}"),
        &params,
    )?;
    let n = params.len();
    params.extend([limit.into(), offset.into()]);
    let rows = db::query(
        &format!(
            "SELECT id, user_id, kind, params, state, attempts, next_attempt_at, claimed_at, \
             last_error, created_at, sent_at FROM notifications {filter} \
             ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ),
        &params,
    )?;
    let items = rows
        .iter()
        .map(Notification::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateView {
    kind: &'static str,
    audience: &'static str,
    placeholders: &'static [&'static str],
    text: String,
    default_text: &'static str,
    /// Whether the operator's text replaces the default.
    custom: bool,
    updated_at: Option<i64>,
}

fn view(kind: &'static Kind) -> Result<TemplateView, ApiError> {
    let custom = template::custom(&Pool, kind.name)?;
    Ok(TemplateView {
        kind: kind.name,
        audience: kind.audience.name(),
        placeholders: kind.placeholders,
        custom: custom.is_some(),
        updated_at: custom.as_ref().map(|(_, at)| *at),
        text: custom
            .map(|(text, _)| text)
            .unwrap_or_else(|| kind.default_text.to_string()),
        default_text: kind.default_text,
    })
}

/// `GET /admin/notifications/templates`: every kind with its text.
pub fn templates(_req: &Request) -> Result<Response, ApiError> {
    let items = KINDS.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    response::json(200, &serde_json::json!({ "items": items }))
}

fn kind_of(req: &Request) -> Result<&'static Kind, ApiError> {
    let name = req.param("kind")?;
    notify::kind(name).ok_or_else(|| {
        let known: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        ApiError::not_found(
            "unknown_kind",
            format!(
                "no notification kind {name:?}; the kinds are {}",
                known.join(", ")
            ),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    text: String,
}

/// `PUT /admin/notifications/templates/:kind`: the operator's text for a kind.
pub fn put_template(req: &Request) -> Result<Response, ApiError> {
    let kind = kind_of(req)?;
    let body: TemplateBody = req.json()?;
    template::validate(kind, &body.text)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = template::current(&tx, kind)?;
    tx.execute(
        "INSERT INTO notification_templates (kind, text, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (kind) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
        &[kind.name.into(), body.text.as_str().into(), now.into()],
    )?;
    audit(
        &tx,
        req,
        kind,
        "notification_template.update",
        before,
        &body.text,
        now,
    )?;
    tx.commit()?;
    response::json(200, &view(kind)?)
}

/// `DELETE /admin/notifications/templates/:kind`: back to the built-in text.
pub fn reset_template(req: &Request) -> Result<Response, ApiError> {
    let kind = kind_of(req)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = template::current(&tx, kind)?;
    let removed = tx.execute(
        "DELETE FROM notification_templates WHERE kind = $1",
        &[kind.name.into()],
    )?;
    if removed > 0 {
        audit(
            &tx,
            req,
            kind,
            "notification_template.reset",
            before,
            kind.default_text,
            now,
        )?;
    }
    tx.commit()?;
    response::json(200, &view(kind)?)
}

fn audit(
    tx: &db::Transaction,
    req: &Request,
    kind: &Kind,
    action: &str,
    before: String,
    after: &str,
    now: i64,
) -> Result<(), ApiError> {
    record::audit_request(
        tx,
        req,
        "notification_template",
        action,
        kind.name,
        Some(serde_json::json!({ "text": before })),
        Some(serde_json::json!({ "text": after })),
        now,
    )
}
