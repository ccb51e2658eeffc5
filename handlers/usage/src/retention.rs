//! How long hourly usage rows are kept, and what the reads may ask of them.
//!
//! Hours are kept for the operator's `usage.hourlyRetentionDays` (`settings`, default 90 days;
//! `GET`/`PATCH /admin/usage/settings`), counted back from today's UTC midnight; older traffic
//! lives on per UTC day (`traffic_daily`, `outbound_traffic_daily`, written with the hours).
//! The first hour still kept is the later of that cutoff and how far the `rollup` pass has
//! already cleared (`usage_rollups`), so keeping hours longer never reads back hours gone.
//!
//! A read that needs hours before it is refused (400 naming the parameter, saying how long hours
//! are kept), never answered with a smaller sum; so are local days before it that are not UTC
//! days (in most zones a local day takes hours from two UTC days, which are gone).

use chrono::DateTime;
use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::{clock, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::calendar::{Plan, DAY_MS};

/// The operator's setting: days of hourly rows kept (JSON number).
pub const SETTING: &str = "usage.hourlyRetentionDays";
pub const DEFAULT_DAYS: i64 = 90;
/// At least the 30 local days the summaries (`/admin/users/:id/stats`) and the default series
/// read in hours, whatever the zone.
pub const MIN_DAYS: i64 = 32;
/// Ten years.
pub const MAX_DAYS: i64 = 3660;
/// `usage_rollups` row of the hourly tables.
pub const ROLLUP: &str = "hourly";

/// The first hour still kept at `now` for `days` of retention: a UTC midnight.
pub fn cutoff(days: i64, now: i64) -> i64 {
    now.div_euclid(DAY_MS) * DAY_MS - days * DAY_MS
}

/// The setting as stored (JSON text): `None` unless a number of days in bounds.
fn parse_days(raw: &str) -> Option<i64> {
    serde_json::from_str::<i64>(raw)
        .ok()
        .filter(|days| (MIN_DAYS..=MAX_DAYS).contains(days))
}

/// The setting, the default when absent or (with a warning) unreadable.
fn days_of(raw: Option<&str>) -> i64 {
    let Some(raw) = raw else {
        return DEFAULT_DAYS;
    };
    parse_days(raw).unwrap_or_else(|| {
        log::warn(
            "setting is not a number of days in bounds; using the default",
            &[("key", SETTING), ("value", raw)],
        );
        DEFAULT_DAYS
    })
}

/// What is kept in hours now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// The retention setting.
    pub days: i64,
    /// Epoch milliseconds: the first hour whose rows are all there.
    pub from: i64,
}

impl Kept {
    fn at(days: i64, cleared: Option<i64>, now: i64) -> Kept {
        Kept {
            days,
            from: cutoff(days, now).max(cleared.unwrap_or(i64::MIN)),
        }
    }

    /// The setting and the pass's mark, in one round trip.
    pub fn read(now: i64) -> Result<Kept, ApiError> {
        let rows = Pool.query(
            "SELECT (SELECT value FROM settings WHERE key = $1) AS days, \
             (SELECT kept_from FROM usage_rollups WHERE name = $2) AS kept_from",
            &[SETTING.into(), ROLLUP.into()],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| ApiError::internal("retention: no row"))?;
        Ok(Kept::at(
            days_of(row.opt_str("days")?),
            row.opt_i64("kept_from")?,
            now,
        ))
    }

    fn since(&self) -> String {
        DateTime::from_timestamp_millis(self.from)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    }

    /// Hours from `from` on are all kept; else 400 naming `field`.
    pub fn hours(&self, field: &str, from: i64) -> Result<(), ApiError> {
        if from >= self.from {
            return Ok(());
        }
        Err(ApiError::validation(
            field,
            format!(
                "hourly traffic is kept for {} days (from {}); earlier traffic is kept per UTC day: \
                 ask for a later start, or for days",
                self.days,
                self.since()
            ),
        ))
    }

    /// Every bucket of `plan` before the kept hours is a whole UTC day (so it is read from the
    /// daily rows exactly); else 400 naming `field`.
    pub fn days(&self, field: &str, plan: &Plan) -> Result<(), ApiError> {
        let starts = plan.buckets.iter().map(|b| b.start);
        let ends = starts.clone().skip(1).chain([plan.to]);
        let aligned = starts
            .zip(ends)
            .filter(|(start, _)| *start < self.from)
            .all(|(start, end)| start % DAY_MS == 0 && end % DAY_MS == 0);
        if aligned {
            return Ok(());
        }
        Err(ApiError::validation(
            field,
            format!(
                "hourly traffic is kept for {} days (from {}); earlier traffic is kept per UTC day, \
                 which this zone's days do not follow: ask for a later start, or tz=UTC",
                self.days,
                self.since()
            ),
        ))
    }
}

