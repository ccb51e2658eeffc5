//! The query parameters the routes share, read into typed values; each error is a 400 naming its
//! parameter.

use chrono_tz::Tz;
use nexuma_sdk::{ApiError, Request};

use crate::calendar::{self, Granularity, Period, Plan, MAX_DAYS};

/// Days a `days` parameter covers when absent.
pub const DEFAULT_DAYS: i64 = 30;

/// `tz`: an IANA zone, UTC when absent.
pub fn zone(req: &Request) -> Result<Tz, ApiError> {
    calendar::zone(req.query("tz"))
}

/// `days`: 1 to 366, 30 when absent.
pub fn days(req: &Request) -> Result<i64, ApiError> {
    req.int_query("days", DEFAULT_DAYS, 1, MAX_DAYS)
}

/// A query value, `None` when absent or blank.
pub fn text<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query(name).map(str::trim).filter(|v| !v.is_empty())
}

/// `from`/`to` as instants in `tz` (a date `to` includes that day); `None` when neither is
/// given. `to` alone is refused; `from` alone runs until `now`.
pub fn range(req: &Request, tz: Tz, now: i64) -> Result<Option<(i64, i64)>, ApiError> {
    let from = text(req, "from")
        .map(|raw| calendar::bound("from", raw))
        .transpose()?;
    let to = text(req, "to")
        .map(|raw| calendar::bound("to", raw))
        .transpose()?;
    match (from, to) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ApiError::validation("from", "is required when to is given")),
        (Some(from), to) => Ok(Some((
            calendar::from_instant(tz, from),
            to.map_or(now, |to| calendar::to_instant(tz, to)),
        ))),
    }
}

/// The buckets of a user's series: `period` (default `month`) or `from`/`to`, not both.
pub fn plan(req: &Request, tz: Tz, now: i64) -> Result<Plan, ApiError> {
    let period = text(req, "period").map(Period::parse).transpose()?;
    match (period, range(req, tz, now)?) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "period",
            "give either period or from/to, not both",
        )),
        (None, Some((from, to))) => Plan::range(tz, from, to),
        (period, None) => Ok(Plan::period(tz, period.unwrap_or(Period::Month), now)),
    }
}

/// `granularity`: `hour` or `day` (default `default`).
pub fn granularity(req: &Request, default: Granularity) -> Result<Granularity, ApiError> {
    match text(req, "granularity") {
        None => Ok(default),
        Some("hour") => Ok(Granularity::Hour),
        Some("day") => Ok(Granularity::Day),
        Some(_) => Err(ApiError::validation("granularity", "must be hour or day")),
    }
}

/// Longest id filter, in bytes.
pub const ID_MAX: usize = 100;

/// An id filter: at most [`ID_MAX`] bytes, no control characters.
pub fn id<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    match text(req, name) {
        Some(v) if v.len() > ID_MAX || v.chars().any(char::is_control) => {
            Err(ApiError::validation(name, "must be an id"))
        }
        other => Ok(other),
    }
}
