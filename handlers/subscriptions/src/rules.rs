//! Which format a client gets: an ordered, operator-editable list of rules on request headers
//! (`GET/PUT /admin/subscription-rules`), seeded with the union of Marzban's and Remnawave's
//! defaults. The first rule that matches wins; no match is v2ray. The rules themselves and
//! their matching are `format_rules`'; this module stores them.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, db, log, response, ApiError, Request, Response};
use serde::Deserialize;

pub use format_rules::{defaults, headers, pick, Rule};

const SETTING: &str = "subscriptions.rules";
const MAX_RULES: usize = 100;

/// The rules in force: the operator's, or the defaults.
pub fn load(db: &impl Executor) -> Result<Vec<Rule>, ApiError> {
    let rows = db.query(
        "SELECT value FROM settings WHERE key = $1",
        &[SETTING.into()],
    )?;
    let Some(raw) = rows.first().map(|r| r.string("value")).transpose()? else {
        return Ok(defaults());
    };
    Ok(serde_json::from_str(&raw).unwrap_or_else(|e| {
        log::warn(
            "subscription rules unreadable; using the defaults",
            &[("error", &e.to_string())],
        );
        defaults()
    }))
}

pub fn get(_req: &Request) -> Result<Response, ApiError> {
    response::json(
        200,
        &serde_json::json!({ "rules": load(&Pool)?, "defaults": defaults() }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    rules: Vec<Rule>,
}

/// `PUT /admin/subscription-rules {rules}`: replaces the list; `[]` sends everyone v2ray.
pub fn put(req: &Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    if body.rules.len() > MAX_RULES {
        return Err(ApiError::validation(
            "rules",
            format!("at most {MAX_RULES}"),
        ));
    }
    let mut rules = body.rules;
    for (i, r) in rules.iter_mut().enumerate() {
        r.header = r.header.trim().to_ascii_lowercase();
        r.name = r.name.trim().to_string();
        r.check(i)
            .map_err(|e| ApiError::validation(e.field, e.message))?;
    }
    let before = load(&Pool)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    db::set_setting(
        &tx,
        SETTING,
        &serde_json::to_string(&rules).map_err(ApiError::internal)?,
        now,
    )?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "subscription_rules.update",
            target_type: "settings",
            target_id: SETTING,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&rules).ok(),
        },
        now,
    )?;
    tx.content_changed();
    tx.commit()?;
    response::json(200, &serde_json::json!({ "rules": rules }))
}
