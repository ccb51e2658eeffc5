//! `/console/nodes`: the nodes with their state, a form to create one with its first inbound,
//! and a node's page — state, heartbeat, config revision and apply errors, its inbounds (add one,
//! remove one), and a one-time registration code with the exact commands to run on the node.

use maud::{html, Markup};
use nexuma_sdk::notify::format;
use nexuma_sdk::{settings, ApiError, Request, Response};
use serde_json::{json, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::inbound;
use crate::page::{self, field_error, Frame, Notice};
use crate::routing;
use crate::session::Admin;
use crate::traffic;

/// The create form's fields, as the API names them (an inbound's are `inbounds[0].…`).
const FIELDS: [&str; 2] = ["name", "address"];

/// `GET /console/nodes`.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let offset = req.int_query("offset", 0, 0, i64::MAX)?;
    list_page(admin, offset, 200, None, None, &Form::empty())
}

/// Nodes a page of the list shows.
const PAGE_SIZE: i64 = 100;

fn list_page(
    admin: &Admin,
    offset: i64,
    status: u16,
    notice: Option<Notice>,
    error: Option<&ApiError>,
    typed: &Form,
) -> Result<Response, ApiError> {
    let nodes = call::get(
        admin,
        &format!("/admin/nodes?limit={PAGE_SIZE}&offset={offset}"),
    )?;
    let next = offset + PAGE_SIZE;
    let items = nodes["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let content = html! {
        h1 { "Nodes" }
        (page::table(
            &["Node", "Address", "State", "Config", "Last heartbeat", "Online"],
            items.iter().map(row),
            "No nodes yet: create the first below.",
        ))
        @if next < nodes["total"].as_i64().unwrap_or(0) {
            p { a.button href={"/console/nodes?offset=" (next)} { "Next page" } }
        }
        h2 { "New node" }
        div.panel {
            form method="post" action="/console/nodes" {
                (page::token_field(admin))
                label for="name" { "Name" }
                input #name name="name" value=(typed.get("name").unwrap_or_default()) required;
                (field_error(error, "name"))
                label for="address" { "Address clients connect to" }
                input #address name="address" value=(typed.get("address").unwrap_or_default()) placeholder="vpn.example.com or an IP address" required;
                (field_error(error, "address"))
                h2 { "First inbound" }
                (inbound::fields(error, typed))
                p { button type="submit" { "Create node" } }
            }
        }
    };
    let frame = Frame {
        title: "Nodes",
        section: "/console/nodes",
        admin,
        notice,
    };
    Ok(page::framed(status, frame, content))
}

fn row(node: &Value) -> Markup {
    let id = node["id"].as_str().unwrap_or_default();
    html! {
        tr {
            td { a href={"/console/nodes/" (id)} { (node["name"].as_str().unwrap_or_default()) } }
            td { (node["address"].as_str().unwrap_or_default()) }
            td { (page::pill(node["effectiveStatus"].as_str().unwrap_or_default())) }
            td { (node["syncState"].as_str().unwrap_or_default()) }
            td { (seen(node["agent"]["lastHeartbeatAt"].as_i64())) }
            td { (node["onlineUsers"].as_i64().unwrap_or(0)) }
        }
    }
}

fn seen(at: Option<i64>) -> String {
    at.map_or_else(|| "never".to_string(), format::moment)
}

