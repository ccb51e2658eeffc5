//! Traffic series the charts draw, read through the usage routes.

use maud::Markup;
use nexuma_sdk::{clock, ApiError};
use serde_json::Value;

use crate::call::{self, encode};
use crate::chart::{self, Days, Series};
use crate::session::Admin;

/// Days a user's or a node's traffic chart covers.
pub const DAYS: i64 = 14;

/// The last `DAYS` days, the buckets of a user's or a node's chart.
pub fn days() -> Days {
    Days::last(DAYS, clock::now_ms())
}

/// Daily series, stacked, in bytes.
pub fn chart(days: &Days, series: &[Series]) -> Markup {
    chart::stacked(&days.labels, series, chart::bytes)
}

/// A user's daily traffic by node, from `/admin/usage`'s daily rows.
pub fn by_node(admin: &Admin, user: &str, days: &Days) -> Result<Vec<Series>, ApiError> {
    let usage = call::get(
        admin,
        &format!(
            "/admin/usage?userId={}&granularity=day&from={}&limit=1000",
            encode(user),
            days.from
        ),
    )?;
    let mut series: Vec<(String, Series)> = Vec::new();
    for row in usage["items"].as_array().into_iter().flatten() {
        let Some(day) = days.index(row["time"].as_i64().unwrap_or(0)) else {
            continue;
        };
        let node = row["nodeId"].as_str().unwrap_or_default();
        let index = match series.iter().position(|(n, _)| n == node) {
            Some(index) => index,
            None => {
                let name = node_name(admin, node);
                let values = vec![0; days.labels.len()];
                series.push((node.to_string(), Series { name, values }));
                series.len() - 1
            }
        };
        series[index].1.values[day] +=
            row["up"].as_i64().unwrap_or(0) + row["down"].as_i64().unwrap_or(0);
    }
    Ok(series.into_iter().map(|(_, s)| s).collect())
}

/// A node's name for a legend; its id when it cannot be read (deleted since).
fn node_name(admin: &Admin, id: &str) -> String {
    call::get(admin, &format!("/admin/nodes/{}", encode(id)))
        .ok()
        .and_then(|n| n["name"].as_str().map(String::from))
        .unwrap_or_else(|| id.to_string())
}

/// A node's daily traffic per outbound tag (direct, block, its own), both directions.
pub fn by_outbound(admin: &Admin, node: &str, days: &Days) -> Result<Vec<Series>, ApiError> {
    let usage = call::get(
        admin,
        &format!(
            "/admin/nodes/{}/outbound-usage?granularity=day&from={}",
            encode(node),
            days.from
        ),
    )?;
    Ok(tag_series(&usage, days))
}

/// Each tag of an outbound-usage answer as a series over `days`.
fn tag_series(usage: &Value, days: &Days) -> Vec<Series> {
    usage["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tag| {
            let mut values = vec![0; days.labels.len()];
            for point in tag["points"].as_array().into_iter().flatten() {
                if let Some(day) = days.index(point["time"].as_i64().unwrap_or(0)) {
                    values[day] +=
                        point["up"].as_i64().unwrap_or(0) + point["down"].as_i64().unwrap_or(0);
                }
            }
            Series {
                name: tag["tag"].as_str().unwrap_or_default().to_string(),
                values,
            }
        })
        .collect()
}

/// The series added bucket by bucket.
pub fn total(series: &[Series], buckets: usize) -> Vec<i64> {
    let mut sums = vec![0; buckets];
    for s in series {
        for (sum, v) in sums.iter_mut().zip(&s.values) {
            *sum += v;
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nodes_days_sum_both_ways_per_tag_and_ignore_other_days() {
        const DAY_MS: i64 = 86_400_000;
        let days = Days::last(14, 20 * DAY_MS + 5);
        let from = days.from_ms;
        let usage = json!({ "tags": [
            { "tag": "direct", "points": [
                { "time": from, "up": 1, "down": 10 },
                { "time": from + DAY_MS, "up": 2, "down": 20 },
                { "time": from - DAY_MS, "up": 99, "down": 99 }
            ] },
            { "tag": "block", "points": [ { "time": from, "up": 100, "down": 0 } ] }
        ] });
        let series = tag_series(&usage, &days);
        assert_eq!(series[0].name, "direct");
        assert_eq!(&series[0].values[..3], &[11, 22, 0]);
        let sums = total(&series, days.labels.len());
        assert_eq!(sums.len(), 14);
        assert_eq!(&sums[..3], &[111, 22, 0]);
    }
}
