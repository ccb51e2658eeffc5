//! Routing: `/console/routing`, the rule sets nodes share (create, change, delete after a
//! confirmation), and a node's own routing — which sets it uses, its domain strategy, its own
//! rules and its outbounds. Rules, balancers and outbounds are edited as the JSON the API takes
//! (xray's own shapes); each refusal is the API's message beside the field.

use maud::{html, Markup};
use nexuma_sdk::{ApiError, Request, Response};
use serde_json::{json, Map, Value};

use crate::call::{self, encode};
use crate::form::Form;
use crate::page::{self, field_error, Frame, Notice};
use crate::session::Admin;

const DOMAIN_STRATEGIES: [&str; 3] = ["AsIs", "IPIfNonMatch", "IPOnDemand"];

/// `GET /console/routing`.
pub fn list(req: &Request, admin: &Admin) -> Result<Response, ApiError> {
    let notice = req
        .query("done")
        .filter(|d| !d.is_empty())
        .map(|d| Notice::Done(format!("The rule set was {d}.")));
    sets_page(admin, 200, notice, None, &Form::empty())
}

fn sets_page(
    admin: &Admin,
    status: u16,
    notice: Option<Notice>,
    error: Option<(&str, &ApiError)>,
    typed: &Form,
) -> Result<Response, ApiError> {
    let sets = call::get(admin, "/admin/routing-rule-sets?limit=200")?;
    let error_of = |set: &str| error.filter(|(s, _)| *s == set).map(|(_, e)| e);
    let content = html! {
        h1 { "Routing rule sets" }
        p.hint { "Rule sets are shared: a node uses the ones ticked on its page, after its own rules." }
        @for set in sets["items"].as_array().into_iter().flatten() {
            @let id = set["id"].as_str().unwrap_or_default();
            h2 { (set["name"].as_str().unwrap_or_default()) }
            (set_form(admin, &format!("/console/routing/{id}"), "Save", set, error_of(id), typed.get("set") == Some(id), typed))
            (page::button(admin, &format!("/console/routing/{id}/delete"), &[], "Delete", "danger"))
        }
        h2 { "New rule set" }
        (set_form(admin, "/console/routing", "Create rule set", &json!({}), error_of(""), typed.get("set") == Some(""), typed))
    };
    let frame = Frame {
        title: "Routing",
        section: "/console/routing",
        admin,
        notice,
    };
    Ok(page::framed(status, frame, content))
}

/// A rule set's fields: as stored, or as typed when this form was the one sent.
fn set_form(
    admin: &Admin,
    action: &str,
    submit: &str,
    set: &Value,
    error: Option<&ApiError>,
    sent: bool,
    typed: &Form,
) -> Markup {
    let text = |name: &str, stored: String| {
        if sent {
            typed.get(name).unwrap_or_default().to_string()
        } else {
            stored
        }
    };
    let blocking = &set["blocking"];
    let lines = |v: &Value| {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ticked = |name: &str| {
        if sent {
            typed.get(name) == Some("yes")
        } else {
            blocking[name].as_bool() == Some(true)
        }
    };
    let id = set["id"].as_str().unwrap_or_default();
    html! {
        div.panel {
            form method="post" action=(action) {
                (page::token_field(admin))
                input type="hidden" name="set" value=(id);
                label { "Name" }
                input name="name" value=(text("name", set["name"].as_str().unwrap_or_default().to_string())) required;
                (field_error(error, "name"))
                label { "Rules (JSON: xray routing rules)" }
                textarea name="rules" rows="6" spellcheck="false" { (text("rules", pretty(&set["rules"], "[]"))) }
                (field_error(error, "rules"))
                label { "Balancers (JSON)" }
                textarea name="balancers" rows="3" spellcheck="false" { (text("balancers", pretty(&set["balancers"], "[]"))) }
                (field_error(error, "balancers"))
                label { "Blocking" }
                div.checks {
                    label { input type="checkbox" name="bittorrent" value="yes" checked[ticked("bittorrent")]; "BitTorrent" }
                    label { input type="checkbox" name="privateIps" value="yes" checked[ticked("privateIps")]; "Private addresses" }
                }
                label { "Blocked domains, one a line" }
                textarea name="domains" rows="3" { (text("domains", lines(&blocking["domains"]))) }
                label { "Blocked IP ranges, one a line" }
                textarea name="ips" rows="3" { (text("ips", lines(&blocking["ips"]))) }
                (field_error(error, "blocking"))
                p { button type="submit" { (submit) } }
            }
        }
    }
}

fn pretty(value: &Value, empty: &str) -> String {
    if value.is_null() {
        return empty.to_string();
    }
    serde_json::to_string_pretty(value).unwrap_or_else(|_| empty.to_string())
}

/// A field's JSON, or a refusal naming it.
fn json_field(form: &Form, name: &str) -> Result<Value, ApiError> {
    let text = form.get(name).unwrap_or_default();
    if text.is_empty() {
        return Ok(json!([]));
    }
    serde_json::from_str(text).map_err(|e| ApiError::validation(name, format!("is not JSON: {e}")))
}

fn lines(form: &Form, name: &str) -> Vec<String> {
    form.get(name)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The API's body of a rule set from the form.
fn set_body(form: &Form) -> Result<Value, ApiError> {
    Ok(json!({
        "name": form.get("name").unwrap_or_default(),
        "rules": json_field(form, "rules")?,
        "balancers": json_field(form, "balancers")?,
        "blocking": {
            "bittorrent": form.get("bittorrent") == Some("yes"),
            "privateIps": form.get("privateIps") == Some("yes"),
            "domains": lines(form, "domains"),
            "ips": lines(form, "ips"),
        },
    }))
}

/// `POST /console/routing` (a new set) and `POST /console/routing/:id` (a change).
pub fn save(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req
        .params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str());
    let (method, target, done) = match id {
        Some(id) => (
            "PATCH",
            format!("/admin/routing-rule-sets/{}", encode(id)),
            "saved",
        ),
        None => ("POST", "/admin/routing-rule-sets".to_string(), "created"),
    };
    let result = set_body(fields).and_then(|body| call::send(admin, method, &target, Some(&body)));
    match result {
        Ok(_) => Ok(page::redirect(
            &format!("/console/routing?done={done}"),
            Some(admin.cookie()),
        )),
        Err(err) if err.status < 500 && err.status != 404 => {
            let notice = Some(Notice::Failed(format!("Not saved: {}", err.message)));
            sets_page(
                admin,
                err.status,
                notice,
                Some((id.unwrap_or_default(), &err)),
                fields,
            )
        }
        Err(err) => Err(err),
    }
}

/// `POST /console/routing/:id/delete`: after a confirmation (a set nodes use is refused).
pub fn delete(req: &Request, admin: &Admin, fields: &Form) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    if fields.get("confirm") != Some("yes") {
        let frame = Frame {
            title: "Delete this rule set?",
            section: "/console/routing",
            admin,
            notice: None,
        };
        return Ok(page::confirm(
            frame,
            "Delete this rule set?",
            "Nodes stop applying its rules with their next config.",
            &format!("/console/routing/{id}/delete"),
            &[],
            "/console/routing",
        ));
    }
    let result = call::send(
        admin,
        "DELETE",
        &format!("/admin/routing-rule-sets/{}", encode(id)),
        None,
    );
    page::after(
        admin,
        result,
        "/console/routing?done=deleted",
        "/console/routing",
        ("/console/routing", "Back to routing"),
    )
}

