//! The caller's traffic series: `GET /me/traffic`, `/me/traffic/daily`,
//! `/me/traffic/hourly-dist`. Buckets are local hours or days of `tz`, every one present (zero
//! when nothing moved).

use chrono_tz::Tz;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use serde::Serialize;
use serde_json::json;

use crate::calendar::{self, Plan};
use crate::params;
use crate::traffic::{self, Bytes, Scope};

#[derive(Serialize)]
struct Point<'a> {
    start: i64,
    label: &'a str,
    up: i64,
    down: i64,
}

/// The plan's buckets filled with the user's traffic, and their total.
fn fill(user: &str, scope: &Scope, plan: &Plan) -> Result<(Vec<Bytes>, Bytes), ApiError> {
    let mut sums = vec![Bytes::default(); plan.buckets.len()];
    let mut total = Bytes::default();
    for (hour, bytes) in traffic::hours(user, scope, plan.from, plan.to)? {
        if let Some(i) = plan.index(hour) {
            sums[i].add(bytes);
            total.add(bytes);
        }
    }
    Ok((sums, total))
}

fn points<'a>(plan: &'a Plan, sums: &[Bytes]) -> Vec<Point<'a>> {
    plan.buckets
        .iter()
        .zip(sums)
        .map(|(b, s)| Point {
            start: b.start,
            label: &b.label,
            up: s.up,
            down: s.down,
        })
        .collect()
}

fn zone_name(tz: Tz) -> &'static str {
    tz.name()
}

/// `GET /me/traffic`.
pub fn traffic(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let tz = params::zone(req)?;
    let plan = params::plan(req, tz, clock::now_ms())?;
    let scope = traffic::scope(req, user)?;
    let (sums, total) = fill(user, &scope, &plan)?;
    response::json(
        200,
        &json!({
            "tz": zone_name(tz),
            "granularity": plan.granularity.name(),
            "from": plan.from,
            "to": plan.to,
            "buckets": points(&plan, &sums),
            "total": total,
        }),
    )
}

/// `GET /me/traffic/daily`.
pub fn daily(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let tz = params::zone(req)?;
    let days = params::days(req)?;
    let scope = traffic::scope(req, user)?;
    let plan = calendar::last_days(tz, days, clock::now_ms());
    let (sums, total) = fill(user, &scope, &plan)?;
    let rows: Vec<_> = plan
        .buckets
        .iter()
        .zip(&sums)
        .map(|(b, s)| json!({ "date": b.label, "start": b.start, "up": s.up, "down": s.down }))
        .collect();
    response::json(
        200,
        &json!({ "tz": zone_name(tz), "days": days, "rows": rows, "total": total }),
    )
}

/// `GET /me/traffic/hourly-dist`: which local hours of the day the traffic of the last `days`
/// days moved in.
pub fn hourly_dist(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let tz = params::zone(req)?;
    let days = params::days(req)?;
    let scope = traffic::scope(req, user)?;
    let plan = calendar::last_days(tz, days, clock::now_ms());
    let mut per_hour = [Bytes::default(); 24];
    let mut total = Bytes::default();
    for (hour, bytes) in traffic::hours(user, &scope, plan.from, plan.to)? {
        per_hour[calendar::local_hour(tz, hour)].add(bytes);
        total.add(bytes);
    }
    let all = total.total();
    let hours: Vec<_> = per_hour
        .iter()
        .enumerate()
        .map(|(hour, b)| {
            // A share of nothing is 0, not NaN.
            let share = if all == 0 {
                0.0
            } else {
                b.total() as f64 / all as f64
            };
            json!({ "hour": hour, "up": b.up, "down": b.down, "bytes": b.total(), "share": share })
        })
        .collect();
    response::json(
        200,
        &json!({
            "tz": zone_name(tz), "days": days, "from": plan.from, "to": plan.to,
            "hours": hours, "total": total,
        }),
    )
}
