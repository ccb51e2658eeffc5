//! `GET /admin/usage`: traffic rows under filters, in time order, a keyset page at a time, with
//! the totals of the whole filter.
//!
//! Rows are ordered by (time, user, node, link) — unique per row — and a page starts strictly
//! after the cursor's key, so paging never repeats or skips a row. An hourly page is a range of
//! the index on `traffic_hourly (hour, user_id, node_id, link_id)`, a daily one of
//! `traffic_daily`'s key; the totals read whole days from `traffic_daily` (migration 0012).

use chrono_tz::Tz;
use nexuma_sdk::db;
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::calendar::{Granularity, DAY_MS, HOUR_MS, MAX_DAYS};
use crate::cursor::Cursor;
use crate::filter::Filter;
use crate::params;
use crate::retention::Kept;
use crate::span::{self, Conditions, Span};
use crate::traffic::Bytes;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
pub const SORTS: [&str; 2] = ["time_asc", "time_desc"];

/// The time range: `from`/`to` (UTC; dates are whole days), else the last 24 hours. Daily rows
/// widen it to whole days.
fn range(req: &Request, granularity: Granularity, now: i64) -> Result<(i64, i64), ApiError> {
    let (from, to) = params::range(req, Tz::UTC, now)?
        .unwrap_or_else(|| (now.div_euclid(HOUR_MS) * HOUR_MS - 23 * HOUR_MS, now));
    if to <= from {
        return Err(ApiError::validation("to", "must be later than from"));
    }
    if to - from > MAX_DAYS * DAY_MS {
        return Err(ApiError::validation(
            "to",
            format!("the range may span at most {MAX_DAYS} days"),
        ));
    }
    let unit = match granularity {
        Granularity::Hour => HOUR_MS,
        Granularity::Day => DAY_MS,
    };
    Ok((
        from.div_euclid(unit) * unit,
        (to + unit - 1).div_euclid(unit) * unit,
    ))
}

/// The filters on user, node, link and subscription the request names.
fn conditions(req: &Request) -> Result<Conditions, ApiError> {
    let mut out = Conditions::new();
    for (param, sql) in [
        ("userId", "user_id = $?"),
        ("nodeId", "node_id = $?"),
        ("linkId", "link_id = $?"),
        (
            "subscriptionId",
            "link_id IN (SELECT id FROM subscription_links WHERE subscription_id = $?)",
        ),
    ] {
        if let Some(id) = params::id(req, param)? {
            out.push((sql, id.into()));
        }
    }
    Ok(out)
}

/// The time column of a granularity's table.
fn time_column(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Hour => "hour",
        Granularity::Day => "day",
    }
}

/// The page's conditions: the range and the request's filters, on the granularity's table.
fn filter(granularity: Granularity, from: i64, to: i64, conditions: &Conditions) -> Filter {
    let column = time_column(granularity);
    let mut f = Filter::default();
    f.add(
        &format!("{column} >= $? AND {column} < $?"),
        vec![from.into(), to.into()],
    );
    for (sql, value) in conditions {
        f.add(sql, vec![value.clone()]);
    }
    f
}

/// The key's id columns a filter leaves free: a `userId=` (`nodeId=`, `linkId=`) fixes that
/// column for every row, so the cursor's comparison leaves it out.
fn free_columns(req: &Request) -> Result<Vec<&'static str>, ApiError> {
    let mut free = Vec::new();
    for (param, column) in [
        ("userId", "user_id"),
        ("nodeId", "node_id"),
        ("linkId", "link_id"),
    ] {
        if params::id(req, param)?.is_none() {
            free.push(column);
        }
    }
    Ok(free)
}

/// Rows strictly after the cursor in the page's order: a row comparison of the time and the
/// `free` id columns, which PostgreSQL runs as a range of the table's key or, behind a fixed
/// user or node, of the index that starts with it (migration 0017).
fn after(f: &mut Filter, c: &Cursor, free: &[&str]) {
    let op = if c.descending { "<" } else { ">" };
    let mut columns = vec![time_column(c.granularity)];
    let mut values = vec![c.time.into()];
    for (column, value) in [
        ("user_id", &c.user),
        ("node_id", &c.node),
        ("link_id", &c.link),
    ] {
        if free.contains(&column) {
            columns.push(column);
            values.push(value.as_str().into());
        }
    }
    let marks = vec!["$?"; columns.len()].join(", ");
    f.add(&format!("({}) {op} ({marks})", columns.join(", ")), values);
}

/// One traffic row of a link on a node in an hour or a day.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Epoch milliseconds: the hour's or the UTC day's start.
    time: i64,
    user_id: String,
    node_id: String,
    link_id: String,
    up: i64,
    down: i64,
}

/// A page of `GET /admin/usage`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[schemars(extend("enum" = Granularity::NAMES))]
    granularity: &'static str,
    /// Epoch milliseconds: the range's start, widened to a whole bucket.
    from: i64,
    /// Epoch milliseconds: the range's end, widened to a whole bucket.
    to: i64,
    items: Vec<Row>,
    /// The next page's `after` (or `cursor`); null on the last page.
    next_cursor: Option<String>,
    /// The whole filter, every page.
    totals: Bytes,
}

