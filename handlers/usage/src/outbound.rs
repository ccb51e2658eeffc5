//! `GET /admin/nodes/:id/outbound-usage`: a node's traffic per outbound tag (direct, block, the
//! operator's outbounds), hourly or daily in UTC, zero-filled.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use nexuma_sdk::db::{self, Value};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::calendar::{Granularity, DAY_MS, HOUR_MS};
use crate::params;
use crate::retention::Kept;
use crate::traffic::Bytes;

/// Most buckets one answer holds per tag (a month of hours, a year of days).
const MAX_HOURS: i64 = 31 * 24;
const MAX_DAYS: i64 = 366;

/// One bucket of a tag's series.
#[derive(Serialize, JsonSchema)]
pub struct Point {
    /// Epoch milliseconds: the UTC hour's or day's start.
    time: i64,
    up: i64,
    down: i64,
}

/// One outbound tag's series.
#[derive(Serialize, JsonSchema)]
pub struct Tag {
    tag: String,
    /// Every bucket of the range, in order.
    points: Vec<Point>,
    total: Bytes,
}

/// `GET /admin/nodes/:id/outbound-usage`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outbound<'a> {
    node_id: &'a str,
    #[schemars(extend("enum" = Granularity::NAMES))]
    granularity: &'static str,
    /// Epoch milliseconds: the range's start, widened to a whole bucket.
    from: i64,
    /// Epoch milliseconds: the range's end, widened to a whole bucket.
    to: i64,
    /// By tag name.
    tags: Vec<Tag>,
    total: Bytes,
}

fn node_exists(id: &str) -> Result<(), ApiError> {
    if db::query("SELECT id FROM nodes WHERE id = $1", &[id.into()])?.is_empty() {
        return Err(ApiError::not_found(
            "node_not_found",
            format!("no node with id {id}"),
        ));
    }
    Ok(())
}

/// `[from, to)` widened to whole buckets; the default is the last 24 hours (or 30 days).
fn range(req: &Request, unit: i64, now: i64) -> Result<(i64, i64), ApiError> {
    let default_span = if unit == HOUR_MS {
        24 * HOUR_MS
    } else {
        30 * DAY_MS
    };
    let (from, to) = params::range(req, Tz::UTC, now)?.unwrap_or((now - default_span + 1, now));
    if to <= from {
        return Err(ApiError::validation("to", "must be later than from"));
    }
    let (from, to) = (
        from.div_euclid(unit) * unit,
        (to + unit - 1).div_euclid(unit) * unit,
    );
    let most = if unit == HOUR_MS { MAX_HOURS } else { MAX_DAYS };
    if (to - from) / unit > most {
        return Err(ApiError::validation(
            "to",
            format!(
                "at most {most} {} per answer",
                if unit == HOUR_MS { "hours" } else { "days" }
            ),
        ));
    }
    Ok((from, to))
}

pub fn series(req: &Request) -> Result<Response, ApiError> {
    let node = req.param("id")?;
    let granularity = params::granularity(req, Granularity::Hour)?;
    let unit = if granularity == Granularity::Hour {
        HOUR_MS
    } else {
        DAY_MS
    };
    let now = clock::now_ms();
    let (from, to) = range(req, unit, now)?;
    let tag = params::id(req, "tag")?;
    // Days come from the daily rows, which hold every day; hours only while they are kept.
    let (table, column) = match granularity {
        Granularity::Hour => {
            Kept::read(now)?.hours("from", from)?;
            ("outbound_traffic_hourly", "hour")
        }
        Granularity::Day => ("outbound_traffic_daily", "day"),
    };
    node_exists(node)?;
    let mut args: Vec<Value> = vec![node.into(), from.into(), to.into()];
    let by_tag = match tag {
        Some(tag) => {
            args.push(tag.into());
            "AND tag = $4"
        }
        None => "",
    };
    let rows = db::query(
        &format!(
            "SELECT {column} AS time, tag, up, down FROM {table} \
             WHERE node_id = $1 AND {column} >= $2 AND {column} < $3 {by_tag}"
        ),
        &args,
    )?;
    let buckets = ((to - from) / unit) as usize;
    let mut tags: BTreeMap<String, Vec<Bytes>> = BTreeMap::new();
    if let Some(tag) = tag {
        tags.insert(tag.to_string(), vec![Bytes::default(); buckets]);
    }
    let mut total = Bytes::default();
    for row in rows.iter() {
        let i = ((row.i64("time")? - from) / unit) as usize;
        let bytes = Bytes {
            up: row.i64("up")?,
            down: row.i64("down")?,
        };
        let series = tags
            .entry(row.string("tag")?)
            .or_insert_with(|| vec![Bytes::default(); buckets]);
        if let Some(slot) = series.get_mut(i) {
            slot.add(bytes);
            total.add(bytes);
        }
    }
    let tags: Vec<_> = tags
        .into_iter()
        .map(|(tag, series)| {
            let mut sum = Bytes::default();
            let points: Vec<_> = series
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    sum.add(*b);
                    Point {
                        time: from + i as i64 * unit,
                        up: b.up,
                        down: b.down,
                    }
                })
                .collect();
            Tag {
                tag,
                points,
                total: sum,
            }
        })
        .collect();
    response::json(
        200,
        &Outbound {
            node_id: node,
            granularity: granularity.name(),
            from,
            to,
            tags,
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
    fn the_series_says_what_is_always_there() {
        let outbound = answer_schema_of::<Outbound>();
        let fields = json!(["nodeId", "granularity", "from", "to", "tags", "total"]);
        assert_eq!(outbound["required"], fields);
        assert_eq!(
            outbound["properties"]["granularity"]["enum"],
            json!(Granularity::NAMES)
        );
        let tag = &outbound["properties"]["tags"]["items"];
        assert_eq!(tag["required"], json!(["tag", "points", "total"]));
        let point = &tag["properties"]["points"]["items"];
        assert_eq!(point["required"], json!(["time", "up", "down"]));
    }
}
