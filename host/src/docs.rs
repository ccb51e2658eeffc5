//! `GET /docs`: the API reference as one self-contained HTML page, rendered from the very
//! document `/openapi.json` serves, so the two never disagree. No script and no asset from
//! outside the Core: it works on a server without internet access and in any browser.
//!
//! Operations are grouped by tag (the component that serves them, or `host`); each shows its
//! method, path, who may call it, its summary, parameters, request body and answers, with the
//! JSON Schemas folded under `<details>`.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::{Map, Value};

/// The methods an OpenAPI path item may hold, in the order the page lists them.
const METHODS: [&str; 6] = ["get", "head", "post", "put", "patch", "delete"];

/// One operation of the document.
struct Operation<'a> {
    method: &'a str,
    path: &'a str,
    op: &'a Value,
}

/// The page's stable anchor of an operation: `op-get-admin-users-id` for `get`
/// `/admin/users/{id}`.
pub fn anchor(method: &str, path: &str) -> String {
    let slug: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug.trim_matches('-').replace("--", "-");
    format!("op-{method}-{slug}")
}

impl Operation<'_> {
    fn anchor(&self) -> String {
        anchor(self.method, self.path)
    }

    fn tag(&self) -> &str {
        self.op["tags"][0].as_str().unwrap_or("other")
    }

    /// Who may call it: the Core's own auth level when the document names it.
    fn auth(&self) -> &str {
        match self.op.get("x-nexuma-auth").and_then(Value::as_str) {
            Some(level) => level,
            None if self.op.get("security").is_some() => "token",
            None => "public",
        }
    }
}

/// The page for `document` (an OpenAPI 3 document as `openapi::document` builds it).
pub fn page(document: &Value) -> String {
    let operations = operations(document);
    let tags = tags(&operations);
    let title = document["info"]["title"].as_str().unwrap_or("API");
    let version = document["info"]["version"].as_str().unwrap_or("");
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — API reference" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (title) " API" }
                    p {
                        "Version " (version) " · " (operations.len()) " operations · "
                        a href="/openapi.json" { "openapi.json" }
                        " (OpenAPI " (document["openapi"].as_str().unwrap_or("3")) ")"
                    }
                    (auth_note(document))
                }
                nav id="contents" {
                    @for tag in &tags {
                        h2 { a href={ "#tag-" (tag) } { (tag) } }
                        ul {
                            @for o in operations.iter().filter(|o| o.tag() == *tag) {
                                li { a href={ "#" (o.anchor()) } {
                                    span class={ "method " (o.method) } { (o.method.to_uppercase()) }
                                    " " code { (o.path) }
                                } }
                            }
                        }
                    }
                }
                main {
                    @for tag in &tags {
                        h2 id={ "tag-" (tag) } { (tag) }
                        @for o in operations.iter().filter(|o| o.tag() == *tag) {
                            (operation(o))
                        }
                    }
                }
            }
        }
    };
    markup.into_string()
}

/// Every operation, in path order, each path's methods in `METHODS` order.
fn operations(document: &Value) -> Vec<Operation<'_>> {
    let Some(paths) = document["paths"].as_object() else {
        return Vec::new();
    };
    let mut sorted: Vec<(&String, &Value)> = paths.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .into_iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |m| {
                item.get(*m).map(|op| Operation {
                    method: m,
                    path,
                    op,
                })
            })
        })
        .collect()
}

