//! `/console/subscriptions`: every subscription, newest first, filtered by state and tariff, a
//! page at a time by cursor; each leads to its user's page, where it is changed.

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::Value;

use crate::call::{self, encode};
use crate::page::{self, Frame, Notice};
use crate::session::Admin;

const PAGE_SIZE: u32 = 25;
const STATES: [(&str, &str); 4] = [
    ("", "All"),
    ("active", "Active"),
    ("expired", "Expired"),
    ("cancelled", "Cancelled"),
];

/// `GET /console/subscriptions`.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let status = req.query("status").unwrap_or_default();
    let tariff = req.query("tariffId").unwrap_or_default();
    let view = format!("status={}&tariffId={}", encode(status), encode(tariff));
    let mut target = format!("/admin/subscriptions?limit={PAGE_SIZE}");
    for (name, value) in [("status", status), ("tariffId", tariff)] {
        if !value.is_empty() {
            target.push_str(&format!("&{name}={}", encode(value)));
        }
    }
    if let Some(after) = req.query("after").filter(|a| !a.is_empty()) {
        target.push_str(&format!("&after={}", encode(after)));
    }
    let (subs, notice) = match call::get(admin, &target) {
        Ok(subs) => (subs, None),
        // A stale cursor or a bad filter: the API's message, and an empty list.
        Err(err) if err.status < 500 => (Value::Null, Some(Notice::Failed(err.message))),
        Err(err) => return Err(err),
    };
    let tariffs = call::get(admin, "/admin/tariffs?limit=200")?;
    let items = subs["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let content = html! {
        h1 { "Subscriptions" }
        form.search method="get" action="/console/subscriptions" {
            input type="hidden" name="status" value=(status);
            select name="tariffId" aria-label="Tariff" {
                option value="" { "Every tariff" }
                @for t in tariffs["items"].as_array().into_iter().flatten() {
                    @let id = t["id"].as_str().unwrap_or_default();
                    option value=(id) selected[id == tariff] { (t["name"].as_str().unwrap_or_default()) }
                }
            }
            button type="submit" { "Show" }
        }
        div.filters {
            @for (value, label) in STATES {
                a href={"/console/subscriptions?status=" (value) "&tariffId=" (encode(tariff))}
                    class=[(value == status).then_some("here")] { (label) }
            }
        }
        (page::table(&["User", "Tariff", "State", "Expires", "Traffic used"], items.iter().map(row), "No subscriptions here."))
        @if let Some(next) = subs["nextCursor"].as_str() {
            p { a.button href={"/console/subscriptions?" (view) "&after=" (encode(next))} { "Next page" } }
        }
        p.hint { (subs["total"].as_i64().unwrap_or(0)) " in this view. Open the user to change one." }
    };
    let frame = Frame {
        title: "Subscriptions",
        section: "/console/subscriptions",
        admin,
        notice,
    };
    Ok(page::framed(200, frame, content))
}

fn row(sub: &Value) -> Markup {
    let user = sub["userId"].as_str().unwrap_or_default();
    html! {
        tr {
            td { a href={"/console/users/" (user)} { (sub["userEmail"].as_str().unwrap_or(user)) } }
            td { (sub["tariffName"].as_str().unwrap_or_default()) }
            td { (page::pill(sub["status"].as_str().unwrap_or_default())) }
            td { (sub["expiresAt"].as_i64().map_or_else(|| "never".into(), format::moment)) }
            td { (format::bytes(sub["trafficUsedBytes"].as_i64().unwrap_or(0))) }
        }
    }
}
