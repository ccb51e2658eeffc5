//! `/console/settings`: registration approval, the refund rule of users' own cancellations, the
//! export format rules (as the JSON the API takes, with its defaults beside them) and the
//! Telegram notification texts, each saved through its own route with that route's message on
//! a refusal.

use maud::{html, Markup};
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, field_error, Frame, Notice};
use crate::session::Admin;

/// `GET /console/settings`.
pub fn show(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let notice = req
        .query("done")
        .filter(|d| !d.is_empty())
        .map(|_| Notice::Done("Saved.".into()));
    settings_page(admin, 200, notice, None, &Form::empty())
}

fn settings_page(
    admin: &Admin,
    status: u16,
    notice: Option<Notice>,
    error: Option<(&str, &ApiError)>,
    typed: &Form,
) -> Result<Response, ApiError> {
    let registration = call::get(admin, "/admin/settings")?;
    let billing = call::get(admin, "/admin/billing/settings")?;
    let rules = call::get(admin, "/admin/subscription-rules")?;
    let templates = call::get(admin, "/admin/notifications/templates")?;
    // An error shows only in the form that was sent.
    let error_of = |part: &str| error.filter(|(p, _)| *p == part).map(|(_, e)| e);
    let content = html! {
        h1 { "Settings" }
        h2 { "Registration" }
        (form(admin, "registration", html! {
            div.checks { label {
                input type="checkbox" name="requireApproval" value="yes"
                    checked[registration["registrationRequireApproval"].as_bool() == Some(true)];
                "New accounts wait until an administrator approves them"
            } }
        }))
        h2 { "Cancellations" }
        (form(admin, "billing", html! {
            label for="userCancelRefund" { "What users get back when they cancel their own subscription" }
            select #userCancelRefund name="userCancelRefund" {
                @for (rule, meaning) in [("none", "nothing"), ("prorata", "the unused part of the period"), ("full", "the whole period's price")] {
                    option value=(rule) selected[billing["userCancelRefund"].as_str() == Some(rule)] { (meaning) }
                }
            }
            (field_error(error_of("billing"), "userCancelRefund"))
        }))
        h2 { "Export format rules" }
        (form(admin, "rules", html! {
            p.hint { "The ordered rules that pick a client's format from its request headers, as JSON. An empty list sends everyone v2ray; the defaults are below." }
            textarea name="rules" rows="10" spellcheck="false" {
                (typed.get("rules").map_or_else(|| pretty(&rules["rules"]), str::to_string))
            }
            @if let Some(err) = error_of("rules") { p.field-error role="alert" { (err.message) } }
            details { summary { "Defaults" } pre { (pretty(&rules["defaults"])) } }
        }))
        h2 { "Notification texts" }
        @for t in templates["items"].as_array().into_iter().flatten() {
            (template_form(admin, t, error_of(t["kind"].as_str().unwrap_or_default()), typed))
        }
    };
    let frame = Frame {
        title: "Settings",
        section: "/console/settings",
        admin,
        notice,
    };
    Ok(page::framed(status, frame, content))
}

/// One settings form: its fields and a save button, posting `part`.
fn form(admin: &Admin, part: &str, fields: Markup) -> Markup {
    html! {
        div.panel {
            form method="post" action="/console/settings" {
                (page::token_field(admin))
                input type="hidden" name="part" value=(part);
                (fields)
                p { button type="submit" { "Save" } }
            }
        }
    }
}

fn template_form(admin: &Admin, t: &Value, error: Option<&ApiError>, typed: &Form) -> Markup {
    let kind = t["kind"].as_str().unwrap_or_default();
    let sent_here = typed.get("part") == Some(kind);
    let text = if sent_here {
        typed.get("text").unwrap_or_default().to_string()
    } else {
        t["text"].as_str().unwrap_or_default().to_string()
    };
    let placeholders: Vec<&str> = t["placeholders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    form(
        admin,
        kind,
        html! {
            label { (kind) " — to " (t["audience"].as_str().unwrap_or_default())
                @if t["custom"].as_bool() == Some(true) { " " (page::pill("custom")) } }
            textarea name="text" rows="3" { (text) }
            p.hint { "Placeholders: " @for p in &placeholders { code { "{" (p) "}" } " " } }
            (field_error(error, "text"))
        },
    )
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `POST /console/settings`: saves the part the form was, through its route.
pub fn save(_req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let part = fields.get("part").unwrap_or_default();
    let result = match part {
        "registration" => call::send(
            admin,
            "PATCH",
            "/admin/settings",
            Some(
                &json!({ "registrationRequireApproval": fields.get("requireApproval") == Some("yes") }),
            ),
        ),
        "billing" => call::send(
            admin,
            "PATCH",
            "/admin/billing/settings",
            Some(
                &json!({ "userCancelRefund": fields.get("userCancelRefund").unwrap_or_default() }),
            ),
        ),
        "rules" => serde_json::from_str::<Value>(fields.get("rules").unwrap_or_default())
            .map_err(|e| ApiError::validation("rules", format!("is not JSON: {e}")))
            .and_then(|rules| {
                call::send(
                    admin,
                    "PUT",
                    "/admin/subscription-rules",
                    Some(&json!({ "rules": rules })),
                )
            }),
        kind => call::send(
            admin,
            "PUT",
            &format!("/admin/notifications/templates/{}", encode(kind)),
            Some(&json!({ "text": fields.get("text").unwrap_or_default() })),
        ),
    };
    match result {
        Ok(_) => Ok(page::redirect(
            "/console/settings?done=saved",
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 => {
            let notice = Some(Notice::Failed(format!("Not saved: {}", err.message)));
            settings_page(admin, err.status, notice, Some((part, &err)), fields)
        }
        Err(err) => Err(err),
    }
}
