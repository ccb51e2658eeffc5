//! `/console/components`: the hot-swap workflow over `/admin/components` — each component's
//! active version, a running canary's progress (its share, calls and failures, until when), the
//! versions stored with activate, start-a-canary, promote and roll back (each asked first), and
//! how to upload a new version.

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{settings, ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, Frame, Notice};
use crate::session::Admin;

/// `GET /console/components`.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let notice = req.query("done").and_then(|done| {
        let text = match done {
            "activate" => "The version is active on every replica.",
            "canary" => "The canary is running: it is promoted at the window's end, or rolled back by itself if it fails.",
            "promote" => "The canary was promoted: it serves every request.",
            "rollback" => "Rolled back to the previous version.",
            "upload" => "The version was stored (and activated, if asked).",
            _ => return None,
        };
        Some(Notice::Done(text.into()))
    });
    let listed = call::get(admin, "/admin/components")?;
    let content = html! {
        h1 { "Components" }
        p.hint {
            "Set revision " (listed["revision"]) "; this replica serves revision " (listed["servedRevision"]) ". "
            a href="/console/audit?targetType=component" { "History of every change" }
        }
        @for c in listed["components"].as_array().into_iter().flatten() { (component(admin, c)) }
        h2 { "Upload a version" }
        div.panel {
            form.upload {
                label for="wasm" { "Component (.wasm)" }
                input #wasm type="file" accept=".wasm,application/wasm";
                label for="name" { "Name" }
                input #name name="name" placeholder="empty: the file's name without .wasm";
                div.checks { label { input type="checkbox" name="activate" value="yes"; "Activate it at once" } }
                p { button type="button" data-upload="1" { "Upload" } }
                p.upload-result role="status" {}
            }
            p.hint { "The upload is checked against the components served before anything is stored; unticked, it is stored to activate or try as a canary below." }
            p { "Or from any machine, with the CLI:" }
            pre { "NEXUMA_URL=" (settings::public_url()) " NEXUMA_TOKEN=<an admin's access token> \\\n  nexuma components push my_component.wasm --canary 10 --window 600" }
        }
    };
    let frame = Frame {
        title: "Components",
        section: "/console/components",
        admin,
        notice,
    };
    Ok(page::framed(200, frame, content))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn component(admin: &Admin, c: &Value) -> Markup {
    let name = c["name"].as_str().unwrap_or_default();
    let active = c["active"]["hash"].as_str().unwrap_or_default();
    let running = c["canary"].is_object();
    html! {
        h2 { (name) }
        div.panel {
            p {
                "Active: " code { (short(active)) }
                @if let Some(at) = c["active"]["activatedAt"].as_i64() { " since " (format::moment(at)) }
                @if c["active"]["factory"].as_bool() == Some(true) { " " (page::pill("factory")) }
            }
            @if running { (canary(admin, name, &c["canary"])) }
            @if c["previousHash"].is_string() && !running {
                (button(admin, name, "rollback", "", "Roll back to the previous version", "quiet"))
            }
            (page::table(
                &["Version", "Contract", "Uploaded", "Size", ""],
                c["versions"].as_array().into_iter().flatten().map(|v| version(admin, name, v, running)),
                "No versions stored.",
            ))
        }
    }
}

fn canary(admin: &Admin, name: &str, canary: &Value) -> Markup {
    let counts = &canary["counts"];
    html! {
        div.notice.ok {
            "Canary " code { (short(canary["hash"].as_str().unwrap_or_default())) }
            " takes " (canary["percent"]) "% of requests until "
            (format::moment(canary["until"].as_i64().unwrap_or(0)))
            @if counts.is_object() {
                ": " (counts["canary"]["calls"].as_i64().unwrap_or(0)) " calls, "
                (counts["canary"]["failures"].as_i64().unwrap_or(0)) " failed (the active version: "
                (counts["active"]["calls"].as_i64().unwrap_or(0)) " calls, "
                (counts["active"]["failures"].as_i64().unwrap_or(0)) " failed)"
            }
            "."
        }
        (button(admin, name, "promote", "", "Promote now", ""))
        (button(admin, name, "rollback", "", "Stop the canary", "quiet"))
    }
}

fn version(admin: &Admin, name: &str, v: &Value, canary_running: bool) -> Markup {
    let hash = v["hash"].as_str().unwrap_or_default();
    let active = v["active"].as_bool() == Some(true);
    html! {
        tr {
            td { code { (short(hash)) } @if active { " " (page::pill("active")) } }
            td { (v["contract"].as_str().unwrap_or_default()) }
            td { (format::moment(v["uploadedAt"].as_i64().unwrap_or(0))) }
            td { (format::bytes(v["size"].as_i64().unwrap_or(0))) }
            td.actions {
                @if !active && !canary_running {
                    (button(admin, name, "activate", hash, "Activate", ""))
                    (button(admin, name, "canary", hash, "Try on 10% for 10 minutes", "quiet"))
                }
            }
        }
    }
}

fn button(admin: &Admin, name: &str, action: &str, hash: &str, label: &str, class: &str) -> Markup {
    page::button(
        admin,
        &format!("/console/components/{name}/{action}"),
        &[("hash", hash)],
        label,
        class,
    )
}

/// `POST /console/components/:name/:action`: activate, canary, promote or roll back, each
/// asked first.
pub fn act(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let (name, action) = (req.param("name")?, req.param("action")?);
    let hash = fields.get("hash").unwrap_or_default();
    let (path, body, question) = match action {
        "activate" => (
            "activate",
            Some(json!({ "hash": hash })),
            "Activate this version on every replica?",
        ),
        "canary" => (
            "activate",
            Some(json!({ "hash": hash, "canary": { "percent": 10, "windowSeconds": 600 } })),
            "Try this version on 10% of requests for 10 minutes?",
        ),
        "promote" => ("promote", None, "Promote the canary to every request now?"),
        "rollback" => ("rollback", None, "Roll back?"),
        other => {
            return Err(ApiError::not_found(
                "unknown_action",
                format!("{other:?} is not activate, canary, promote or rollback"),
            ))
        }
    };
    if fields.get("confirm") != Some("yes") {
        let frame = Frame {
            title: question,
            section: "/console/components",
            admin,
            notice: None,
        };
        return Ok(page::confirm(
            frame,
            question,
            &format!("Component {name}: the change reaches every replica at once and is kept in the audit log."),
            &format!("/console/components/{name}/{action}"),
            &[("hash", hash)],
            "/console/components",
        ));
    }
    let target = format!("/admin/components/{}/{path}", encode(name));
    let result = call::send(admin, "POST", &target, body.as_ref());
    page::after(
        admin,
        result,
        &format!("/console/components?done={action}"),
        "/console/components",
        ("/console/components", "Back to the components"),
    )
}
