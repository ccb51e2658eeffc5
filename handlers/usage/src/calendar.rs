//! Calendar arithmetic for traffic series: time zones, the instants local days and hours start,
//! and which bucket a UTC hour of `traffic_hourly` falls in. Pure: no database, unit-tested
//! natively.
//!
//! The stored resolution is the UTC hour. A bucket of a series is a span of local time; a UTC
//! hour counts in the bucket its start instant falls in. In zones whose offset is a whole number
//! of hours that is exact; in the others (e.g. Asia/Kolkata, +05:30) a local bucket holds the
//! UTC hours that start inside it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use nexuma_sdk::ApiError;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// Longest range a series covers, in local calendar days.
pub const MAX_DAYS: i64 = 366;
/// Ranges up to this long come in hourly buckets, longer ones in daily buckets.
pub const HOURLY_UP_TO_MS: i64 = 48 * HOUR_MS;

/// The IANA zone named by `tz` (absent or empty: UTC).
pub fn zone(raw: Option<&str>) -> Result<Tz, ApiError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            ApiError::validation("tz", "must be an IANA time zone such as Europe/Berlin")
        }),
    }
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The zone's offset from UTC at `ms`, in milliseconds.
pub fn offset_ms(tz: Tz, ms: i64) -> i64 {
    let offset = tz.offset_from_utc_datetime(&instant(ms).naive_utc());
    i64::from(offset.fix().local_minus_utc()) * 1000
}

/// The local calendar date at `ms`.
pub fn local_date(tz: Tz, ms: i64) -> NaiveDate {
    instant(ms).with_timezone(&tz).date_naive()
}

/// The local hour of the day (0–23) at `ms`.
pub fn local_hour(tz: Tz, ms: i64) -> usize {
    ((ms + offset_ms(tz, ms)).rem_euclid(DAY_MS) / HOUR_MS) as usize
}

/// The instant local `date` starts: its midnight, or where a clock change skips midnight (a few
/// zones move at 00:00), the first local minute that exists.
pub fn day_start(tz: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=16)
        .find_map(|quarter| {
            tz.from_local_datetime(&(midnight + Duration::minutes(15 * quarter)))
                .earliest()
        })
        .map(|start| start.timestamp_millis())
        // No real zone skips four hours; fall back to the UTC reading.
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}

/// The start of the local hour `ms` falls in (with the offset in force at `ms`).
pub fn hour_start(tz: Tz, ms: i64) -> i64 {
    let offset = offset_ms(tz, ms);
    (ms + offset).div_euclid(HOUR_MS) * HOUR_MS - offset
}

/// One end of a range as the client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Instant(i64),
    /// A local calendar day: `from` means its start, `to` its end (the day is included).
    Date(NaiveDate),
}

/// `raw` as an RFC 3339 instant or a `YYYY-MM-DD` date; errors name `field`.
pub fn bound(field: &str, raw: &str) -> Result<Bound, ApiError> {
    let raw = raw.trim();
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(Bound::Date(date));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| Bound::Instant(t.timestamp_millis()))
        .map_err(|_| {
            ApiError::validation(
                field,
                "must be an RFC 3339 time (2026-03-29T10:00:00Z) or a date (2026-03-29)",
            )
        })
}

/// The instant a `from` bound starts at.
pub fn from_instant(tz: Tz, b: Bound) -> i64 {
    match b {
        Bound::Instant(ms) => ms,
        Bound::Date(date) => day_start(tz, date),
    }
}

/// The instant a `to` bound ends at (exclusive): a date's end is the next day's start.
pub fn to_instant(tz: Tz, b: Bound) -> i64 {
    match b {
        Bound::Instant(ms) => ms,
        Bound::Date(date) => day_start(tz, date.succ_opt().unwrap_or(date)),
    }
}

/// A calendar period containing today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    pub const NAMES: [&'static str; 4] = ["day", "week", "month", "year"];

    pub fn parse(raw: &str) -> Result<Period, ApiError> {
        match raw.trim() {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            "year" => Ok(Period::Year),
            _ => Err(ApiError::validation(
                "period",
                "must be one of day, week, month, year",
            )),
        }
    }

    /// Its first and last local dates when `today` is in it (weeks start on Monday).
    pub fn dates(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first = match self {
            Period::Day => today,
            Period::Week => today - Duration::days(today.weekday().num_days_from_monday().into()),
            Period::Month => today.with_day(1).unwrap_or(today),
            Period::Year => today.with_ordinal(1).unwrap_or(today),
        };
        let last = match self {
            Period::Day => today,
            Period::Week => first + Duration::days(6),
            Period::Month => next_month(first).pred_opt().unwrap_or(first),
            Period::Year => NaiveDate::from_yo_opt(first.year() + 1, 1)
                .and_then(|d| d.pred_opt())
                .unwrap_or(first),
        };
        (first, last)
    }
}

fn next_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(first)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    /// Every name [`Granularity::name`] gives and `params::granularity` reads.
    pub const NAMES: [&'static str; 2] = ["hour", "day"];

    pub fn name(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }
}

