//! Billing's operator settings, kept in the `settings` table (values are JSON text):
//! `GET/PATCH /admin/billing/settings`.

use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
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

/// Billing's settings as the API answers them (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// What users get back when they cancel their own subscription (default none).
    user_cancel_refund: RefundRule,
}

/// `PATCH /admin/billing/settings` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    /// Absent or null: unchanged.
    #[schemars(with = "Option<RefundRule>")]
    user_cancel_refund: Option<String>,
}

fn current() -> Result<Settings, ApiError> {
    Ok(Settings {
        user_cancel_refund: user_cancel_refund(&Pool)?,
    })
}

fn snapshot(settings: &Settings) -> serde_json::Value {
    serde_json::to_value(settings).unwrap_or_default()
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
    let before = snapshot(&current()?);
    let now = clock::now_ms();
    let tx = db::begin()?;
    db::set_setting(
        &tx,
        USER_CANCEL_REFUND,
        &json!(rule.name()).to_string(),
        now,
    )?;
    let after = Settings {
        user_cancel_refund: rule,
    };
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "settings.update",
            target_type: "settings",
            target_id: "billing",
            before: Some(before),
            after: Some(snapshot(&after)),
        },
        now,
    )?;
    tx.commit()?;
    response::json(200, &after)
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The answer always names the rule; the patch may leave it out or send null (both leave it
    /// as it is), and its enum is the rules' own.
    #[test]
    fn the_settings_schemas_say_what_the_routes_take() {
        let answer = nexuma_sdk::answer_schema_of::<Settings>();
        assert_eq!(answer["required"], json!(["userCancelRefund"]));
        let body = nexuma_sdk::schema_of::<Body>();
        assert!(body.get("required").is_none(), "{body}");
        let rule = body["properties"]["userCancelRefund"].to_string();
        assert!(rule.contains(r#""type":"null""#), "{rule}");
        assert!(rule.contains(r#""const":"prorata""#), "{rule}");
        for taken in [json!({}), json!({ "userCancelRefund": null })] {
            let body: Body = serde_json::from_value(taken).expect("taken");
            assert!(body.user_cancel_refund.is_none());
        }
        let full = Settings {
            user_cancel_refund: RefundRule::Full,
        };
        assert_eq!(snapshot(&full), json!({ "userCancelRefund": "full" }));
    }
}