/// Up and down over the whole filter (every page shows the same).
fn totals(from: i64, to: i64, conditions: &Conditions, kept: &Kept) -> Result<Bytes, ApiError> {
    let span = Span::of(from, to);
    span.kept(kept, "from")?;
    let mut f = Filter::default();
    let source = span::source(&mut f, &span, conditions);
    let sums = db::query(
        &format!(
            "SELECT CAST(COALESCE(SUM(up), 0) AS BIGINT) AS up, \
             CAST(COALESCE(SUM(down), 0) AS BIGINT) AS down FROM {source} t"
        ),
        &f.params,
    )?;
    let row = sums
        .first()
        .ok_or_else(|| ApiError::internal("totals: no row"))?;
    Ok(Bytes {
        up: row.i64("up")?,
        down: row.i64("down")?,
    })
}

fn page_sql(f: &Filter, granularity: Granularity, descending: bool, limit: &str) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let (column, table) = match granularity {
        Granularity::Hour => ("hour", "traffic_hourly"),
        Granularity::Day => ("day", "traffic_daily"),
    };
    format!(
        "SELECT {column} AS time, user_id, node_id, link_id, up, down FROM {table} WHERE {} \
         ORDER BY {column} {dir}, user_id {dir}, node_id {dir}, link_id {dir} LIMIT {limit}",
        f.sql()
    )
}

/// `sort`: one of [`SORTS`], the first when absent; whether it runs newest first.
pub fn descending(req: &Request) -> Result<bool, ApiError> {
    match params::text(req, "sort") {
        None | Some("time_asc") => Ok(false),
        Some("time_desc") => Ok(true),
        Some(_) => Err(ApiError::validation(
            "sort",
            "must be time_asc or time_desc",
        )),
    }
}

/// The cursor and the parameter that carries it: `after`, the list routes' name for it, or
/// `cursor`, this route's first name, still taken; not both.
fn cursor_param(req: &Request) -> Result<Option<(&'static str, &str)>, ApiError> {
    match (params::text(req, "after"), params::text(req, "cursor")) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "after",
            "give after or cursor (the same), not both",
        )),
        (Some(raw), None) => Ok(Some(("after", raw))),
        (None, Some(raw)) => Ok(Some(("cursor", raw))),
        (None, None) => Ok(None),
    }
}

/// `GET /admin/usage`.
pub fn list(req: &Request) -> Result<Response, ApiError> {
    let granularity = params::granularity(req, Granularity::Hour)?;
    let descending = descending(req)?;
    let limit = req.int_query("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?;
    let cursor = match cursor_param(req)? {
        Some((field, raw)) => Some(Cursor::decode(field, raw, descending, granularity)?),
        None => None,
    };
    let now = clock::now_ms();
    let (from, to) = range(req, granularity, now)?;
    let kept = Kept::read(now)?;
    if granularity == Granularity::Hour {
        kept.hours("from", from)?;
    }
    let conditions = conditions(req)?;
    let totals = totals(from, to, &conditions, &kept)?;
    let mut f = filter(granularity, from, to, &conditions);
    if let Some(c) = &cursor {
        after(&mut f, c, &free_columns(req)?);
    }
    // One row past the page says whether another page follows.
    let limit_at = f.push((limit + 1).into());
    let sql = page_sql(&f, granularity, descending, &limit_at);
    let rows = db::query(&sql, &f.params)?;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = None;
    for row in rows.iter().take(limit as usize) {
        let key = Cursor {
            descending,
            granularity,
            time: row.i64("time")?,
            user: row.string("user_id")?,
            node: row.string("node_id")?,
            link: row.string("link_id")?,
        };
        items.push(Row {
            time: key.time,
            user_id: key.user.clone(),
            node_id: key.node.clone(),
            link_id: key.link.clone(),
            up: row.i64("up")?,
            down: row.i64("down")?,
        });
        last = Some(key);
    }
    let next = if rows.len() as i64 > limit {
        last.map(|c| c.encode())
    } else {
        None
    };
    response::json(
        200,
        &Page {
            granularity: granularity.name(),
            from,
            to,
            items,
            next_cursor: next,
            totals,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexuma_sdk::answer_schema_of;
    use serde_json::json;

    /// A filtered column leaves the cursor's comparison: every row has its value.
    #[test]
    fn the_cursor_compares_the_columns_no_filter_fixes() {
        let c = Cursor {
            descending: false,
            granularity: Granularity::Hour,
            time: 7,
            user: "u".into(),
            node: "n".into(),
            link: "l".into(),
        };
        let req = Request::with_query(&[("userId", "u")]);
        let mut f = Filter::default();
        after(&mut f, &c, &free_columns(&req).expect("free"));
        assert_eq!(f.sql(), "(hour, node_id, link_id) > ($1, $2, $3)");
        let mut f = Filter::default();
        let all = free_columns(&Request::with_query(&[])).expect("free");
        after(
            &mut f,
            &Cursor {
                descending: true,
                ..c
            },
            &all,
        );
        assert_eq!(
            f.sql(),
            "(hour, user_id, node_id, link_id) < ($1, $2, $3, $4)"
        );
        assert_eq!(f.params.len(), 4);
    }

    #[test]
    fn a_page_says_what_is_always_there_and_when_the_cursor_is_null() {
        let page = answer_schema_of::<Page>();
        let required = json!(["granularity", "from", "to", "items", "nextCursor", "totals"]);
        assert_eq!(page["required"], required);
        assert_eq!(
            page["properties"]["nextCursor"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            page["properties"]["granularity"]["enum"],
            json!(Granularity::NAMES)
        );
        let row = &page["properties"]["items"]["items"];
        let fields = json!(["time", "userId", "nodeId", "linkId", "up", "down"]);
        assert_eq!(row["required"], fields);
    }
}
