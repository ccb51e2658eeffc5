//! `GET /openapi.json`: an OpenAPI 3 document of every served route, assembled from what each
//! component declares about its own routes, plus the host's own.

use serde_json::{json, Map, Value};

use crate::bindings::AuthLevel;
use crate::registry::LoadedSet;

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": { "code": { "type": "string" }, "message": { "type": "string" } }
        }}
    })
}

/// `/admin/users/:id` → `/admin/users/{id}`, and the parameter names.
fn openapi_path(path: &str) -> (String, Vec<String>) {
    let mut names = Vec::new();
    let converted = path
        .split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => {
                names.push(name.to_string());
                format!("{{{name}}}")
            }
            None => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/");
    (converted, names)
}

fn parse_schema(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

/// The query parameters a route declares: one `in: query` parameter per property of its query
/// schema, with the property's own schema and description.
fn query_parameters(text: &Option<String>) -> Vec<Value> {
    let Some(schema) = parse_schema(text) else {
        return Vec::new();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut param = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": property,
            });
            if let Some(description) = property.get("description") {
                param["description"] = description.clone();
            }
            param
        })
        .collect()
}

fn host_operations() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/health",
            json!({ "get": {
                "summary": "Health of the database, key-value store and loaded components",
                "tags": ["host"],
                "x-nexuma-auth": "public",
                "responses": {
                    "200": { "description": "Both stores reachable (503 with Retry-After while either is not)", "content": { "application/json": { "schema": { "type": "object" } } } },
                    "503": { "description": "The database is unreachable", "content": { "application/json": { "schema": { "type": "object" } } } }
                }
            }}),
        ),
        (
            "/metrics",
            json!({ "get": {
                "summary": "Prometheus metrics",
                "tags": ["host"],
                "responses": { "200": { "description": "Prometheus text format", "content": { "text/plain": { "schema": { "type": "string" } } } } }
            }}),
        ),
        (
            "/openapi.json",
            json!({ "get": {
                "summary": "This document",
                "tags": ["host"],
                "x-nexuma-auth": "public",
                "responses": { "200": { "description": "OpenAPI 3 document", "content": { "application/json": { "schema": { "type": "object" } } } } }
            }}),
        ),
        (
            "/docs",
            json!({ "get": {
                "summary": "This document as a page to read: every operation with its parameters, body and answers (self-contained HTML, no script)",
                "tags": ["host"],
                "x-nexuma-auth": "public",
                "responses": { "200": { "description": "HTML page", "content": { "text/html": { "schema": { "type": "string" } } } } }
            }}),
        ),
    ]
    .into_iter()
    .chain(component_operations())
    .collect()
}

/// `/admin/components`: the host's own admin routes over component versions
/// (`components::api`).
fn component_operations() -> Vec<(&'static str, Value)> {
    let admin = |summary: &str, responses: Value| {
        json!({
            "summary": summary,
            "tags": ["host"],
            "security": [{ "bearerAuth": [] }],
            "x-nexuma-auth": "admin",
            "responses": responses,
        })
    };
    let error = json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let object = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "type": "object" } } } });
    let name =
        json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } });
    let hash =
        json!({ "name": "hash", "in": "path", "required": true, "schema": { "type": "string" } });
    let mut upload = admin(
        "Stores a component version: the raw .wasm as the body, checked against the active set \
         first (400 with the reason, nothing stored); 201 new, 200 already stored",
        json!({ "201": object("The stored version"), "200": object("The version was stored already"), "default": error }),
    );
    upload["parameters"] = json!([
        { "name": "name", "in": "query", "required": true, "schema": { "type": "string", "pattern": "^[a-z0-9_-]{1,64}$" }, "description": "The component's name" },
        { "name": "activate", "in": "query", "required": false, "schema": { "type": "boolean" }, "description": "Activate it too" }
    ]);
    upload["requestBody"] = json!({ "required": true, "content": { "application/wasm": { "schema": { "type": "string", "format": "binary" } } } });
    let mut activate = admin(
        "Activates a stored version on every replica",
        json!({ "200": object("The component with its new active version"), "default": error }),
    );
    activate["parameters"] = json!([name]);
    activate["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "required": ["hash"],
        "properties": {
            "hash": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
            "canary": { "type": "object", "required": ["percent"], "additionalProperties": false,
                "description": "Serve only this share of the requests for a window; rolled back by the Core when it fails more than the active version by the margin, else promoted at the window's end",
                "properties": {
                    "percent": { "type": "integer", "minimum": 1, "maximum": 99 },
                    "windowSeconds": { "type": "integer", "minimum": 5, "maximum": 86400, "default": 600 },
                    "margin": { "type": "number", "minimum": 0, "maximum": 1, "default": 0.05 }
                } }
        }
    } } } });
    let mut rollback = admin(
        "Activates the previous active version again (409 when there is none); during a canary, ends the canary",
        json!({ "200": object("The component with its new active version"), "default": error }),
    );
    rollback["parameters"] = json!([name]);
    let mut promote = admin(
        "Ends the running canary: its version becomes the active one (409 when none runs)",
        json!({ "200": object("The component with its new active version"), "default": error }),
    );
    promote["parameters"] = json!([name]);
    let mut delete = admin(
        "Deletes an inactive version (409 for the active one or the folder's)",
        json!({ "204": { "description": "Deleted" }, "default": error }),
    );
    delete["parameters"] = json!([name, hash]);
    vec![
        (
            "/admin/components",
            json!({
                "get": admin("Component versions: the active one per name, stored ones, this replica's figures", json!({ "200": object("The components and the active set's revision"), "default": error })),
                "post": upload,
            }),
        ),
        (
            "/admin/components/{name}/activate",
            json!({ "post": activate }),
        ),
        (
            "/admin/components/{name}/rollback",
            json!({ "post": rollback }),
        ),
        (
            "/admin/components/{name}/promote",
            json!({ "post": promote }),
        ),
        (
            "/admin/components/{name}/versions/{hash}",
            json!({ "delete": delete }),
        ),
    ]
}

