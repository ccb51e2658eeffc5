//! `/console/users/:id`: one user — profile, balance with deposit and withdrawal, subscriptions
//! with their links' addresses, and a form to activate a subscription.

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{id, ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::ledger;
use crate::page::{self, field_error, Frame, Notice};
use crate::session::Admin;
use crate::subscription;
use crate::tariffs::minor_units;
use crate::traffic;

/// `GET /console/users/:id`.
pub fn show(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let notice = req.query("done").and_then(done_notice);
    user_page(admin, req.param("id")?, 200, notice, None)
}

fn done_notice(what: &str) -> Option<Notice> {
    let text = match what {
        "activated" => "The subscription was activated.",
        "deposit" => "The deposit was credited.",
        "withdraw" => "The withdrawal was taken from the balance.",
        "cancelled" => "The subscription was cancelled.",
        "refund" => "The refund was credited to the balance.",
        "edited" => "The account was saved.",
        "reset" => "The link has a new address; the old one no longer works.",
        "disable" => "The link was disabled.",
        "enable" => "The link was enabled.",
        _ => return None,
    };
    Some(Notice::Done(text.into()))
}

fn user_page(
    admin: &Admin,
    id: &str,
    status: u16,
    notice: Option<Notice>,
    error: Option<&ApiError>,
) -> Result<Response, ApiError> {
    let user = call::get(admin, &format!("/admin/users/{}", encode(id)))?;
    let balance = call::get(admin, &format!("/admin/users/{}/balance", encode(id)))?;
    let subscriptions = call::get(
        admin,
        &format!("/admin/subscriptions?userId={}&limit=50", encode(id)),
    )?;
    let tariffs = call::get(admin, "/admin/tariffs?limit=200")?;
    let transactions = call::get(
        admin,
        &format!(
            "/admin/users/{}/balance/transactions?limit={}",
            encode(id),
            ledger::SHOWN
        ),
    )?;
    let who = user["email"]
        .as_str()
        .or(user["name"].as_str())
        .unwrap_or(id);
    let content = html! {
        h1 { (who) }
        (profile(&user))
        details.panel {
            summary { "Edit the account" }
            (edit_form(admin, id, &user, error))
        }
        h2 { "Subscriptions" }
        (subscriptions_part(admin, id, &subscriptions))
        h2 { "Activate a subscription" }
        (activate_form(admin, id, &tariffs, error))
        h2 { "Balance" }
        (balance_part(admin, id, &balance, error))
        (ledger::table(admin, id, &transactions))
        h2 { "Traffic, last " (traffic::DAYS) " days (UTC)" }
        @let days = traffic::days();
        div.panel { (traffic::chart(&days, &traffic::by_node(admin, id, &days)?)) }
    };
    let frame = Frame {
        title: who,
        section: "/console/users",
        admin,
        notice,
    };
    Ok(page::framed(status, frame, content))
}

fn profile(user: &Value) -> Markup {
    let status = user["status"].as_str().unwrap_or_default();
    html! {
        div.cards {
            div.card { div.l { "State" } div { (page::pill(status)) @if user["blocked"].as_bool() == Some(true) { " " (page::pill("blocked")) } } }
            div.card { div.l { "Role" } div { (user["role"].as_str().unwrap_or_default()) } }
            div.card { div.l { "Telegram" } div { (user["telegramUsername"].as_str().unwrap_or("-")) } }
            div.card { div.l { "Registered" } div { (format::moment(user["createdAt"].as_i64().unwrap_or(0))) } }
            div.card { div.l { "Last seen" } div { (user["lastSeenAt"].as_i64().map_or_else(|| "never".into(), format::moment)) } }
        }
    }
}

/// The account's name, email and role, as the API takes them.
fn edit_form(admin: &Admin, id: &str, user: &Value, error: Option<&ApiError>) -> Markup {
    let role = user["role"].as_str().unwrap_or_default();
    html! {
        form method="post" action={"/console/users/" (id) "/edit"} {
            (page::token_field(admin))
            label for="name" { "Name" }
            input #name name="name" value=(user["name"].as_str().unwrap_or_default()) maxlength="100";
            (field_error(error, "name"))
            label for="email" { "Email" }
            input #email name="email" type="email" value=(user["email"].as_str().unwrap_or_default());
            (field_error(error, "email"))
            label for="role" { "Role" }
            select #role name="role" {
                @for r in ["user", "admin"] { option value=(r) selected[r == role] { (r) } }
            }
            (field_error(error, "role"))
            p { button type="submit" { "Save" } }
        }
    }
}

/// `POST /console/users/:id/edit`: name, email and role through `PATCH /admin/users/:id` (an
/// empty name clears it; an empty email is left as it is).
pub fn edit(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let mut patch = json!({
        "name": fields.get("name").unwrap_or_default(),
        "role": fields.get("role").unwrap_or_default(),
    });
    if let Some(email) = fields.filled("email") {
        patch["email"] = json!(email);
    }
    let result = call::send(
        admin,
        "PATCH",
        &format!("/admin/users/{}", encode(id)),
        Some(&patch),
    );
    answer(admin, id, "edited", result)
}

