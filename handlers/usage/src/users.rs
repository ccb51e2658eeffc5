//! Users seen by administrators: `GET /admin/users/stats` (the whole user base) and
//! `GET /admin/users/:id/stats` (one user).

use nexuma_sdk::db::{self, Pool};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::calendar;
use crate::filter::Filter;
use crate::retention::Kept;
use crate::span::{self, Span};
use crate::traffic::{self, Bytes, Scope};
use crate::{params, presence, summary};

/// Top users listed when `limit` is absent, and the most a caller may ask for.
pub const TOP_DEFAULT: i64 = 10;
pub const TOP_MAX: i64 = 100;

fn count(sql: &str) -> Result<i64, ApiError> {
    db::count(&Pool, sql, &[])
}

/// Users per account status (the `users.status` CHECK allows these three).
#[derive(Serialize, JsonSchema, Default)]
pub struct ByStatus {
    active: i64,
    pending: i64,
    rejected: i64,
}

/// One local day's new accounts.
#[derive(Serialize, JsonSchema)]
pub struct NewUsers<'a> {
    #[schemars(extend("format" = "date"))]
    date: &'a str,
    /// Epoch milliseconds.
    start: i64,
    count: i64,
}

/// A user among the top by traffic.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopUser {
    user_id: String,
    email: Option<String>,
    name: Option<String>,
    up: i64,
    down: i64,
    bytes: i64,
}

/// `GET /admin/users/stats`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview<'a> {
    total: i64,
    by_status: ByStatus,
    blocked: i64,
    with_active_subscription: i64,
    tz: &'static str,
    days: i64,
    new_users: Vec<NewUsers<'a>>,
    /// Most bytes first.
    top_users: Vec<TopUser>,
}

/// The users per status, and their total.
fn counts() -> Result<(ByStatus, i64), ApiError> {
    let rows = db::query(
        "SELECT status, CAST(COUNT(*) AS BIGINT) AS n FROM users GROUP BY status",
        &[],
    )?;
    let mut by_status = ByStatus::default();
    let mut total = 0;
    for row in rows.iter() {
        let n = row.i64("n")?;
        match row.str("status")? {
            "active" => by_status.active = n,
            "pending" => by_status.pending = n,
            "rejected" => by_status.rejected = n,
            other => return Err(ApiError::internal(format!("users.status {other:?}"))),
        }
        total += n;
    }
    Ok((by_status, total))
}

/// New accounts per local day of the plan. Counted per UTC minute in SQL (every zone's offset
/// is whole minutes), then put in local days here.
fn new_per_day(plan: &calendar::Plan) -> Result<Vec<NewUsers<'_>>, ApiError> {
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
        .map(|(b, n)| NewUsers {
            date: &b.label,
            start: b.start,
            count: n,
        })
        .collect())
}

/// The users who moved the most bytes in `[from, to)`.
/// Local days that are not UTC days take edge hours, which must still be kept.
fn top(from: i64, to: i64, limit: i64, kept: &Kept) -> Result<Vec<TopUser>, ApiError> {
    let span = Span::of(from, to);
    span.kept(kept, "tz")?;
    let mut f = Filter::default();
    let source = span::source(&mut f, &span, &Vec::new());
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
            Ok(TopUser {
                user_id: row.string("user_id")?,
                email: row.opt_string("email")?,
                name: row.opt_string("name")?,
                up,
                down,
                bytes: up + down,
            })
        })
        .collect()
}

/// `GET /admin/users/stats`.
pub fn overview(req: &Request) -> Result<Response, ApiError> {
    let tz = params::zone(req)?;
    let days = params::days(req)?;
    let limit = req.int_query("limit", TOP_DEFAULT, 1, TOP_MAX)?;
    let now = clock::now_ms();
    let plan = calendar::last_days(tz, days, now);
    let top_users = top(plan.from, plan.to, limit, &Kept::read(now)?)?;
    let (by_status, total) = counts()?;
    response::json(
        200,
        &Overview {
            total,
            by_status,
            blocked: count("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM users WHERE blocked")?,
            with_active_subscription: count(
                "SELECT CAST(COUNT(DISTINCT user_id) AS BIGINT) AS total FROM subscriptions \
                 WHERE status = 'active'",
            )?,
            tz: tz.name(),
            days,
            new_users: new_per_day(&plan)?,
            top_users,
        },
    )
}