/// `GET /admin/usage/settings`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Days hourly traffic rows are kept before only their UTC days remain (default 90).
    #[schemars(range(min = MIN_DAYS, max = MAX_DAYS))]
    hourly_retention_days: i64,
    /// Epoch milliseconds: the first hour whose rows are kept now (a UTC midnight).
    hourly_kept_from: i64,
}

/// `PATCH /admin/usage/settings`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// Absent: unchanged.
    #[schemars(range(min = MIN_DAYS, max = MAX_DAYS))]
    hourly_retention_days: Option<i64>,
}

fn current(now: i64) -> Result<Settings, ApiError> {
    let kept = Kept::read(now)?;
    Ok(Settings {
        hourly_retention_days: kept.days,
        hourly_kept_from: kept.from,
    })
}

fn snapshot(settings: &Settings) -> serde_json::Value {
    serde_json::to_value(settings).unwrap_or_default()
}

pub fn get(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &current(clock::now_ms())?)
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let body: Patch = req.json()?;
    let now = clock::now_ms();
    let Some(days) = body.hourly_retention_days else {
        return response::json(200, &current(now)?);
    };
    if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
        return Err(ApiError::validation(
            "hourlyRetentionDays",
            format!("must be from {MIN_DAYS} to {MAX_DAYS}"),
        ));
    }
    let before = snapshot(&current(now)?);
    let tx = db::begin()?;
    db::set_setting(&tx, SETTING, &days.to_string(), now)?;
    nexuma_sdk::record::audit(
        &tx,
        &nexuma_sdk::record::Actor::of(req),
        nexuma_sdk::record::Entry {
            action: "settings.update",
            target_type: "settings",
            target_id: "usage",
            before: Some(before),
            after: Some(serde_json::json!({ "hourlyRetentionDays": days })),
        },
        now,
    )?;
    tx.commit()?;
    response::json(200, &current(now)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::HOUR_MS;
    use chrono::NaiveDate;
    use chrono_tz::Tz;
    use serde_json::json;

    const D: i64 = DAY_MS;

    #[test]
    fn the_cutoff_is_a_utc_midnight_days_back() {
        let now = 20_000 * D + 5 * HOUR_MS + 7;
        assert_eq!(cutoff(90, now), 19_910 * D);
        assert_eq!(cutoff(90, 20_000 * D), 19_910 * D);
    }

    #[test]
    fn hours_already_cleared_stay_refused_when_hours_are_kept_longer() {
        let now = 20_000 * D;
        assert_eq!(Kept::at(90, None, now).from, 19_910 * D);
        assert_eq!(Kept::at(90, Some(19_950 * D), now).from, 19_950 * D);
        assert_eq!(Kept::at(90, Some(19_000 * D), now).from, 19_910 * D);
    }

    #[test]
    fn only_a_number_of_days_in_bounds_is_a_setting() {
        assert_eq!(days_of(None), DEFAULT_DAYS);
        assert_eq!(parse_days("120"), Some(120));
        assert_eq!(parse_days(&MIN_DAYS.to_string()), Some(MIN_DAYS));
        assert_eq!(parse_days("1"), None);
        assert_eq!(parse_days("\"x\""), None);
    }

    #[test]
    fn hourly_requests_before_the_kept_hours_are_refused() {
        let kept = Kept::at(90, None, 20_000 * D);
        assert!(kept.hours("from", 19_910 * D).is_ok());
        let refused = kept
            .hours("from", 19_910 * D - HOUR_MS)
            .expect_err("refused");
        assert_eq!(refused.status, 400);
        assert!(
            refused.message.contains("kept for 90 days"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn old_days_must_be_utc_days() {
        let kept = Kept::at(90, None, 20_000 * D);
        let date = |d: i64| {
            DateTime::from_timestamp_millis(d * D)
                .expect("a day")
                .date_naive()
        };
        let old: (NaiveDate, NaiveDate) = (date(19_900), date(19_920));
        assert!(kept.days("tz", &Plan::days(Tz::UTC, old.0, old.1)).is_ok());
        let berlin = kept.days("tz", &Plan::days(Tz::Europe__Berlin, old.0, old.1));
        assert!(berlin.expect_err("refused").message.contains("tz=UTC"));
        // Only the days before the kept hours need to be UTC days.
        let recent = (date(19_950), date(19_999));
        assert!(kept
            .days("tz", &Plan::days(Tz::Europe__Berlin, recent.0, recent.1))
            .is_ok());
    }

    #[test]
    fn the_schemas_state_the_bounds() {
        let patch = nexuma_sdk::schema_of::<Patch>();
        let days = &patch["properties"]["hourlyRetentionDays"];
        assert_eq!(
            (&days["minimum"], &days["maximum"]),
            (&json!(MIN_DAYS), &json!(MAX_DAYS))
        );
        assert!(patch.get("required").is_none(), "{patch}");
        let answer = nexuma_sdk::answer_schema_of::<Settings>();
        assert_eq!(
            answer["required"],
            json!(["hourlyRetentionDays", "hourlyKeptFrom"])
        );
    }
}