fn balance_part(admin: &Admin, id: &str, balance: &Value, error: Option<&ApiError>) -> Markup {
    let currency = balance["currency"].as_str().unwrap_or_default();
    html! {
        div.panel {
            p { "Balance: " strong #balance { (format::money(balance["amount"].as_i64().unwrap_or(0), currency)) } }
            form method="post" action={"/console/users/" (id) "/balance"} {
                (page::token_field(admin))
                // A fresh idempotency key per form shown, so a form sent twice moves money once.
                input type="hidden" name="key" value=(id::new_v4());
                label for="amount" { "Amount (" (currency) ")" }
                input #amount name="amount" inputmode="decimal" placeholder="e.g. 300.00" required;
                (field_error(error, "amount"))
                label for="reason" { "Reason" }
                input #reason name="reason" maxlength="500" placeholder="optional, kept in the ledger";
                (field_error(error, "reason"))
                p {
                    button type="submit" name="move" value="deposit" { "Deposit" } " "
                    button.quiet type="submit" name="move" value="withdraw" { "Withdraw" }
                }
            }
        }
    }
}

fn subscriptions_part(admin: &Admin, user: &str, subscriptions: &Value) -> Markup {
    let items = subscriptions["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    page::table(
        &["Tariff", "State", "Expires", "Traffic used", "Links", ""],
        items.iter().map(|sub| {
            html! {
                tr {
                    td { (sub["tariffName"].as_str().unwrap_or_default()) }
                    td { (page::pill(sub["status"].as_str().unwrap_or_default())) }
                    td { (sub["expiresAt"].as_i64().map_or_else(|| "never".into(), format::moment)) }
                    td { (format::bytes(sub["trafficUsedBytes"].as_i64().unwrap_or(0))) }
                    td {
                        @for link in sub["links"].as_array().into_iter().flatten() {
                            (subscription::link(admin, user, link))
                        }
                    }
                    td.actions { (subscription::actions(admin, user, sub)) }
                }
            }
        }),
        "No subscriptions.",
    )
}

fn activate_form(admin: &Admin, id: &str, tariffs: &Value, error: Option<&ApiError>) -> Markup {
    let items = tariffs["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    html! {
        div.panel {
            @if items.is_empty() {
                p { "There is no tariff yet: " a href="/console/tariffs" { "create one" } " first." }
            } @else {
                form method="post" action={"/console/users/" (id) "/subscriptions"} {
                    (page::token_field(admin))
                    label for="tariffId" { "Tariff" }
                    select #tariffId name="tariffId" {
                        @for t in items {
                            option value=(t["id"].as_str().unwrap_or_default()) {
                                (t["name"].as_str().unwrap_or_default()) " — "
                                (format::money(t["price"].as_i64().unwrap_or(0), t["currency"].as_str().unwrap_or_default()))
                            }
                        }
                    }
                    (field_error(error, "tariffId"))
                    div.checks { label { input type="checkbox" name="charge" value="yes"; "Take the price from the balance" } }
                    p.hint { "Unticked: a gift, free of charge." }
                    p { button type="submit" { "Activate" } }
                }
            }
        }
    }
}

/// `POST /console/users/:id/subscriptions`: activates a subscription of the chosen tariff.
pub fn activate(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body = json!({
        "userId": id,
        "tariffId": fields.get("tariffId").unwrap_or_default(),
        "charge": fields.get("charge") == Some("yes"),
    });
    let result = call::send(admin, "POST", "/admin/subscriptions", Some(&body));
    answer(admin, id, "activated", result)
}

/// `POST /console/users/:id/balance`: a deposit or a withdrawal, once per form.
pub fn move_balance(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let direction = match fields.get("move") {
        Some(m @ ("deposit" | "withdraw")) => m,
        _ => return Err(ApiError::validation("move", "must be deposit or withdraw")),
    };
    let result =
        minor_units("amount", fields.get("amount").unwrap_or_default()).and_then(|amount| {
            let mut body = json!({ "amount": amount });
            if let Some(reason) = fields.filled("reason") {
                body["reason"] = json!(reason);
            }
            if let Some(key) = fields.filled("key") {
                body["idempotencyKey"] = json!(key);
            }
            call::send(
                admin,
                "POST",
                &format!("/admin/users/{}/balance/{direction}", encode(id)),
                Some(&body),
            )
        });
    answer(admin, id, direction, result)
}

/// After a form: the user's page with what was done, or again with the API's refusal.
fn answer(
    admin: &Admin,
    id: &str,
    done: &str,
    result: Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    match result {
        Ok(_) => Ok(page::redirect(
            &format!("/console/users/{id}?done={done}"),
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 && err.status != 404 => {
            let notice = page::form_error(
                Some(&err),
                &["amount", "reason", "tariffId", "name", "email", "role"],
            );
            user_page(admin, id, err.status, notice, Some(&err))
        }
        Err(err) => Err(err),
    }
}
