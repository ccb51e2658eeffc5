//! Billing's operator settings, kept in the `settings` table (values are JSON text):
//! `GET/PATCH /admin/billing/settings`.

use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, log, response, ApiError, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::lifecycle::RefundRule;

/// What a user gets back when cancelling their own subscription.
const USER_CANCEL_REFUND: &str = "billing.userCancelRefund";

/// The refund rule of users' own cancellations; `none` unless the operator chose another.
pub fn user_cancel_refund(db: &impl Executor) -> Result<RefundRule, ApiError> {
    let Some(raw) = db::setting(db, USER_CANCEL_REFUND)? else {
        return Ok(RefundRule::None);
    };
    let raw = raw.as_str();
    let rule = serde_json::from_str::<String>(raw)
        .ok()
        .and_then(|s| RefundRule::parse(&s));
    Ok(rule.unwrap_or_else(|| {
        log::warn(
            "setting is not a refund rule; using none",
            &[("key", USER_CANCEL_REFUND), ("value", raw)],
        );
        RefundRule::None
    }))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    user_cancel_refund: Option<String>,
}

fn current() -> Result<serde_json::Value, ApiError> {
    Ok(json!({ "userCancelRefund": user_cancel_refund(&Pool)?.name() }))
}

pub fn get(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &current()?)
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    let Some(raw) = body.user_cancel_refund else {
        return response::json(200, &current()?);
    };
    let rule = RefundRule::parse(&raw)
        .ok_or_else(|| ApiError::validation("userCancelRefund", RefundRule::EXPECTED))?;
    let before = current()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    db::set_setting(
        &tx,
        USER_CANCEL_REFUND,
        &json!(rule.name()).to_string(),
        now,
    )?;
    let after = json!({ "userCancelRefund": rule.name() });
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "settings.update",
            target_type: "settings",
            target_id: "billing",
            before: Some(before),
            after: Some(after.clone()),
        },
        now,
    )?;
    tx.commit()?;
    response::json(200, &after)
}
