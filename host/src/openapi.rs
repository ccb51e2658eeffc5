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
                "responses": { "200": { "description": "OpenAPI 3 document", "content": { "application/json": { "schema": { "type": "object" } } } } }
            }}),
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
        if let Some(schema) = parse_schema(&route.response_schema) {
            success["content"] = json!({ "application/json": { "schema": schema } });
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
    #[test]
    fn paths_use_openapi_braces() {
        let (p, names) = super::openapi_path("/admin/users/:id/links/:link");
        assert_eq!(p, "/admin/users/{id}/links/{link}");
        assert_eq!(names, vec!["id", "link"]);
    }
}
