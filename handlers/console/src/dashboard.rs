//! `GET /console`: the dashboard — users by state, active subscriptions, nodes by state.

use maud::{html, Markup};
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::Value;

use crate::call;
use crate::page::{self, Frame};
use crate::session;

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
        h2 { "Nodes" }
        (node_states(&nodes))
    };
    let frame = Frame {
        title: "Dashboard",
        section: "/console",
        admin: &admin,
        notice: None,
    };
    Ok(page::framed(200, frame, content))
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
    html! {
        div.cards {
            (card(&nodes["total"], "nodes in all"))
            @for (state, n) in &states { (card(&Value::from(*n), state)) }
        }
    }
}