/// One bucket of a series: where it starts and how people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: i64,
    pub label: String,
}

/// The buckets of a series: `[from, to)` cut into local hours or days.
#[derive(Debug, Clone)]
pub struct Plan {
    pub granularity: Granularity,
    pub from: i64,
    pub to: i64,
    pub buckets: Vec<Bucket>,
}

impl Plan {
    /// Hourly buckets for ranges up to 48 hours, daily ones beyond, the ends widened to whole
    /// local hours or days. More than 366 local days: 400 naming `to`.
    pub fn range(tz: Tz, from: i64, to: i64) -> Result<Plan, ApiError> {
        if to <= from {
            return Err(ApiError::validation("to", "must be later than from"));
        }
        let days = (local_date(tz, to - 1) - local_date(tz, from)).num_days() + 1;
        if days > MAX_DAYS {
            return Err(ApiError::validation(
                "to",
                format!("the range may span at most {MAX_DAYS} days"),
            ));
        }
        if to - from <= HOURLY_UP_TO_MS {
            Ok(Plan::hours(tz, from, to))
        } else {
            Ok(Plan::days(tz, local_date(tz, from), local_date(tz, to - 1)))
        }
    }

    /// Hourly buckets from the local hour `from` is in until `to` is covered.
    fn hours(tz: Tz, from: i64, to: i64) -> Plan {
        let mut start = hour_start(tz, from);
        let mut buckets = Vec::new();
        while start < to {
            buckets.push(Bucket {
                start,
                label: instant(start)
                    .with_timezone(&tz)
                    .format("%Y-%m-%dT%H:%M%:z")
                    .to_string(),
            });
            start += HOUR_MS;
        }
        Plan {
            granularity: Granularity::Hour,
            from: buckets.first().map_or(from, |b| b.start),
            to: start,
            buckets,
        }
    }

    /// One bucket per local day from `first` to `last`, both included.
    pub fn days(tz: Tz, first: NaiveDate, last: NaiveDate) -> Plan {
        let buckets: Vec<Bucket> = first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(|d| Bucket {
                start: day_start(tz, d),
                label: d.format("%Y-%m-%d").to_string(),
            })
            .collect();
        Plan {
            granularity: Granularity::Day,
            from: day_start(tz, first),
            to: day_start(tz, last.succ_opt().unwrap_or(last)),
            buckets,
        }
    }

    /// A calendar period: its days, or the hours of the day.
    pub fn period(tz: Tz, period: Period, now: i64) -> Plan {
        let (first, last) = period.dates(local_date(tz, now));
        let days = Plan::days(tz, first, last);
        match period {
            Period::Day => Plan::hours(tz, days.from, days.to),
            _ => days,
        }
    }

    /// The bucket a UTC hour starting at `hour` counts in, if the range holds it.
    pub fn index(&self, hour: i64) -> Option<usize> {
        if hour < self.from || hour >= self.to {
            return None;
        }
        self.buckets
            .partition_point(|b| b.start <= hour)
            .checked_sub(1)
    }
}

