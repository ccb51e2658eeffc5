//! `/console/users`: users by state, a page at a time (by cursor), and what an operator does to
//! one: approve or reject a registration, block or unblock (blocking asks first: it ends the
//! user's sessions).

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, Frame, Notice};
use crate::session::Admin;

const PAGE_SIZE: u32 = 25;
const FILTERS: [(&str, &str); 4] = [
    ("", "All"),
    ("pending", "Waiting"),
    ("active", "Active"),
    ("rejected", "Rejected"),
];

/// `GET /console/users`: a page of users, filtered by state.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let status = req.query("status").unwrap_or_default();
    let q = req.query("q").unwrap_or_default().trim();
    // The view's filters, as this page's query and the API's.
    let view = format!("status={}&q={}", encode(status), encode(q));
    let mut target = format!("/admin/users?limit={PAGE_SIZE}&{view}");
    if let Some(after) = req.query("after").filter(|a| !a.is_empty()) {
        target.push_str(&format!("&after={}", encode(after)));
    }
    let (users, notice) = match call::get(admin, &target) {
        Ok(users) => (users, done_notice(req)),
        // A stale cursor or a bad filter: the API's message, and an empty list.
        Err(err) if err.status < 500 => (Value::Null, Some(Notice::Failed(err.message))),
        Err(err) => return Err(err),
    };
    let content = html! {
        h1 { "Users" }
        form.search method="get" action="/console/users" {
            input type="hidden" name="status" value=(status);
            input type="search" name="q" value=(q) placeholder="Email, name or Telegram username" aria-label="Search users";
            button type="submit" { "Search" }
        }
        div.filters {
            @for (value, label) in FILTERS {
                a href={"/console/users?status=" (value) "&q=" (encode(q))}
                    class=[(value == status).then_some("here")] { (label) }
            }
        }
        (table(admin, &users))
        @if let Some(next) = users["nextCursor"].as_str() {
            p { a.button href={"/console/users?" (view) "&after=" (encode(next))} { "Next page" } }
        }
        @let total = users["total"].as_i64().unwrap_or(0);
        p.hint { (total) @if total == 1 { " user" } @else { " users" } " in this view." }
    };
    let frame = Frame {
        title: "Users",
        section: "/console/users",
        admin,
        notice,
    };
    Ok(page::framed(200, frame, content))
}

/// What the last action did, from the redirect's query.
fn done_notice(req: &Request) -> Option<Notice> {
    let what = match req.query("done")? {
        "approve" => "The user was approved.",
        "reject" => "The registration was rejected.",
        "block" => "The user was blocked and signed out everywhere.",
        "unblock" => "The user was unblocked.",
        _ => return None,
    };
    Some(Notice::Done(what.to_string()))
}

fn table(admin: &Admin, users: &Value) -> Markup {
    let items = users["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    page::table(
        &["User", "Role", "State", "Created", "Actions"],
        items.iter().map(|user| row(admin, user)),
        "No users here.",
    )
}

fn row(admin: &Admin, user: &Value) -> Markup {
    let id = user["id"].as_str().unwrap_or_default();
    let who = user["email"]
        .as_str()
        .or(user["telegramUsername"].as_str())
        .or(user["name"].as_str())
        .unwrap_or(id);
    let status = user["status"].as_str().unwrap_or_default();
    let blocked = user["blocked"].as_bool().unwrap_or(false);
    html! {
        tr {
            td { a href={"/console/users/" (id)} { (who) } }
            td { (user["role"].as_str().unwrap_or_default()) }
            td { (page::pill(status)) @if blocked { " " (page::pill("blocked")) } }
            td { (format::moment(user["createdAt"].as_i64().unwrap_or(0))) }
            td.actions {
                @if status == "pending" {
                    (action(admin, id, "approve", "Approve", ""))
                    (action(admin, id, "reject", "Reject", "quiet"))
                }
                @if blocked { (action(admin, id, "unblock", "Unblock", "quiet")) }
                @else { (action(admin, id, "block", "Block", "danger")) }
            }
        }
    }
}

fn action(admin: &Admin, id: &str, action: &str, label: &str, class: &str) -> Markup {
    page::button(
        admin,
        &format!("/console/users/{id}"),
        &[("action", action)],
        label,
        class,
    )
}

/// `POST /console/users/:id`: approve, reject, block (after a confirmation) or unblock.
pub fn act(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let action = fields.get("action").unwrap_or_default();
    let patch = match action {
        "approve" => json!({ "status": "active" }),
        "reject" => json!({ "status": "rejected" }),
        "block" => json!({ "blocked": true }),
        "unblock" => json!({ "blocked": false }),
        other => {
            return Err(ApiError::validation(
                "action",
                format!("{other:?} is not one of approve, reject, block, unblock"),
            ))
        }
    };
    if action == "block" && fields.get("confirm") != Some("yes") {
        let frame = Frame {
            title: "Block this user?",
            section: "/console/users",
            admin,
            notice: None,
        };
        return Ok(page::confirm(
            frame,
            "Block this user?",
            "A blocked user is signed out everywhere and can neither sign in nor connect until unblocked.",
            &format!("/console/users/{id}"),
            &[("action", "block")],
            "/console/users",
        ));
    }
    let result = call::send(
        admin,
        "PATCH",
        &format!("/admin/users/{}", encode(id)),
        Some(&patch),
    );
    page::after(
        admin,
        result,
        &format!("/console/users?done={action}"),
        "/console/users",
        ("/console/users", "Back to the users"),
    )
}
