//! `GET /console`: the dashboard — users by state, active subscriptions, nodes by state.

use maud::{html, Markup};
use nexuma_sdk::{clock, ApiError, Request, Response, MAX_LIMIT};
use serde_json::Value;

use crate::call;
use crate::chart::{self, Days, Series};
use crate::page::{self, Frame};
use crate::session::Admin;
use crate::traffic;

pub fn show(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let users = call::get(admin, "/admin/users/stats")?;
    let active = call::get(admin, "/admin/subscriptions?status=active&limit=1")?;
    let (nodes, total) = every_node(admin)?;
    let days = req
        .query("days")
        .and_then(|d| d.parse().ok())
        .filter(|d| PERIODS.contains(d))
        .unwrap_or(DAYS);
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
        div.filters {
            "Period: "
            @for d in PERIODS {
                a href={"/console?days=" (d)} class=[(d == days).then_some("here")] { (d) " days" }
            }
        }
        h2 { "Money, last " (days) " days (UTC)" }
        (money(admin, days)?)
        h2 { "Nodes" }
        (node_states(&nodes, total))
        h2 { "Traffic by node, last " (days) " days (UTC)" }
        div.panel { (traffic(admin, &nodes, days)?) }
    };
    let frame = Frame {
        title: "Dashboard",
        section: "/console",
        admin,
        notice: None,
    };
    Ok(page::framed(200, frame, content))
}

/// Days the money and traffic cover unless the query picks one of `PERIODS`.
const DAYS: i64 = 14;
/// The periods the dashboard offers, in days.
const PERIODS: [i64; 4] = [7, 14, 30, 90];
/// Nodes charted on the dashboard.
const CHARTED_NODES: usize = 6;

/// Nodes read for the dashboard's counts, at most (a page of the API at a time).
const NODES_READ: i64 = 2_000;

/// Every node (up to `NODES_READ`), page by page, with the API's total.
fn every_node(admin: &Admin) -> Result<(Vec<Value>, i64), ApiError> {
    let mut nodes = Vec::new();
    loop {
        let offset = nodes.len();
        let page = call::get(
            admin,
            &format!("/admin/nodes?limit={MAX_LIMIT}&offset={offset}"),
        )?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let total = page["total"].as_i64().unwrap_or(0);
        let last = items.len() < MAX_LIMIT as usize;
        nodes.extend(items);
        if last || nodes.len() as i64 >= total.min(NODES_READ) {
            return Ok((nodes, total));
        }
    }
}

/// The period's money in cards, and sales per day as a chart.
fn money(admin: &Admin, count: i64) -> Result<Markup, ApiError> {
    let summary = call::get(admin, &format!("/admin/billing/summary?days={count}"))?;
    let days = Days::last(count, clock::now_ms());
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

/// The daily traffic (every outbound, both directions) of the first `CHARTED_NODES` nodes over
/// the last `count` days, stacked per day; one in-process call per node charted.
fn traffic(admin: &Admin, nodes: &[Value], count: i64) -> Result<Markup, ApiError> {
    let days = Days::last(count, clock::now_ms());
    let mut series = Vec::new();
    for node in nodes.iter().take(CHARTED_NODES) {
        let tags = traffic::by_outbound(admin, node["id"].as_str().unwrap_or_default(), &days)?;
        series.push(Series {
            name: node["name"].as_str().unwrap_or_default().to_string(),
            values: traffic::total(&tags, days.labels.len()),
        });
    }
    let more = nodes.len().saturating_sub(CHARTED_NODES);
    Ok(html! {
        (chart::stacked(&days.labels, &series, chart::bytes))
        @if more > 0 { p.hint { (more) " more nodes are not charted: each node's page has its own traffic." } }
    })
}

fn card(value: &Value, label: &str) -> Markup {
    html! {
        div.card { div.n { (value.as_i64().unwrap_or(0)) } div.l { (label) } }
    }
}

/// How many nodes are in each state, devices online, and the total.
fn node_states(nodes: &[Value], total: i64) -> Markup {
    let mut states: Vec<(String, i64)> = Vec::new();
    for node in nodes {
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
    let online: i64 = nodes
        .iter()
        .map(|n| n["onlineLinks"].as_i64().unwrap_or(0))
        .sum();
    html! {
        div.cards {
            (card(&Value::from(total), "nodes in all"))
            (card(&Value::from(online), "devices online now"))
            @for (state, n) in &states { (card(&Value::from(*n), state)) }
        }
        @if (nodes.len() as i64) < total { p.hint { "States counted over the first " (nodes.len()) " nodes." } }
    }
}
