//! One user's standing at a glance: subscriptions by state with what is left of the active ones,
//! balance, links, devices online. `GET /me/stats`; the admin's user stats build on it.

use nexuma_sdk::db;
use nexuma_sdk::money::CURRENCY;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use serde::Serialize;
use serde_json::{json, Value};

use crate::calendar::DAY_MS;
use crate::presence;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Active {
    id: String,
    tariff_name: String,
    used_bytes: i64,
    /// `None`: unlimited.
    limit_bytes: Option<i64>,
    left_bytes: Option<i64>,
    /// `None`: never expires by time.
    expires_at: Option<i64>,
    days_left: Option<i64>,
}

/// Whole days until `expires_at`, a started day counting as one; never negative.
fn days_left(expires_at: i64, now: i64) -> i64 {
    ((expires_at - now).max(0) + DAY_MS - 1) / DAY_MS
}

fn subscriptions(user: &str, now: i64) -> Result<Value, ApiError> {
    let rows = db::query(
        "SELECT s.id, s.status, s.traffic_limit_bytes, s.traffic_used_bytes, s.expires_at, \
         t.name AS tariff_name FROM subscriptions s JOIN tariffs t ON t.id = s.tariff_id \
         WHERE s.user_id = $1 ORDER BY s.created_at, s.id",
        &[user.into()],
    )?;
    let (mut expired, mut cancelled) = (0, 0);
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
    Ok(json!({
        "active": active.len(), "expired": expired, "cancelled": cancelled,
        "activeDetails": active,
    }))
}

fn balance(user: &str) -> Result<Value, ApiError> {
    let amount = db::query(
        "SELECT amount FROM balances WHERE user_id = $1",
        &[user.into()],
    )?
    .first()
    .map(|row| row.i64("amount"))
    .transpose()?
    .unwrap_or(0);
    Ok(json!({ "amount": amount, "currency": CURRENCY }))
}

fn links(user: &str) -> Result<(i64, i64), ApiError> {
    let rows = db::query(
        "SELECT enabled FROM subscription_links WHERE user_id = $1",
        &[user.into()],
    )?;
    let mut enabled = 0;
    for row in rows.iter() {
        enabled += i64::from(row.bool("enabled")?);
    }
    Ok((enabled, rows.len() as i64))
}

/// The summary of `user` at `now`.
pub fn of(user: &str, now: i64) -> Result<Value, ApiError> {
    let (enabled, total) = links(user)?;
    Ok(json!({
        "subscriptions": subscriptions(user, now)?,
        "balance": balance(user)?,
        "links": { "enabled": enabled, "total": total },
        "devicesOnline": presence::online_links(user, now)?.len(),
    }))
}

/// `GET /me/stats`.
pub fn me(req: &Request) -> Result<Response, ApiError> {
    response::json(200, &of(&req.caller()?.id, clock::now_ms())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_day_counts_as_one() {
        assert_eq!(days_left(10 * DAY_MS, 0), 10);
        assert_eq!(days_left(10 * DAY_MS, 1), 10);
        assert_eq!(days_left(10 * DAY_MS, DAY_MS + 1), 9);
        assert_eq!(days_left(0, 5), 0);
    }
}