/// Traffic of local calendar days of `tz`, today included.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recent {
    today: Bytes,
    last7_days: Bytes,
    last30_days: Bytes,
}

/// One of the user's links.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkDetail {
    id: String,
    name: Option<String>,
    enabled: bool,
    subscription_id: Option<String>,
    online: bool,
    /// The live nodes it is connected to now.
    online_nodes: Vec<String>,
    /// Epoch milliseconds; null: never seen.
    last_seen_at: Option<i64>,
}

/// `GET /admin/users/:id/stats`: the user's summary and more.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserStats {
    #[serde(flatten)]
    summary: summary::Summary,
    user_id: String,
    tz: &'static str,
    traffic: Recent,
    link_details: Vec<LinkDetail>,
    /// Epoch milliseconds: the latest of the links'; null: never seen.
    last_seen_at: Option<i64>,
}

/// Traffic of today, the last 7 and the last 30 local days (today included).
fn recent(user: &str, tz: chrono_tz::Tz, now: i64) -> Result<Recent, ApiError> {
    let plan = calendar::last_days(tz, 30, now);
    let week_from = plan.buckets[plan.buckets.len() - 7].start;
    let today_from = plan.buckets[plan.buckets.len() - 1].start;
    // Always kept (the retention is at least 32 days); checked all the same.
    Kept::read(now)?.hours("tz", plan.from)?;
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
    Ok(Recent {
        today,
        last7_days: week,
        last30_days: month,
    })
}

fn links(user: &str, now: i64) -> Result<(Vec<LinkDetail>, Option<i64>), ApiError> {
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
        out.push(LinkDetail {
            id: id.to_string(),
            name: row.opt_string("name")?,
            enabled: row.bool("enabled")?,
            subscription_id: row.opt_string("subscription_id")?,
            online: !nodes.is_empty(),
            online_nodes: nodes,
            last_seen_at: seen.get(id).copied(),
        });
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
    let (link_details, last_seen_at) = links(id, now)?;
    response::json(
        200,
        &UserStats {
            summary: summary::of(id, now)?,
            user_id: id.to_string(),
            tz: tz.name(),
            traffic: recent(id, tz, now)?,
            link_details,
            last_seen_at,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexuma_sdk::answer_schema_of;
    use serde_json::json;

    #[test]
    fn the_overview_says_what_is_always_there() {
        let overview = answer_schema_of::<Overview>();
        assert_eq!(overview["required"].as_array().map(Vec::len), Some(8));
        let statuses = json!(["active", "pending", "rejected"]);
        assert_eq!(overview["properties"]["byStatus"]["required"], statuses);
        let top = &overview["properties"]["topUsers"]["items"];
        assert_eq!(
            top["properties"]["email"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(top["required"].as_array().map(Vec::len), Some(6));
    }

    #[test]
    fn a_users_stats_are_the_summary_and_more() {
        let stats = answer_schema_of::<UserStats>();
        let required = stats["required"].as_array().cloned().unwrap_or_default();
        for field in [
            "subscriptions",
            "devicesOnline",
            "userId",
            "traffic",
            "lastSeenAt",
        ] {
            assert!(required.contains(&json!(field)), "{field}: {stats}");
        }
        assert_eq!(
            stats["properties"]["lastSeenAt"]["type"],
            json!(["integer", "null"])
        );
        let traffic = &stats["properties"]["traffic"];
        assert_eq!(
            traffic["required"],
            json!(["today", "last7Days", "last30Days"])
        );
        let link = &stats["properties"]["linkDetails"]["items"];
        assert_eq!(link["required"].as_array().map(Vec::len), Some(7));
        assert_eq!(
            link["properties"]["subscriptionId"]["type"],
            json!(["string", "null"])
        );
    }
}
