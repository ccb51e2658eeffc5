//! `GET /console`: the dashboard — users by state, active subscriptions, nodes by state.

use maud::{html, Markup};
use nexuma_sdk::{clock, ApiError, Request, Response};
use serde_json::Value;

use crate::call::{self, encode};
use crate::chart::{self, Days, Series};
use crate::page::{self, Frame};
use crate::session::{self, Admin};

pub fn show(req: &Request) -> Result<Response, ApiError> {
    let admin = match session::admin(req) {
        Ok(admin) => admin,
        Err(page) => return Ok(page),
    };
    let users = call::get(&admin, "/admin/users/stats")?;
    let active = call::get(&admin, "/admin/subscriptions?status=active&limit=1")?;
    let nodes = call::get(&admin, "/admin/nodes?limit=100")?;
    let content = html! {
        h1 { "Dashboard" }
        h2 { "Users" }
        div.cards {
            (card(&users["total"], "users in all"))
            (card(&users["byStatus"]["active"], "active"))
            (card(&users["byStatus"]["pending"], "waiting for approval"))
            (card(&users["byStatus"]["rejected"], "rejected"))
            (card(&users["blocked"], "blocked"))
            (card(&users["withActiveSubscription"], "with an active subscription"))
        }
        h2 { "Subscriptions" }
        div.cards { (card(&active["total"], "active subscriptions")) }
        h2 { "Money, last " (DAYS) " days (UTC)" }
        (money(&admin)?)
        h2 { "Nodes" }
        (node_states(&nodes))
        h2 { "Traffic by node, last " (DAYS) " days (UTC)" }
        div.panel { (traffic(&admin, &nodes)?) }
    };
    let frame = Frame {
        title: "Dashboard",
        section: "/console",
        admin: &admin,
        notice: None,
    };
    Ok(page::framed(200, frame, content))
}

/// Days the traffic chart covers.
const DAYS: i64 = 14;
/// Nodes charted one by one; the rest are summed as "other nodes".
const CHARTED_NODES: usize = 6;

/// The period's money in cards, and sales per day as a chart.
fn money(admin: &Admin) -> Result<Markup, ApiError> {
    let summary = call::get(admin, &format!("/admin/billing/summary?days={DAYS}"))?;
    let days = Days::last(DAYS, clock::now_ms());
    let mut sales = vec![0; days.labels.len()];
    for day in summary["days"].as_array().into_iter().flatten() {
        if let Some(i) = days.index(day["day"].as_i64().unwrap_or(0)) {
            sales[i] = day["sales"].as_i64().unwrap_or(0);
        }
    }
    let totals = &summary["totals"];
    let amount = |key: &str| chart::money(totals[key].as_i64().unwrap_or(0));
    let series = [Series {
        name: "sales".into(),
        values: sales,
    }];
    Ok(html! {
        div.cards {
            div.card { div.n { (amount("sales")) } div.l { "sales (purchases and renewals)" } }
            div.card { div.n { (amount("deposits")) } div.l { "deposits" } }
            div.card { div.n { (amount("refunds")) } div.l { "refunds" } }
            div.card { div.n { (amount("withdrawals")) } div.l { "withdrawals" } }
        }
        div.panel { (chart::stacked(&days.labels, &series, chart::money)) }
    })
}

/// Each node's daily traffic (every outbound, both directions) over the last `DAYS` days,
/// stacked per day.
fn traffic(admin: &Admin, nodes: &Value) -> Result<Markup, ApiError> {
    let days = Days::last(DAYS, clock::now_ms());
    let items = nodes["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut series: Vec<Series> = Vec::new();
    for node in items {
        let id = node["id"].as_str().unwrap_or_default();
        let usage = call::get(
            admin,
            &format!(
                "/admin/nodes/{}/outbound-usage?granularity=day&from={}",
                encode(id),
                days.from
            ),
        )?;
        let values = daily_sums(&usage, &days);
        let name = node["name"].as_str().unwrap_or_default().to_string();
        if series.len() < CHARTED_NODES {
            series.push(Series { name, values });
        } else if let Some(other) = series.get_mut(CHARTED_NODES) {
            other
                .values
                .iter_mut()
                .zip(values)
                .for_each(|(a, b)| *a += b);
        } else {
            series.push(Series {
                name: "other nodes".into(),
                values,
            });
        }
    }
    Ok(chart::stacked(&days.labels, &series, chart::bytes))
}

/// Each day's bytes (up and down, every outbound tag).
fn daily_sums(usage: &Value, days: &Days) -> Vec<i64> {
    let mut sums = vec![0; days.labels.len()];
    for tag in usage["tags"].as_array().into_iter().flatten() {
        for point in tag["points"].as_array().into_iter().flatten() {
            if let Some(day) = days.index(point["time"].as_i64().unwrap_or(0)) {
                sums[day] +=
                    point["up"].as_i64().unwrap_or(0) + point["down"].as_i64().unwrap_or(0);
            }
        }
    }
    sums
}

fn card(value: &Value, label: &str) -> Markup {
    html! {
        div.card { div.n { (value.as_i64().unwrap_or(0)) } div.l { (label) } }
    }
}

/// How many nodes are in each state, and the total.
fn node_states(nodes: &Value) -> Markup {
    let items = nodes["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut states: Vec<(String, i64)> = Vec::new();
    for node in items {
        let state = node["effectiveStatus"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        match states.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => states.push((state, 1)),
        }
    }
    // Links with a device online, over the nodes whose agents report (a silent one counts 0).
    let online: i64 = items
        .iter()
        .map(|n| n["onlineLinks"].as_i64().unwrap_or(0))
        .sum();
    html! {
        div.cards {
            (card(&nodes["total"], "nodes in all"))
            (card(&Value::from(online), "devices online now"))
            @for (state, n) in &states { (card(&Value::from(*n), state)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nodes_days_sum_every_tag_both_ways_and_ignore_other_days() {
        const DAY_MS: i64 = 86_400_000;
        let days = Days::last(DAYS, 20 * DAY_MS + 5);
        let from = days.from_ms;
        let usage = json!({ "tags": [
            { "tag": "direct", "points": [
                { "time": from, "up": 1, "down": 10 },
                { "time": from + DAY_MS, "up": 2, "down": 20 },
                { "time": from - DAY_MS, "up": 99, "down": 99 }
            ] },
            { "tag": "block", "points": [ { "time": from, "up": 100, "down": 0 } ] }
        ] });
        let sums = daily_sums(&usage, &days);
        assert_eq!(sums.len(), DAYS as usize);
        assert_eq!(&sums[..3], &[111, 22, 0]);
    }
}