/// A node's routing on its page: its rule sets, domain strategy, own rules and outbounds.
pub fn node_part(
    admin: &Admin,
    id: &str,
    node: &Value,
    error: Option<&ApiError>,
    typed: &Form,
) -> Result<Markup, ApiError> {
    let sets = call::get(admin, "/admin/routing-rule-sets?limit=200")?;
    let sent = typed.get("part") == Some("routing");
    let used: Vec<&str> = if sent {
        typed.all("ruleSetIds").collect()
    } else {
        node["ruleSetIds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let strategy = if sent {
        typed.get("domainStrategy").unwrap_or("AsIs").to_string()
    } else {
        node["routing"]["domainStrategy"]
            .as_str()
            .unwrap_or("AsIs")
            .to_string()
    };
    let text = |name: &str, stored: &Value| {
        if sent {
            typed.get(name).unwrap_or_default().to_string()
        } else {
            pretty(stored, "[]")
        }
    };
    Ok(html! {
        div.panel {
            form method="post" action={"/console/nodes/" (id) "/routing"} {
                (page::token_field(admin))
                input type="hidden" name="part" value="routing";
                label { "Rule sets" }
                div.checks {
                    @for set in sets["items"].as_array().into_iter().flatten() {
                        @let set_id = set["id"].as_str().unwrap_or_default();
                        label { input type="checkbox" name="ruleSetIds" value=(set_id) checked[used.contains(&set_id)]; (set["name"].as_str().unwrap_or_default()) }
                    }
                }
                p.hint { a href="/console/routing" { "Manage the rule sets" } }
                (field_error(error, "ruleSetIds"))
                label for="domainStrategy" { "Domain strategy" }
                select #domainStrategy name="domainStrategy" {
                    @for s in DOMAIN_STRATEGIES { option value=(s) selected[s == strategy] { (s) } }
                }
                label { "The node's own rules (JSON), before the sets'" }
                textarea name="rules" rows="5" spellcheck="false" { (text("rules", &node["routing"]["rules"])) }
                (field_error(error, "routing"))
                (field_error(error, "rules"))
                label { "Outbounds (JSON; direct and block are built in)" }
                textarea name="outbounds" rows="5" spellcheck="false" { (text("outbounds", &node["outbounds"])) }
                (field_error(error, "outbounds"))
                p { button type="submit" { "Save routing" } }
            }
        }
    })
}

/// The node's PATCH body from its routing form.
pub fn node_body(form: &Form) -> Result<Value, ApiError> {
    let mut routing = Map::new();
    routing.insert(
        "domainStrategy".into(),
        json!(form.get("domainStrategy").unwrap_or("AsIs")),
    );
    routing.insert("rules".into(), json_field(form, "rules")?);
    Ok(json!({
        "ruleSetIds": form.all("ruleSetIds").collect::<Vec<_>>(),
        "routing": routing,
        "outbounds": json_field(form, "outbounds")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form::from_fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_rule_set_body_takes_json_and_lines() {
        let body = set_body(&form(&[
            ("name", "Ads"),
            (
                "rules",
                r#"[{"domain": ["geosite:category-ads"], "outboundTag": "block"}]"#,
            ),
            ("bittorrent", "yes"),
            ("domains", "ads.example.com\n\n  tracker.example.org "),
        ]))
        .expect("a body");
        assert_eq!(body["rules"][0]["outboundTag"], "block");
        assert_eq!(body["balancers"], json!([]));
        assert_eq!(body["blocking"]["bittorrent"], true);
        assert_eq!(body["blocking"]["privateIps"], false);
        assert_eq!(
            body["blocking"]["domains"],
            json!(["ads.example.com", "tracker.example.org"])
        );
    }

    #[test]
    fn json_that_is_not_is_refused_naming_its_field() {
        let err = node_body(&form(&[("outbounds", "[{")])).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("outbounds"));
        let err = set_body(&form(&[("rules", "nope")])).expect_err("refused");
        assert_eq!(err.field.as_deref(), Some("rules"));
    }
}