/// The tags in first-seen order, `host` last.
fn tags<'a>(operations: &'a [Operation<'a>]) -> Vec<&'a str> {
    let mut tags: Vec<&str> = Vec::new();
    for o in operations {
        if !tags.contains(&o.tag()) {
            tags.push(o.tag());
        }
    }
    tags.sort_by_key(|t| (*t == "host", *t));
    tags
}

fn auth_note(document: &Value) -> Markup {
    let bearer = document["components"]["securitySchemes"]
        .as_object()
        .is_some_and(|s| !s.is_empty());
    html! {
        @if bearer {
            p class="note" {
                "Routes marked " span class="auth" { "user" } " or " span class="auth" { "admin" }
                " take an access token: " code { "Authorization: Bearer <token>" }
                " (from " code { "POST /auth/login" } "). "
                span class="auth" { "node" } " routes take a node agent's "
                code { "x-node-auth-key" } ". Errors are "
                code { "{\"error\": {\"code\", \"message\"}}" } "."
            }
        }
    }
}

fn operation(o: &Operation<'_>) -> Markup {
    let summary = o.op["summary"].as_str().unwrap_or("");
    html! {
        section class="operation" id=(o.anchor()) {
            h3 {
                span class={ "method " (o.method) } { (o.method.to_uppercase()) }
                " " code { (o.path) }
                " " span class="auth" { (o.auth()) }
            }
            @if !summary.is_empty() { p { (summary) } }
            (parameters(o.op))
            (request_body(o.op))
            (responses(o.op))
        }
    }
}

fn parameters(op: &Value) -> Markup {
    let Some(params) = op["parameters"].as_array().filter(|p| !p.is_empty()) else {
        return html! {};
    };
    html! {
        h4 { "Parameters" }
        table {
            thead { tr { th { "name" } th { "in" } th { "type" } th { "required" } th { "description" } } }
            tbody {
                @for p in params {
                    tr {
                        td { code { (p["name"].as_str().unwrap_or("")) } }
                        td { (p["in"].as_str().unwrap_or("")) }
                        td { code { (type_of(&p["schema"])) } }
                        td { @if p["required"].as_bool() == Some(true) { "yes" } @else { "no" } }
                        td { (p["description"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

fn request_body(op: &Value) -> Markup {
    let Some(content) = op["requestBody"]["content"].as_object() else {
        return html! {};
    };
    html! {
        h4 { "Request body" }
        (contents(content))
    }
}

fn responses(op: &Value) -> Markup {
    let Some(responses) = op["responses"].as_object() else {
        return html! {};
    };
    html! {
        h4 { "Answers" }
        dl class="responses" {
            @for (status, answer) in responses {
                dt { code { (status) } " " (answer["description"].as_str().unwrap_or("")) }
                dd {
                    @if let Some(content) = answer["content"].as_object() {
                        (contents(content))
                    } @else {
                        span class="muted" { "no content" }
                    }
                }
            }
        }
    }
}

/// Each media type with its schema folded.
fn contents(content: &Map<String, Value>) -> Markup {
    html! {
        @for (media, body) in content {
            details {
                summary { code { (media) } " " (type_of(&body["schema"])) }
                pre { (pretty(&body["schema"])) }
            }
        }
    }
}

/// A one-word type for a table cell: `string (uuid)`, `integer`, `array`, a `$ref`'s name.
fn type_of(schema: &Value) -> String {
    if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
        return name.to_string();
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_string(),
    };
    match schema["format"].as_str() {
        Some(format) => format!("{ty} ({format})"),
        None => ty,
    }
}

fn pretty(schema: &Value) -> String {
    serde_json::to_string_pretty(schema).unwrap_or_default()
}

/// Plain, readable, printable; light and dark follow the system.
const STYLE: &str = r#"
:root { color-scheme: light dark; --muted: #6b7280; --line: #d1d5db; }
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 2rem 4rem; }
header h1 { margin-bottom: 0.2rem; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
nav ul { list-style: none; padding-left: 0; columns: 2 22rem; }
nav h2 { font-size: 1.05rem; margin: 1rem 0 0.3rem; }
main h2 { border-bottom: 2px solid var(--line); margin-top: 2.5rem; }
.operation { border-top: 1px solid var(--line); padding: 0.6rem 0 0.8rem; }
.operation h3 { font-size: 1.05rem; margin: 0.3rem 0; }
.method { display: inline-block; min-width: 4.2rem; font-weight: 700; font-family: ui-monospace, monospace; }
.get { color: #15803d; } .post { color: #1d4ed8; } .put, .patch { color: #b45309; } .delete { color: #b91c1c; } .head { color: var(--muted); }
.auth { font-size: 0.75rem; border: 1px solid var(--line); border-radius: 0.6rem; padding: 0 0.45rem; color: var(--muted); }
table { border-collapse: collapse; margin: 0.3rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.8rem 0.2rem 0; text-align: left; vertical-align: top; }
h4 { margin: 0.6rem 0 0.2rem; font-size: 0.9rem; }
dl.responses dt { margin-top: 0.3rem; } dl.responses dd { margin-left: 1.2rem; }
pre { overflow-x: auto; padding: 0.5rem; border: 1px solid var(--line); border-radius: 0.3rem; }
.muted, .note { color: var(--muted); }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_operation_has_a_section_and_text_is_escaped() {
        let doc = json!({
            "openapi": "3.1.0",
            "info": { "title": "Nexuma", "version": "0.1.0" },
            "paths": {
                "/admin/users/{id}": {
                    "get": { "summary": "One <user>", "tags": ["auth"], "x-nexuma-auth": "admin",
                             "parameters": [{ "name": "id", "in": "path", "required": true,
                                              "schema": { "type": "string", "format": "uuid" } }],
                             "responses": { "200": { "description": "The user" } } },
                    "delete": { "summary": "Deletes", "tags": ["auth"],
                                "responses": { "204": { "description": "Gone" } } }
                },
                "/health": { "get": { "summary": "Health", "tags": ["host"], "responses": {} } }
            }
        });
        let page = page(&doc);
        assert!(page.contains(r#"id="op-get-admin-users-id""#), "{page}");
        assert!(page.contains(r#"id="op-delete-admin-users-id""#));
        assert!(page.contains(r#"id="op-get-health""#));
        assert!(page.contains("One &lt;user&gt;"), "summaries are escaped");
        assert!(page.contains("string (uuid)"));
        assert!(page.contains("no content"), "a 204 shows no content");
        // The host's own routes come after the components'.
        assert!(page.find("tag-auth") < page.find("tag-host"));
    }
}