/// The last `days` local days ending today.
pub fn last_days(tz: Tz, days: i64, now: i64) -> Plan {
    let today = local_date(tz, now);
    Plan::days(tz, today - Duration::days(days - 1), today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn berlin() -> Tz {
        zone(Some("Europe/Berlin")).unwrap()
    }

    #[test]
    fn zones_parse_and_errors_name_tz() {
        assert_eq!(zone(None).unwrap(), Tz::UTC);
        assert_eq!(zone(Some(" ")).unwrap(), Tz::UTC);
        assert_eq!(
            zone(Some("Asia/Kolkata")).unwrap(),
            chrono_tz::Asia::Kolkata
        );
        let err = zone(Some("Mars/Olympus")).unwrap_err();
        assert_eq!((err.status, err.field.as_deref()), (400, Some("tz")));
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let tz = berlin();
        let spring = Plan::range(
            tz,
            day_start(tz, date("2026-03-29")),
            day_start(tz, date("2026-03-30")),
        )
        .unwrap();
        assert_eq!(
            (spring.granularity, spring.buckets.len()),
            (Granularity::Hour, 23)
        );
        assert_eq!(spring.from, ms("2026-03-28T23:00:00Z"));
        assert_eq!(spring.buckets[2].label, "2026-03-29T03:00+02:00");
        let autumn = Plan::range(
            tz,
            day_start(tz, date("2026-10-25")),
            day_start(tz, date("2026-10-26")),
        )
        .unwrap();
        assert_eq!(autumn.buckets.len(), 25);
        assert_eq!(autumn.buckets[2].label, "2026-10-25T02:00+02:00");
        assert_eq!(autumn.buckets[3].label, "2026-10-25T02:00+01:00");
        let plain = Plan::period(tz, Period::Day, ms("2026-06-10T12:00:00Z"));
        assert_eq!(plain.buckets.len(), 24);
    }

    #[test]
    fn utc_hours_fall_in_the_local_bucket_of_their_start() {
        let tz = berlin();
        let plan = Plan::days(tz, date("2026-03-28"), date("2026-03-30"));
        assert_eq!(plan.index(ms("2026-03-27T22:00:00Z")), None);
        assert_eq!(plan.index(ms("2026-03-27T23:00:00Z")), Some(0));
        assert_eq!(
            plan.index(ms("2026-03-28T22:00:00Z")),
            Some(0),
            "23:00 CET, still the 28th"
        );
        assert_eq!(plan.index(ms("2026-03-28T23:00:00Z")), Some(1));
        assert_eq!(
            plan.index(ms("2026-03-29T21:00:00Z")),
            Some(1),
            "23:00 CEST"
        );
        assert_eq!(plan.index(ms("2026-03-29T22:00:00Z")), Some(2));
        assert_eq!(plan.index(ms("2026-03-30T22:00:00Z")), None);
        // +05:30: the local day starts at 18:30 UTC; the UTC hour 18:00 starts before it.
        let kolkata = zone(Some("Asia/Kolkata")).unwrap();
        let plan = Plan::days(kolkata, date("2026-01-02"), date("2026-01-02"));
        assert_eq!(plan.from, ms("2026-01-01T18:30:00Z"));
        assert_eq!(plan.index(ms("2026-01-01T18:00:00Z")), None);
        assert_eq!(plan.index(ms("2026-01-01T19:00:00Z")), Some(0));
        assert_eq!(local_hour(kolkata, ms("2026-01-01T19:00:00Z")), 0);
        assert_eq!(local_hour(berlin(), ms("2026-07-01T22:00:00Z")), 0);
    }

    #[test]
    fn ranges_pick_their_granularity_and_limits() {
        let tz = Tz::UTC;
        let from = ms("2026-01-01T10:30:00Z");
        let two_days = Plan::range(tz, from, from + 48 * HOUR_MS).unwrap();
        assert_eq!(two_days.granularity, Granularity::Hour);
        assert_eq!(
            two_days.from,
            ms("2026-01-01T10:00:00Z"),
            "widened to the hour"
        );
        assert_eq!(two_days.buckets.len(), 49);
        let longer = Plan::range(tz, from, from + 49 * HOUR_MS).unwrap();
        assert_eq!(
            (longer.granularity, longer.buckets.len()),
            (Granularity::Day, 3)
        );
        let year = Plan::range(tz, ms("2024-01-01T00:00:00Z"), ms("2025-01-01T00:00:00Z")).unwrap();
        assert_eq!(year.buckets.len(), 366);
        let err =
            Plan::range(tz, ms("2024-01-01T00:00:00Z"), ms("2025-01-02T00:00:00Z")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("to"));
        assert_eq!(
            Plan::range(tz, from, from).unwrap_err().field.as_deref(),
            Some("to")
        );
    }

    #[test]
    fn periods_are_calendar_periods() {
        let today = date("2026-02-18"); // a Wednesday
        assert_eq!(
            Period::Week.dates(today),
            (date("2026-02-16"), date("2026-02-22"))
        );
        assert_eq!(
            Period::Month.dates(today),
            (date("2026-02-01"), date("2026-02-28"))
        );
        assert_eq!(
            Period::Year.dates(today),
            (date("2026-01-01"), date("2026-12-31"))
        );
        assert_eq!(
            Period::Month.dates(date("2026-12-31")).1,
            date("2026-12-31")
        );
        assert_eq!(
            Period::parse("fortnight").unwrap_err().field.as_deref(),
            Some("period")
        );
        let month = Plan::period(berlin(), Period::Month, ms("2026-10-10T00:00:00Z"));
        assert_eq!(month.buckets.len(), 31);
        assert_eq!(
            month.to - month.from,
            31 * DAY_MS + HOUR_MS,
            "October gains an hour"
        );
    }

    #[test]
    fn bounds_read_dates_and_instants() {
        let tz = berlin();
        let d = bound("from", "2026-03-29").unwrap();
        assert_eq!(from_instant(tz, d), ms("2026-03-28T23:00:00Z"));
        assert_eq!(to_instant(tz, d), ms("2026-03-29T22:00:00Z"));
        let i = bound("to", "2026-03-29T10:00:00+02:00").unwrap();
        assert_eq!(to_instant(tz, i), ms("2026-03-29T08:00:00Z"));
        assert_eq!(
            bound("to", "yesterday").unwrap_err().field.as_deref(),
            Some("to")
        );
        let days = last_days(tz, 3, ms("2026-03-30T12:00:00Z"));
        let labels: Vec<&str> = days.buckets.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["2026-03-28", "2026-03-29", "2026-03-30"]);
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_first_local_minute() {
        // Santiago moved from 00:00 to 01:00 on 2024-09-08.
        let tz = zone(Some("America/Santiago")).unwrap();
        assert_eq!(
            day_start(tz, date("2024-09-08")),
            ms("2024-09-08T04:00:00Z")
        );
    }
}
