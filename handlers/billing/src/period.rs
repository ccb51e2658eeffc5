//! Calendar arithmetic of subscription periods and the unused share of a period. Pure functions
//! (times are epoch milliseconds, calendar in UTC).

use chrono::{DateTime, Months};

/// The latest time the API takes (an expiry): 9999-12-31T23:59:59.999Z. Any number of months the
/// calendar adds to it stays within chrono's range, so expiry arithmetic never fails on input.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// `at` plus `months` calendar months, keeping the time of day; a day the target month lacks
/// becomes its last day (31 Jan + 1 month = 28 or 29 Feb). `None` when out of range.
pub fn add_months(at: i64, months: i64) -> Option<i64> {
    let months = u32::try_from(months).ok()?;
    DateTime::from_timestamp_millis(at)?
        .checked_add_months(Months::new(months))
        .map(|t| t.timestamp_millis())
}

/// The end of `periods` periods of `months` each, counted from `anchor`. Counting from the
/// anchor (not from the previous end) keeps renewals from drifting: 31 Jan, 28 Feb, 31 Mar.
pub fn expiry(anchor: i64, months: i64, periods: i64) -> Option<i64> {
    add_months(anchor, months.checked_mul(periods)?)
}

/// `amount * left / whole`, rounded down and kept within `0..=amount`: what is unused of
/// `amount` when `left` of `whole` remains.
pub fn unused_share(amount: i64, left: i64, whole: i64) -> i64 {
    if whole <= 0 || amount <= 0 {
        return 0;
    }
    let left = left.clamp(0, whole);
    let share = i128::from(amount) * i128::from(left) / i128::from(whole);
    i64::try_from(share).unwrap_or(amount).clamp(0, amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn at(y: i32, m: u32, d: u32) -> i64 {
        let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        Utc.from_utc_datetime(&date.and_hms_opt(12, 30, 0).unwrap())
            .timestamp_millis()
    }

    #[test]
    fn months_are_calendar_months() {
        assert_eq!(add_months(at(2026, 1, 15), 1), Some(at(2026, 2, 15)));
        assert_eq!(add_months(at(2026, 1, 31), 1), Some(at(2026, 2, 28)));
        assert_eq!(add_months(at(2028, 1, 31), 1), Some(at(2028, 2, 29)));
        assert_eq!(add_months(at(2026, 11, 30), 3), Some(at(2027, 2, 28)));
        assert_eq!(add_months(at(2026, 5, 1), 12), Some(at(2027, 5, 1)));
        assert_eq!(add_months(at(2026, 5, 1), -1), None);
    }

    #[test]
    fn the_latest_time_is_the_end_of_9999() {
        let end = DateTime::from_timestamp_millis(MAX_TIME_MS).unwrap();
        assert_eq!(end.to_rfc3339(), "9999-12-31T23:59:59.999+00:00");
        // The longest tariff (1200 months) past it is still a time.
        assert!(add_months(MAX_TIME_MS, 1200).is_some());
    }

    #[test]
    fn periods_count_from_the_anchor_without_drift() {
        let anchor = at(2026, 1, 31);
        assert_eq!(expiry(anchor, 1, 1), Some(at(2026, 2, 28)));
        assert_eq!(expiry(anchor, 1, 2), Some(at(2026, 3, 31)));
        assert_eq!(expiry(anchor, 3, 2), Some(at(2026, 7, 31)));
        assert_eq!(expiry(anchor, i64::MAX, 2), None);
    }

    #[test]
    fn unused_share_rounds_down_and_stays_in_range() {
        assert_eq!(unused_share(1000, 15, 30), 500);
        assert_eq!(unused_share(1000, 1, 3), 333);
        assert_eq!(unused_share(1000, 0, 30), 0);
        assert_eq!(unused_share(1000, 40, 30), 1000);
        assert_eq!(unused_share(1000, -5, 30), 0);
        assert_eq!(unused_share(1000, 5, 0), 0);
        assert_eq!(unused_share(i64::MAX, i64::MAX - 1, i64::MAX), i64::MAX - 1);
    }
}
