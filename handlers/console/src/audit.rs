//! `/console/audit`: the audit log, newest first, filtered by action, kind of target, target or
//! actor, a page at a time by cursor; each entry's state before and after the change.

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::Value;

use crate::call::{self, encode};
use crate::page::{self, Frame, Notice};
use crate::session::Admin;

const PAGE_SIZE: u32 = 30;
/// The filters the page passes on to `/admin/logs`: query name and label.
const FILTERS: [(&str, &str); 4] = [
    ("action", "Action (e.g. tariff.update)"),
    ("targetType", "Kind of target (e.g. subscription)"),
    ("targetId", "Target id"),
    ("actorId", "Actor (a user id)"),
];

/// `GET /console/audit`.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let filters: Vec<(&str, &str)> = FILTERS
        .iter()
        .filter_map(|(name, _)| Some((*name, req.query(name).filter(|v| !v.trim().is_empty())?)))
        .collect();
    let query: String = filters
        .iter()
        .map(|(name, value)| format!("&{name}={}", encode(value.trim())))
        .collect();
    let mut target = format!("/admin/logs?limit={PAGE_SIZE}{query}");
    if let Some(after) = req.query("after").filter(|a| !a.is_empty()) {
        target.push_str(&format!("&after={}", encode(after)));
    }
    let (logs, notice) = match call::get(admin, &target) {
        Ok(logs) => (logs, None),
        Err(err) if err.status < 500 => (Value::Null, Some(Notice::Failed(err.message))),
        Err(err) => return Err(err),
    };
    let items = logs["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let content = html! {
        h1 { "Audit log" }
        form.panel method="get" action="/console/audit" {
            @for (name, label) in FILTERS {
                label for=(name) { (label) }
                input id=(name) name=(name) value=(req.query(name).unwrap_or_default());
            }
            p { button type="submit" { "Filter" } " " a href="/console/audit" { "Clear" } }
        }
        (page::table(&["When", "Action", "Target", "Actor", "Change"], items.iter().map(row), "No entries."))
        @if let Some(next) = logs["nextCursor"].as_str() {
            p { a.button href={"/console/audit?after=" (encode(next)) (query)} { "Older entries" } }
        }
    };
    let frame = Frame {
        title: "Audit log",
        section: "/console/audit",
        admin,
        notice,
    };
    Ok(page::framed(200, frame, content))
}

fn row(entry: &Value) -> Markup {
    let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
    html! {
        tr {
            td { (format::moment(entry["createdAt"].as_i64().unwrap_or(0))) }
            td { (text("action")) }
            td { (text("targetType")) " " small { (text("targetId")) } }
            td { (entry["actorId"].as_str().unwrap_or("the Core")) br; small { (text("ip")) } }
            td {
                @if !entry["before"].is_null() || !entry["after"].is_null() {
                    details {
                        summary { "before / after" }
                        div.change {
                            div { strong { "Before" } pre { (pretty(&entry["before"])) } }
                            div { strong { "After" } pre { (pretty(&entry["after"])) } }
                        }
                    }
                }
            }
        }
    }
}

fn pretty(value: &Value) -> String {
    if value.is_null() {
        return "—".into();
    }
    serde_json::to_string_pretty(value).unwrap_or_default()
}