pub fn document(set: &LoadedSet) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (path, item) in host_operations() {
        paths.insert(path.to_string(), item);
    }
    for entry in set.table.entries() {
        let route = &entry.route;
        let (path, names) = openapi_path(&route.path);
        let mut op = Map::new();
        op.insert("summary".into(), json!(route.summary));
        op.insert("tags".into(), json!([&*entry.component.name]));
        let mut params: Vec<Value> = names
            .iter()
            .map(|n| json!({ "name": n, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        params.extend(query_parameters(&route.query_schema));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(schema) = parse_schema(&route.request_schema) {
            op.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
            );
        }
        let mut success = json!({ "description": "Success" });
        // A 204 has no body whatever schema was declared beside it (HTTP forbids one).
        let schema = parse_schema(&route.response_schema).filter(|_| route.success_status != 204);
        if let Some(schema) = schema {
            success["content"] = json!({ "application/json": { "schema": schema } });
        } else if route.success_status == 204 {
            success["description"] = json!("Done; no content");
        }
        let mut responses = Map::new();
        responses.insert(route.success_status.to_string(), success);
        responses.insert(
            "default".into(),
            json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
        op.insert("responses".into(), Value::Object(responses));
        match route.auth {
            AuthLevel::Public => {}
            AuthLevel::User | AuthLevel::Admin => {
                op.insert("security".into(), json!([{ "bearerAuth": [] }]));
            }
            AuthLevel::Node => {
                op.insert("security".into(), json!([{ "nodeKey": [] }]));
            }
        }
        let level = match route.auth {
            AuthLevel::Public => "public",
            AuthLevel::User => "user",
            AuthLevel::Admin => "admin",
            AuthLevel::Node => "node",
        };
        op.insert("x-nexuma-auth".into(), json!(level));
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[route.method.to_lowercase()] = Value::Object(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Nexuma Core", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": { "Error": error_schema() },
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "nodeKey": { "type": "apiKey", "in": "header", "name": "x-node-auth-key" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    /// The host's own operations in the document are exactly the routes the host serves itself.
    #[test]
    fn host_operations_are_the_host_routes() {
        let mut documented: Vec<(String, String)> = super::host_operations()
            .into_iter()
            .flat_map(|(path, item)| {
                let methods: Vec<String> = item
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                    .unwrap_or_default();
                methods.into_iter().map(move |m| (m, path.to_string()))
            })
            .collect();
        // The served patterns in the document's spelling (`{name}` for `:name`).
        let mut served: Vec<(String, String)> = crate::routes::HOST_ROUTES
            .iter()
            .chain(crate::components::api::ROUTES.iter())
            .map(|(m, p)| (m.to_string(), super::openapi_path(p).0))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }

    #[test]
    fn paths_use_openapi_braces() {
        let (p, names) = super::openapi_path("/admin/users/:id/links/:link");
        assert_eq!(p, "/admin/users/{id}/links/{link}");
        assert_eq!(names, vec!["id", "link"]);
    }
}
