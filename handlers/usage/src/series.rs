//! The caller's traffic series: `GET /me/traffic`, `/me/traffic/daily`,
//! `/me/traffic/hourly-dist`. Buckets are local hours or days of `tz`, every one present (zero
//! when nothing moved).

use chrono_tz::Tz;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::calendar::{self, Granularity, Plan};
use crate::params;
use crate::retention::Kept;
use crate::traffic::{self, Bytes, Scope};

/// One bucket of `GET /me/traffic`.
#[derive(Serialize, JsonSchema)]
pub struct Point<'a> {
    /// Epoch milliseconds.
    start: i64,
    /// The local hour (2026-03-29T03:00+02:00) or date.
    label: &'a str,
    up: i64,
    down: i64,
}

/// `GET /me/traffic`.
#[derive(Serialize, JsonSchema)]
pub struct Traffic<'a> {
    tz: &'static str,
    #[schemars(extend("enum" = Granularity::NAMES))]
    granularity: &'static str,
    /// Epoch milliseconds: the first bucket's start.
    from: i64,
    /// Epoch milliseconds: the last bucket's end.
    to: i64,
    buckets: Vec<Point<'a>>,
    total: Bytes,
}

/// One local day of `GET /me/traffic/daily`.
#[derive(Serialize, JsonSchema)]
pub struct Day<'a> {
    #[schemars(extend("format" = "date"))]
    date: &'a str,
    /// Epoch milliseconds.
    start: i64,
    up: i64,
    down: i64,
}

/// `GET /me/traffic/daily`.
#[derive(Serialize, JsonSchema)]
pub struct Daily<'a> {
    tz: &'static str,
    days: i64,
    rows: Vec<Day<'a>>,
    total: Bytes,
}

/// One local hour of the day in `GET /me/traffic/hourly-dist`.
#[derive(Serialize, JsonSchema)]
pub struct Hour {
    #[schemars(range(max = 23))]
    hour: usize,
    up: i64,
    down: i64,
    bytes: i64,
    /// Its part of the total, 0 when nothing moved.
    #[schemars(range(min = 0, max = 1))]
    share: f64,
}

/// `GET /me/traffic/hourly-dist`.
#[derive(Serialize, JsonSchema)]
pub struct HourlyDist {
    tz: &'static str,
    days: i64,
    /// Epoch milliseconds.
    from: i64,
    /// Epoch milliseconds.
    to: i64,
    /// Local hours 0 to 23, in order.
    #[schemars(length(min = 24, max = 24))]
    hours: Vec<Hour>,
    total: Bytes,
}

/// The user's traffic over `plan` as (start, bytes): kept hours from the hourly rows; before
/// them, for daily plans whose days there are UTC days, the daily rows. An hourly plan reaching
/// before the kept hours is refused naming `field`; local days there that are not UTC days,
/// naming `tz`.
fn read(
    user: &str,
    scope: &Scope,
    plan: &Plan,
    kept: &Kept,
    field: &str,
) -> Result<Vec<(i64, Bytes)>, ApiError> {
    if plan.granularity == Granularity::Hour || plan.from >= kept.from {
        kept.hours(field, plan.from)?;
        return traffic::hours(user, scope, plan.from, plan.to);
    }
    kept.days("tz", plan)?;
    let split = kept.from.min(plan.to);
    let mut rows = traffic::days(user, scope, plan.from, split)?;
    rows.extend(traffic::hours(user, scope, split, plan.to)?);
    Ok(rows)
}

/// The plan's buckets filled with the user's traffic, and their total.
fn fill(
    user: &str,
    scope: &Scope,
    plan: &Plan,
    kept: &Kept,
    field: &str,
) -> Result<(Vec<Bytes>, Bytes), ApiError> {
    let mut sums = vec![Bytes::default(); plan.buckets.len()];
    let mut total = Bytes::default();
    for (time, bytes) in read(user, scope, plan, kept, field)? {
        if let Some(i) = plan.index(time) {
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
    let now = clock::now_ms();
    let plan = params::plan(req, tz, now)?;
    let scope = traffic::scope(req, user)?;
    // What a refusal of hours names: the parameter that set the range.
    let field = params::text(req, "from").map_or("period", |_| "from");
    let (sums, total) = fill(user, &scope, &plan, &Kept::read(now)?, field)?;
    response::json(
        200,
        &Traffic {
            tz: zone_name(tz),
            granularity: plan.granularity.name(),
            from: plan.from,
            to: plan.to,
            buckets: points(&plan, &sums),
            total,
        },
    )
}

/// `GET /me/traffic/daily`.
pub fn daily(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let tz = params::zone(req)?;
    let days = params::days(req)?;
    let scope = traffic::scope(req, user)?;
    let now = clock::now_ms();
    let plan = calendar::last_days(tz, days, now);
    let (sums, total) = fill(user, &scope, &plan, &Kept::read(now)?, "days")?;
    let rows: Vec<_> = plan
        .buckets
        .iter()
        .zip(&sums)
        .map(|(b, s)| Day {
            date: &b.label,
            start: b.start,
            up: s.up,
            down: s.down,
        })
        .collect();
    response::json(
        200,
        &Daily {
            tz: zone_name(tz),
            days,
            rows,
            total,
        },
    )
}

/// `GET /me/traffic/hourly-dist`: which local hours of the day the traffic of the last `days`
/// days moved in.
pub fn hourly_dist(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let tz = params::zone(req)?;
    let days = params::days(req)?;
    let scope = traffic::scope(req, user)?;
    let now = clock::now_ms();
    let plan = calendar::last_days(tz, days, now);
    // Which hours of the day: only hours say, so every one must still be kept.
    Kept::read(now)?.hours("days", plan.from)?;
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
            Hour {
                hour,
                up: b.up,
                down: b.down,
                bytes: b.total(),
                share,
            }
        })
        .collect();
    response::json(
        200,
        &HourlyDist {
            tz: zone_name(tz),
            days,
            from: plan.from,
            to: plan.to,
            hours,
            total,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexuma_sdk::answer_schema_of;
    use serde_json::json;

    #[test]
    fn the_series_answers_say_what_is_always_there() {
        let traffic = answer_schema_of::<Traffic>();
        let required = json!(["tz", "granularity", "from", "to", "buckets", "total"]);
        assert_eq!(traffic["required"], required);
        assert_eq!(
            traffic["properties"]["granularity"]["enum"],
            json!(Granularity::NAMES)
        );
        assert_eq!(
            traffic["properties"]["total"]["required"],
            json!(["up", "down"])
        );
        let bucket = &traffic["properties"]["buckets"]["items"];
        assert_eq!(bucket["required"], json!(["start", "label", "up", "down"]));

        let daily = answer_schema_of::<Daily>();
        assert_eq!(daily["required"], json!(["tz", "days", "rows", "total"]));
        assert_eq!(
            daily["properties"]["rows"]["items"]["properties"]["date"]["format"],
            "date"
        );

        let dist = answer_schema_of::<HourlyDist>();
        let hours = &dist["properties"]["hours"];
        assert_eq!(
            (&hours["minItems"], &hours["maxItems"]),
            (&json!(24), &json!(24))
        );
        let hour = &hours["items"]["properties"];
        assert_eq!(
            (&hour["hour"]["minimum"], &hour["hour"]["maximum"]),
            (&json!(0), &json!(23))
        );
        assert_eq!(hour["share"]["maximum"], json!(1));
        assert_eq!(dist["required"].as_array().map(Vec::len), Some(6));
    }
}