/// `POST /console/nodes`: creates the node with its first inbound, then shows its page.
pub fn create(_req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let result = inbound::spec(admin, fields).and_then(|inbound| {
        let body = json!({
            "name": fields.get("name").unwrap_or_default(),
            "address": fields.get("address").unwrap_or_default(),
            "inbounds": [inbound],
        });
        call::send(admin, "POST", "/admin/nodes", Some(&body))
    });
    match result {
        Ok(node) => Ok(page::redirect(
            &format!("/console/nodes/{}", node["id"].as_str().unwrap_or_default()),
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 => {
            let err = inbound::first(err);
            let notice = page::form_error(Some(&err), &[&FIELDS[..], &inbound::FIELDS].concat());
            list_page(admin, 0, err.status, notice, Some(&err), fields)
        }
        Err(err) => Err(err),
    }
}

/// `GET /console/nodes/:id`.
pub fn show(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let notice = match req.query("done") {
        Some("inbound-added") => Some(Notice::Done(
            "The inbound was added; the node gets it with its next config.".into(),
        )),
        Some("inbound-removed") => Some(Notice::Done("The inbound was removed.".into())),
        Some("routing") => Some(Notice::Done(
            "The routing was saved; the node gets it with its next config.".into(),
        )),
        Some("resync") => Some(Notice::Done(
            "The agent applies its config again at its next heartbeat.".into(),
        )),
        Some("restart-core") => Some(Notice::Done(
            "The agent restarts its core at its next heartbeat.".into(),
        )),
        Some("revoke-keys") => Some(Notice::Done(
            "The node's keys are revoked: make a new code to register an agent again.".into(),
        )),
        _ => None,
    };
    node_page(
        admin,
        req.param("id")?,
        200,
        notice,
        None,
        None,
        &Form::empty(),
    )
}

/// A node's page; `code` is a registration code just made, shown once.
fn node_page(
    admin: &Admin,
    id: &str,
    status: u16,
    notice: Option<Notice>,
    code: Option<&Value>,
    error: Option<&ApiError>,
    typed: &Form,
) -> Result<Response, ApiError> {
    let node = call::get(admin, &format!("/admin/nodes/{}", encode(id)))?;
    let errors = call::get(
        admin,
        &format!("/admin/nodes/{}/errors?limit=10", encode(id)),
    )?;
    let name = node["name"].as_str().unwrap_or_default();
    let content = html! {
        h1 { (name) " " (page::pill(node["effectiveStatus"].as_str().unwrap_or_default())) }
        @if let Some(reason) = node["statusReason"].as_str() { p.hint { (reason) } }
        (state(&node))
        (operations(admin, id, &node))
        (registration(admin, id, &node, code))
        h2 { "Inbounds" }
        (inbounds(admin, id, &node))
        h2 { "Routing" }
        (routing::node_part(admin, id, &node, error.filter(|_| typed.get("part") == Some("routing")), typed)?)
        h2 { "Add an inbound" }
        div.panel {
            form method="post" action={"/console/nodes/" (id) "/inbounds"} {
                (page::token_field(admin))
                (inbound::fields(error, typed))
                p { button type="submit" { "Add inbound" } }
            }
        }
        h2 { "Traffic by outbound, last " (traffic::DAYS) " days (UTC)" }
        @let days = traffic::days();
        div.panel { (traffic::chart(&days, &traffic::by_outbound(admin, id, &days)?)) }
        h2 { "Recent errors" }
        (recent_errors(&errors))
    };
    let frame = Frame {
        title: name,
        section: "/console/nodes",
        admin,
        notice,
    };
    Ok(page::framed(status, frame, content))
}

fn state(node: &Value) -> Markup {
    let agent = &node["agent"];
    let revision = node["revision"].as_i64().unwrap_or(0);
    let applied = node["appliedRevision"]
        .as_i64()
        .map_or_else(|| "none".to_string(), |r| r.to_string());
    html! {
        div.cards {
            div.card { div.l { "Address" } div { (node["address"].as_str().unwrap_or_default()) } }
            div.card { div.l { "Last heartbeat" } div { (seen(agent["lastHeartbeatAt"].as_i64())) } }
            div.card { div.l { "Config revision" } div { (revision) " (applied: " (applied) ", " (node["syncState"].as_str().unwrap_or_default()) ")" } }
            div.card { div.l { "Agent" } div { (agent["version"].as_str().unwrap_or("not registered")) } }
            div.card { div.l { "Core" } div { (agent["coreFlavor"].as_str().unwrap_or("-")) " " (agent["coreVersion"].as_str().unwrap_or("")) } }
            div.card { div.l { "Online" } div { (node["onlineUsers"].as_i64().unwrap_or(0)) " users" } }
        }
        @if let Some(error) = node["syncError"].as_str() { p.notice.error { "The node refused its config: " (error) } }
    }
}

/// What an operator may ask of the node's agent: its config again, a core restart, or every
/// key revoked (each asked first); with the operations still waiting for the agent.
const OPERATIONS: [(&str, &str, &str); 3] = [
    (
        "resync",
        "Apply the config again",
        "The agent fetches its config and applies it again at its next heartbeat.",
    ),
    (
        "restart-core",
        "Restart the core",
        "The agent restarts its proxy core: connections through the node drop for a moment.",
    ),
    (
        "revoke-keys",
        "Revoke the agent's keys",
        "Every key of the node stops working at once: the agent is cut off until it registers again with a new code.",
    ),
];

fn operations(admin: &Admin, id: &str, node: &Value) -> Markup {
    let pending: Vec<&str> = node["pendingOps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|op| op["kind"].as_str())
        .collect();
    html! {
        h2 { "Operations" }
        div.panel {
            div.actions {
                @for (op, label, _) in OPERATIONS {
                    (page::button(admin, &format!("/console/nodes/{id}/ops/{op}"), &[], label, if op == "revoke-keys" { "danger" } else { "quiet" }))
                }
            }
            @if !pending.is_empty() { p.hint { "Waiting for the agent: " (pending.join(", ")) } }
        }
    }
}

/// `POST /console/nodes/:id/ops/:op`: an operation of `OPERATIONS`, after a confirmation.
pub fn operate(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let (id, op) = (req.param("id")?, req.param("op")?);
    let Some((_, label, consequence)) = OPERATIONS.iter().find(|(name, _, _)| *name == op) else {
        return Err(ApiError::not_found(
            "unknown_operation",
            format!("{op:?} is not resync, restart-core or revoke-keys"),
        ));
    };
    let back = format!("/console/nodes/{id}");
    if fields.get("confirm") != Some("yes") {
        let question = format!("{label}?");
        let frame = Frame {
            title: &question,
            section: "/console/nodes",
            admin,
            notice: None,
        };
        return Ok(page::confirm(
            frame,
            &question,
            consequence,
            &format!("{back}/ops/{op}"),
            &[],
            &back,
        ));
    }
    let result = call::send(
        admin,
        "POST",
        &format!("/admin/nodes/{}/{op}", encode(id)),
        None,
    );
    page::after(
        admin,
        result,
        &format!("{back}?done={op}"),
        "/console/nodes",
        (&back, "Back to the node"),
    )
}

/// The registration part: the code just made with the commands that use it, or the button.
fn registration(admin: &Admin, id: &str, node: &Value, code: Option<&Value>) -> Markup {
    let core = settings::public_url();
    html! {
        h2 { "Registration" }
        div.panel {
            @if let Some(code) = code {
                @let code_text = code["code"].as_str().unwrap_or_default();
                p { "One-time code (shown once, valid until " (format::moment(code["expiresAt"].as_i64().unwrap_or(0))) "):" }
                p { input #registration-code readonly value=(code_text); " " (page::copy_button("registration-code")) }
                p { "On the node, after " code { "deploy/install.sh node" } ":" }
                pre #node-command { (install_command(&core, code_text)) }
                p { "Or with the all-in-one compose file, on the Core's host:" }
                pre { (compose_command(code_text)) }
            } @else {
                p {
                    @if node["registered"].as_bool() == Some(true) { "The agent is registered. A new code lets another agent take the node's place." }
                    @else { "No agent has registered yet. Make a one-time code and run the command it comes with on the node." }
                }
            }
            form method="post" action={"/console/nodes/" (id) "/code"} {
                (page::token_field(admin))
                button type="submit" { "Make a registration code" }
            }
        }
    }
}

/// The agent's setting of the Core's address and the code, then its start.
fn install_command(core: &str, code: &str) -> String {
    format!(
        "sudo sed -i \"s|^NEXUMA_NODE_CORE_URL=.*|NEXUMA_NODE_CORE_URL={core}|; s|^NEXUMA_NODE_CODE=.*|NEXUMA_NODE_CODE={code}|\" /etc/nexuma-node/nexuma-node.env\n\
         sudo systemctl enable --now nexuma-node"
    )
}

fn compose_command(code: &str) -> String {
    format!(
        "sed -i \"s|^NEXUMA_NODE_CODE=.*|NEXUMA_NODE_CODE={code}|\" .env\n\
         docker compose -f compose.full.yml up -d --build node"
    )
}

fn inbounds(admin: &Admin, id: &str, node: &Value) -> Markup {
    let items = node["inbounds"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    page::table(
        &["Tag", "Protocol", "Port", "Transport", "Security", ""],
        items.iter().map(|inbound| {
            let tag = inbound["tag"].as_str().unwrap_or_default();
            html! {
                tr {
                    td { (tag) @if let Some(reason) = inbound["heldBack"]["reason"].as_str() { p.hint { "Held back: " (reason) } } }
                    td { (inbound["protocol"].as_str().unwrap_or_default()) }
                    td { (inbound["port"].as_i64().unwrap_or(0)) }
                    td { (inbound["network"].as_str().unwrap_or("tcp")) }
                    td { (inbound["security"].as_str().unwrap_or("none")) }
                    td.actions {
                        form method="post" action={"/console/nodes/" (id) "/inbounds/remove"} {
                            (page::token_field(admin))
                            input type="hidden" name="tag" value=(tag);
                            button.danger type="submit" { "Remove" }
                        }
                    }
                }
            }
        }),
        "No inbounds: clients have nothing to connect to on this node.",
    )
}

fn recent_errors(errors: &Value) -> Markup {
    let items = errors["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    page::table(
        &["When", "Kind", "Message"],
        items.iter().map(|e| {
            html! {
                tr {
                    td { (format::moment(e["at"].as_i64().or(e["createdAt"].as_i64()).unwrap_or(0))) }
                    td { (e["kind"].as_str().unwrap_or_default()) }
                    td { (e["message"].as_str().unwrap_or_default()) }
                }
            }
        }),
        "None.",
    )
}

/// `POST /console/nodes/:id/code`: a one-time registration code, shown once on the node's page.
pub fn code(req: &Request, admin: &Admin, _fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let code = call::send(
        admin,
        "POST",
        &format!("/admin/nodes/{}/registration-code", encode(id)),
        None,
    )?;
    let notice =
        Notice::Done("A registration code was made: run the command below on the node.".into());
    node_page(
        admin,
        id,
        200,
        Some(notice),
        Some(&code),
        None,
        &Form::empty(),
    )
}

/// `POST /console/nodes/:id/routing`: the node's rule sets, domain strategy, own rules and
/// outbounds through `PATCH /admin/nodes/:id`.
pub fn save_routing(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let result = routing::node_body(fields).and_then(|body| {
        call::send(
            admin,
            "PATCH",
            &format!("/admin/nodes/{}", encode(id)),
            Some(&body),
        )
    });
    match result {
        Ok(_) => Ok(page::redirect(
            &format!("/console/nodes/{id}?done=routing"),
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 && err.status != 404 => {
            let notice = Some(Notice::Failed(format!("Not saved: {}", err.message)));
            node_page(admin, id, err.status, notice, None, Some(&err), fields)
        }
        Err(err) => Err(err),
    }
}

/// `POST /console/nodes/:id/inbounds`: adds an inbound (the node's others as they are).
pub fn add_inbound(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let result = inbound::spec(admin, fields).and_then(|new| {
        let node = call::get(admin, &format!("/admin/nodes/{}", encode(id)))?;
        let mut all = kept_inbounds(&node);
        let index = all.len();
        all.push(new);
        call::send(
            admin,
            "PATCH",
            &format!("/admin/nodes/{}", encode(id)),
            Some(&json!({ "inbounds": all })),
        )
        .map_err(|err| inbound::at(err, index))
    });
    match result {
        Ok(_) => Ok(page::redirect(
            &format!("/console/nodes/{id}?done=inbound-added"),
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 && err.status != 404 => {
            let notice = page::form_error(Some(&err), &inbound::FIELDS);
            node_page(admin, id, err.status, notice, None, Some(&err), fields)
        }
        Err(err) => Err(err),
    }
}

/// `POST /console/nodes/:id/inbounds/remove`: removes the inbound `tag` after a confirmation.
pub fn remove_inbound(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let tag = fields.get("tag").unwrap_or_default();
    if fields.get("confirm") != Some("yes") {
        let frame = Frame {
            title: "Remove this inbound?",
            section: "/console/nodes",
            admin,
            notice: None,
        };
        return Ok(page::confirm(
            frame,
            &format!("Remove the inbound “{tag}”?"),
            "Clients connected through it are cut off, and subscriptions stop listing it.",
            &format!("/console/nodes/{id}/inbounds/remove"),
            &[("tag", tag)],
            &format!("/console/nodes/{id}"),
        ));
    }
    let node = call::get(admin, &format!("/admin/nodes/{}", encode(id)))?;
    let rest: Vec<Value> = kept_inbounds(&node)
        .into_iter()
        .filter(|i| i["tag"].as_str() != Some(tag))
        .collect();
    match call::send(
        admin,
        "PATCH",
        &format!("/admin/nodes/{}", encode(id)),
        Some(&json!({ "inbounds": rest })),
    ) {
        Ok(_) => Ok(page::redirect(
            &format!("/console/nodes/{id}?done=inbound-removed"),
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 && err.status != 404 => node_page(
            admin,
            id,
            err.status,
            Some(Notice::Failed(err.message.clone())),
            None,
            None,
            &Form::empty(),
        ),
        Err(err) => Err(err),
    }
}

/// The node's inbounds as a PATCH sends them back: as answered, without what only answers
/// carry (REALITY's private key comes back `(hidden)`, which the API takes as "keep it").
fn kept_inbounds(node: &Value) -> Vec<Value> {
    node["inbounds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|inbound| {
            let mut inbound = inbound.clone();
            if let Some(fields) = inbound.as_object_mut() {
                fields.remove("heldBack");
            }
            inbound
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_carry_the_cores_address_and_the_code() {
        let cmd = install_command("https://vpn.example.com", "abc123");
        assert!(
            cmd.contains("NEXUMA_NODE_CORE_URL=https://vpn.example.com|"),
            "{cmd}"
        );
        assert!(cmd.contains("NEXUMA_NODE_CODE=abc123|"), "{cmd}");
        assert!(cmd.ends_with("systemctl enable --now nexuma-node"), "{cmd}");
        assert!(compose_command("abc123").contains("NEXUMA_NODE_CODE=abc123|"));
    }

    #[test]
    fn inbounds_go_back_without_what_only_answers_carry() {
        let node = json!({ "inbounds": [
            { "tag": "a", "protocol": "vless", "port": 443, "heldBack": { "reason": "x" } },
            { "tag": "b", "protocol": "vmess", "port": 80 }
        ] });
        let kept = kept_inbounds(&node);
        assert_eq!(kept.len(), 2);
        assert!(kept[0].get("heldBack").is_none());
        assert_eq!(kept[1]["tag"], "b");
    }
}
