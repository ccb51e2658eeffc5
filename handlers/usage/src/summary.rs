//! One user's standing at a glance: subscriptions by state with what is left of the active ones,
//! balance, links, devices online. `GET /me/stats`; the admin's user stats build on it.

use nexuma_sdk::db;
use nexuma_sdk::money::CURRENCY;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::calendar::DAY_MS;
use crate::presence;

/// An active subscription and what is left of it.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Active {
    id: String,
    tariff_name: String,
    used_bytes: i64,
    /// Null: unlimited.
    limit_bytes: Option<i64>,
    /// Null: unlimited.
    left_bytes: Option<i64>,
    /// Epoch milliseconds; null: never expires by time.
    expires_at: Option<i64>,
    /// Null: never expires by time; a started day counts.
    days_left: Option<i64>,
}

/// The user's subscriptions by state.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscriptions {
    active: usize,
    expired: i64,
    cancelled: i64,
    active_details: Vec<Active>,
}

#[derive(Serialize, JsonSchema)]
pub struct Balance {
    /// Minor units.
    amount: i64,
    #[schemars(extend("enum" = [CURRENCY]))]
    currency: &'static str,
}

#[derive(Serialize, JsonSchema)]
pub struct Links {
    enabled: i64,
    total: i64,
}

/// One user's standing (`GET /me/stats`).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    subscriptions: Subscriptions,
    balance: Balance,
    links: Links,
    /// The user's links online now on nodes whose agent is live.
    devices_online: usize,
}

/// Whole days until `expires_at`, a started day counting as one; never negative.
fn days_left(expires_at: i64, now: i64) -> i64 {
    ((expires_at - now).max(0) + DAY_MS - 1) / DAY_MS
}

fn subscriptions(user: &str, now: i64) -> Result<Subscriptions, ApiError> {
    let rows = db::query(
        "SELECT s.id, s.status, s.traffic_limit_bytes, s.traffic_used_bytes, s.expires_at, \
         t.name AS tariff_name FROM subscriptions s JOIN tariffs t ON t.id = s.tariff_id \
         WHERE s.user_id = $1 ORDER BY s.created_at, s.id",
        &[user.into()],
    )?;
    let (mut expired, mut cancelled) = (0_i64, 0_i64);
    let mut active = Vec::new();
    for row in rows.iter() {
        match row.str("status")? {
            "expired" => expired += 1,
            "cancelled" => cancelled += 1,
            _ => {
                let used = row.i64("traffic_used_bytes")?;
                let limit = row.opt_i64("traffic_limit_bytes")?;
                let expires_at = row.opt_i64("expires_at")?;
                active.push(Active {
                    id: row.string("id")?,
                    tariff_name: row.string("tariff_name")?,
                    used_bytes: used,
                    limit_bytes: limit,
                    left_bytes: limit.map(|l| (l - used).max(0)),
                    expires_at,
                    days_left: expires_at.map(|at| days_left(at, now)),
                });
            }
        }
    }
    Ok(Subscriptions {
        active: active.len(),
        expired,
        cancelled,
        active_details: active,
    })
}

fn balance(user: &str) -> Result<Balance, ApiError> {
    let amount = db::query(
        "SELECT amount FROM balances WHERE user_id = $1",
        &[user.into()],
    )?
    .first()
    .map(|row| row.i64("amount"))
    .transpose()?
    .unwrap_or(0);
    Ok(Balance {
        amount,
        currency: CURRENCY,
    })
}

fn links(user: &str) -> Result<Links, ApiError> {
    let rows = db::query(
        "SELECT enabled FROM subscription_links WHERE user_id = $1",
        &[user.into()],
    )?;
    let mut enabled = 0;
    for row in rows.iter() {
        enabled += i64::from(row.bool("enabled")?);
    }
    Ok(Links {
        enabled,
        total: rows.len() as i64,
    })
}

/// The summary of `user` at `now`.
pub fn of(user: &str, now: i64) -> Result<Summary, ApiError> {
    Ok(Summary {
        links: links(user)?,
        subscriptions: subscriptions(user, now)?,
        balance: balance(user)?,
        devices_online: presence::online_links(user, now)?.len(),
    })
}

/// `GET /me/stats`.
pub fn me(req: &Request) -> Result<Response, ApiError> {
    response::json(200, &of(&req.caller()?.id, clock::now_ms())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexuma_sdk::answer_schema_of;
    use serde_json::json;

    #[test]
    fn the_summary_says_what_is_always_there_and_what_may_be_null() {
        let summary = answer_schema_of::<Summary>();
        let parts = json!(["subscriptions", "balance", "links", "devicesOnline"]);
        assert_eq!(summary["required"], parts);
        let subscriptions = &summary["properties"]["subscriptions"];
        let active = &subscriptions["properties"]["activeDetails"]["items"];
        assert_eq!(active["required"].as_array().map(Vec::len), Some(7));
        for nullable in ["limitBytes", "leftBytes", "expiresAt", "daysLeft"] {
            assert_eq!(
                active["properties"][nullable]["type"],
                json!(["integer", "null"])
            );
        }
        assert_eq!(active["properties"]["usedBytes"]["type"], "integer");
        let balance = &summary["properties"]["balance"];
        assert_eq!(balance["properties"]["currency"]["enum"], json!([CURRENCY]));
        assert_eq!(
            summary["properties"]["links"]["required"],
            json!(["enabled", "total"])
        );
    }

    #[test]
    fn a_started_day_counts_as_one() {
        assert_eq!(days_left(10 * DAY_MS, 0), 10);
        assert_eq!(days_left(10 * DAY_MS, 1), 10);
        assert_eq!(days_left(10 * DAY_MS, DAY_MS + 1), 9);
        assert_eq!(days_left(0, 5), 0);
    }
}
