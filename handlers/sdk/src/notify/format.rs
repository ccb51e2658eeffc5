//! How values read in messages: sums of money, traffic, moments and spans of time. Messages are
//! plain text for people, so these are short and always in UTC.

const MINOR_PER_MAJOR: i64 = 100;

/// `amount` minor units as `12.34 RUB`.
pub fn money(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let per = MINOR_PER_MAJOR as u64;
    format!("{sign}{}.{:02} {currency}", abs / per, abs % per)
}

/// Bytes in binary units, one decimal: `1.5 GiB`.
pub fn bytes(value: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut size = value.max(0) as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// Epoch milliseconds as `2025-03-01 14:05 UTC`.
pub fn moment(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// A span of milliseconds in its largest whole unit: `3 days`, `1 hour`, `5 minutes`.
pub fn span(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (n, unit) = if minutes >= 1440 {
        (minutes / 1440, "day")
    } else if minutes >= 60 {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Days since 1970-01-01 as (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_in_major_units() {
        assert_eq!(money(12_345, "RUB"), "123.45 RUB");
        assert_eq!(money(5, "RUB"), "0.05 RUB");
        assert_eq!(money(-100, "RUB"), "-1.00 RUB");
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(10 * 1024 * 1024 * 1024), "10.0 GiB");
    }

    #[test]
    fn moments_are_utc_dates() {
        assert_eq!(moment(0), "1970-01-01 00:00 UTC");
        // 2024-02-29 13:45:30 UTC, a leap day.
        assert_eq!(moment(1_709_214_330_000), "2024-02-29 13:45 UTC");
    }

    #[test]
    fn spans_use_the_largest_unit() {
        assert_eq!(span(3 * 86_400_000 + 5_000), "3 days");
        assert_eq!(span(86_400_000), "1 day");
        assert_eq!(span(2 * 3_600_000), "2 hours");
        assert_eq!(span(60_000), "1 minute");
    }
}
