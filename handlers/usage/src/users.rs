//! Users seen by administrators: `GET /admin/users/stats` (the whole user base) and
//! `GET /admin/users/:id/stats` (one user).

use nexuma_sdk::db::{self, Pool};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use serde_json::{json, Value};

use crate::calendar;
use crate::filter::Filter;
use crate::span::{self, Span};
use crate::traffic::{self, Bytes, Scope};
use crate::{params, presence, summary};

/// Top users listed when `limit` is absent, and the most a caller may ask for.
const TOP_DEFAULT: i64 = 10;
const TOP_MAX: i64 = 100;

fn count(sql: &str) -> Result<i64, ApiError> {
    db::count(&Pool, sql, &[])
}

fn counts() -> Result<Value, ApiError> {
    let rows = db::query(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM users GROUP BY status",
        &[],
    )?;
    let mut by_status = json!({ "active": 0, "pending": 0, "rejected": 0 });
    let mut total = 0;
    for row in rows.iter() {
        let n = row.i64("n")?;
        by_status[row.str("status")?] = json!(n);
        total += n;
    }
    Ok(json!({
        "total": total,
        "byStatus": by_status,
        "blocked": count("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM users WHERE blocked")?,
        "withActiveSubscription": count(
            "SELECT CAST(COUNT(DISTINCT user_id) AS BIGINT) AS total FROM subscriptions \
             WHERE status = 'active'"
        )?,
    }))
}

/// New accounts per local day of the plan. Counted per UTC minute in SQL (every zone's offset
/// is whole minutes), then put in local days here.
fn new_per_day(plan: &calendar::Plan) -> Result<Vec<Value>, ApiError> {
    let rows = db::query(
        "SELECT CAST(created_at / 60000 AS BIGINT) AS minute, CAST(COUNT(*) AS BIGINT) AS n \
         FROM users WHERE created_at >= $1 AND created_at < $2 GROUP BY created_at / 60000",
        &[plan.from.into(), plan.to.into()],
    )?;
    let mut per_day = vec![0_i64; plan.buckets.len()];
    for row in rows.iter() {
        if let Some(i) = plan.index(row.i64("minute")? * 60_000) {
            per_day[i] += row.i64("n")?;
        }
    }
    Ok(plan
        .buckets
        .iter()
        .zip(per_day)
        .map(|(b, n)| json!({ "date": b.label, "start": b.start, "count": n }))
        .collect())
}

/// The users who moved the most bytes in `[from, to)`.
fn top(from: i64, to: i64, limit: i64) -> Result<Vec<Value>, ApiError> {
    let mut f = Filter::default();
    let source = span::source(&mut f, &Span::of(from, to), &Vec::new());
    let limit = f.push(limit.into());
    let rows = db::query(
        &format!(
            "SELECT t.user_id, u.email, u.name, t.up, t.down FROM \
             (SELECT user_id, CAST(SUM(up) AS BIGINT) AS up, CAST(SUM(down) AS BIGINT) AS down \
              FROM {source} s GROUP BY user_id ORDER BY SUM(up + down) DESC, user_id \
              LIMIT {limit}) t \
             JOIN users u ON u.id = t.user_id ORDER BY t.up + t.down DESC, t.user_id"
        ),
        &f.params,
    )?;
    rows.iter()
        .map(|row| {
            let (up, down) = (row.i64("up")?, row.i64("down")?);
            Ok(json!({
                "userId": row.str("user_id")?, "email": row.opt_str("email")?,
                "name": row.opt_str("name")?, "up": up, "down": down, "bytes": up + down,
            }))
        })
        .collect()
}

/// `GET /admin/users/stats`.
pub fn overview(req: &Request) -> Result<Response, ApiError> {
    let tz = params::zone(req)?;
    let days = params::days(req)?;
    let limit = req.int_query("limit", TOP_DEFAULT, 1, TOP_MAX)?;
    let plan = calendar::last_days(tz, days, clock::now_ms());
    let mut body = counts()?;
    body["tz"] = json!(tz.name());
    body["days"] = json!(days);
    body["newUsers"] = json!(new_per_day(&plan)?);
    body["topUsers"] = json!(top(plan.from, plan.to, limit)?);
    response::json(200, &body)
}

/// Traffic of today, the last 7 and the last 30 local days (today included).
fn recent(user: &str, tz: chrono_tz::Tz, now: i64) -> Result<Value, ApiError> {
    let plan = calendar::last_days(tz, 30, now);
    let week_from = plan.buckets[plan.buckets.len() - 7].start;
    let today_from = plan.buckets[plan.buckets.len() - 1].start;
    let (mut today, mut week, mut month) = (Bytes::default(), Bytes::default(), Bytes::default());
    for (hour, bytes) in traffic::hours(user, &Scope::All, plan.from, plan.to)? {
        month.add(bytes);
        if hour >= week_from {
            week.add(bytes);
        }
        if hour >= today_from {
            today.add(bytes);
        }
    }
    Ok(json!({ "today": today, "last7Days": week, "last30Days": month }))
}

fn links(user: &str, now: i64) -> Result<(Vec<Value>, Option<i64>), ApiError> {
    let online = presence::online_links(user, now)?;
    let seen = presence::last_seen(user)?;
    let rows = db::query(
        "SELECT id, name, enabled, subscription_id FROM subscription_links WHERE user_id = $1 \
         ORDER BY created_at, id",
        &[user.into()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.iter() {
        let id = row.str("id")?;
        let nodes = online.get(id).cloned().unwrap_or_default();
        out.push(json!({
            "id": id, "name": row.opt_str("name")?, "enabled": row.bool("enabled")?,
            "subscriptionId": row.opt_str("subscription_id")?,
            "online": !nodes.is_empty(), "onlineNodes": nodes, "lastSeenAt": seen.get(id),
        }));
    }
    Ok((out, seen.values().copied().max()))
}

/// `GET /admin/users/:id/stats`.
pub fn one(req: &Request) -> Result<Response, ApiError> {
    let tz = params::zone(req)?;
    let id = req.param("id")?;
    if db::query("SELECT id FROM users WHERE id = $1", &[id.into()])?.is_empty() {
        return Err(ApiError::not_found(
            "user_not_found",
            format!("no user with id {id}"),
        ));
    }
    let now = clock::now_ms();
    let mut body = summary::of(id, now)?;
    let (links, last_seen) = links(id, now)?;
    body["userId"] = json!(id);
    body["tz"] = json!(tz.name());
    body["traffic"] = recent(id, tz, now)?;
    body["linkDetails"] = json!(links);
    body["lastSeenAt"] = json!(last_seen);
    response::json(200, &body)
}
