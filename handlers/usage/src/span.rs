//! A time range read from the two traffic tables: its whole UTC days from `traffic_daily` (a
//! row per link and day) and the hours before the first and after the last midnight from
//! `traffic_hourly` — the same sums as reading every hour, at a 24th of the rows.

use nexuma_sdk::db::Value;
use nexuma_sdk::ApiError;

use crate::calendar::{DAY_MS, HOUR_MS};
use crate::filter::Filter;
use crate::retention::Kept;

/// `[from, to)` in whole hours, split at UTC midnights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Whole days, when the range holds at least one.
    pub days: Option<(i64, i64)>,
    /// Hours outside the whole days (before them, after them; the whole range when there are
    /// no whole days).
    pub hours: [Option<(i64, i64)>; 2],
}

impl Span {
    /// `from`/`to` are rounded out to whole hours (the tables hold nothing finer).
    pub fn of(from: i64, to: i64) -> Span {
        let from = from.div_euclid(HOUR_MS) * HOUR_MS;
        let to = (to + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
        let first_day = (from + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
        let last_day = to.div_euclid(DAY_MS) * DAY_MS;
        let non_empty = |a: i64, b: i64| (a < b).then_some((a, b));
        if first_day >= last_day {
            return Span {
                days: None,
                hours: [non_empty(from, to), None],
            };
        }
        Span {
            days: Some((first_day, last_day)),
            hours: [non_empty(from, first_day), non_empty(last_day, to)],
        }
    }
}

impl Span {
    /// Its hours are all still kept; else 400 naming `field` (its whole days are always there).
    pub fn kept(&self, kept: &Kept, field: &str) -> Result<(), ApiError> {
        for (from, _) in self.hours.into_iter().flatten() {
            kept.hours(field, from)?;
        }
        Ok(())
    }
}

/// Conditions on user, node and link a source applies in each of its parts (`user_id = $?`
/// with its value), for columns both tables have.
pub type Conditions = Vec<(&'static str, Value)>;

/// A subquery with the columns `user_id, node_id, link_id, up, down` holding the span's
/// traffic under `conditions`, its parameters bound into `f`.
pub fn source(f: &mut Filter, span: &Span, conditions: &Conditions) -> String {
    let mut parts = Vec::new();
    let mut part = |f: &mut Filter, table: &str, column: &str, (a, b): (i64, i64)| {
        let mut sql = format!(
            "SELECT user_id, node_id, link_id, up, down FROM {table} WHERE {}",
            f.bind(
                &format!("{column} >= $? AND {column} < $?"),
                vec![a.into(), b.into()]
            )
        );
        for (cond, value) in conditions {
            sql.push_str(" AND ");
            sql.push_str(&f.bind(cond, vec![value.clone()]));
        }
        parts.push(sql);
    };
    if let Some(days) = span.days {
        part(f, "traffic_daily", "day", days);
    }
    for hours in span.hours.into_iter().flatten() {
        part(f, "traffic_hourly", "hour", hours);
    }
    if parts.is_empty() {
        return "(SELECT user_id, node_id, link_id, up, down FROM traffic_daily WHERE FALSE)"
            .into();
    }
    format!("({})", parts.join(" UNION ALL "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_MS;
    const H: i64 = HOUR_MS;

    #[test]
    fn whole_days_come_from_the_daily_table() {
        assert_eq!(
            Span::of(10 * D, 12 * D),
            Span {
                days: Some((10 * D, 12 * D)),
                hours: [None, None]
            }
        );
    }

    #[test]
    fn edges_come_from_the_hourly_table() {
        assert_eq!(
            Span::of(10 * D + 5 * H, 12 * D + 2 * H),
            Span {
                days: Some((11 * D, 12 * D)),
                hours: [
                    Some((10 * D + 5 * H, 11 * D)),
                    Some((12 * D, 12 * D + 2 * H))
                ],
            }
        );
    }

    #[test]
    fn less_than_a_day_is_hours_only() {
        assert_eq!(
            Span::of(10 * D + 5 * H, 11 * D + 2 * H),
            Span {
                days: None,
                hours: [Some((10 * D + 5 * H, 11 * D + 2 * H)), None]
            }
        );
        // A partial hour counts whole: the tables hold nothing finer.
        assert_eq!(
            Span::of(10 * D + 5 * H + 1, 10 * D + 6 * H + 1),
            Span {
                days: None,
                hours: [Some((10 * D + 5 * H, 10 * D + 7 * H)), None]
            }
        );
    }

    #[test]
    fn an_empty_range_reads_nothing() {
        assert_eq!(
            Span::of(5 * D, 5 * D),
            Span {
                days: None,
                hours: [None, None]
            }
        );
    }

    #[test]
    fn parts_bind_their_own_parameters() {
        let mut f = Filter::default();
        let conditions: Conditions = vec![("user_id = $?", "u1".into())];
        let sql = source(&mut f, &Span::of(10 * D + 5 * H, 12 * D), &conditions);
        assert_eq!(
            sql,
            "(SELECT user_id, node_id, link_id, up, down FROM traffic_daily WHERE day >= $1 AND day < $2 AND user_id = $3 \
             UNION ALL SELECT user_id, node_id, link_id, up, down FROM traffic_hourly WHERE hour >= $4 AND hour < $5 AND user_id = $6)"
        );
        assert_eq!(f.params.len(), 6);
    }
}
