//! `GET /openapi.json`: an OpenAPI 3 document of every served route, assembled from what each
//! component declares about its own routes, plus the host's own.

use serde_json::{json, Map, Value};

use crate::bindings::AuthLevel;
use crate::bindings::Route;
use crate::registry::{LoadedSet, Versions};
use crate::routes::Entry;

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
    let mut schema = text.as_deref().and_then(|t| serde_json::from_str(t).ok())?;
    any_as_object(&mut schema);
    Some(schema)
}

/// Writes each subschema `true` ("any value", what schemars derives for a `serde_json::Value`)
/// as `{}`, which means the same: readers of the document that take a schema only as an object
/// (openapi-python-client) fail on the whole document at a boolean one.
fn any_as_object(schema: &mut Value) {
    const ONE: [&str; 11] = [
        "items",
        "additionalProperties",
        "unevaluatedProperties",
        "contains",
        "not",
        "if",
        "then",
        "else",
        "propertyNames",
        "unevaluatedItems",
        "additionalItems",
    ];
    const BY_NAME: [&str; 4] = [
        "properties",
        "patternProperties",
        "$defs",
        "dependentSchemas",
    ];
    const LIST: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
    let Value::Object(map) = schema else { return };
    for (key, value) in map.iter_mut() {
        let subschemas: Vec<&mut Value> = match value {
            _ if ONE.contains(&key.as_str()) => vec![value],
            Value::Object(named) if BY_NAME.contains(&key.as_str()) => named.values_mut().collect(),
            Value::Array(list) if LIST.contains(&key.as_str()) => list.iter_mut().collect(),
            _ => continue,
        };
        for sub in subschemas {
            if *sub == Value::Bool(true) {
                *sub = json!({});
            }
            any_as_object(sub);
        }
    }
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

/// The operation of one component route: what its record declares, then what its component's
/// route docs add, then what the host answers on every route.
fn component_operation(entry: &Entry<Versions>) -> (String, Value) {
    let route = &entry.route;
    let (path, names) = openapi_path(&route.path);
    let mut op = Map::new();
    op.insert("summary".into(), json!(route.summary));
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
    op.insert("responses".into(), Value::Object(responses(route)));
    if let Some(fragment) = entry.target.component.docs.get(&route.method, &route.path) {
        merge_fragment(&mut op, fragment);
    }
    // The host's word on who may call it comes last, so no fragment can change it.
    op.insert("tags".into(), json!([&*entry.target.component.name]));
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
    (path, Value::Object(op))
}

/// The success answer a route record declares, the host's 400 and the 503 it gives while a
/// store is down, and any other error.
fn responses(route: &Route) -> Map<String, Value> {
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
    // The host's input checks refuse in JSON before any component runs, whatever media type
    // the route's own answers take.
    responses.insert(
        "400".into(),
        json!({
            "description": "Bad input: a NUL character, a malformed path or query parameter, or what the route itself refuses",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        }),
    );
    responses.insert(
        "503".into(),
        json!({
            "description": "The database or the key-value store is unavailable for now",
            "headers": { "Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": { "type": "integer", "minimum": 0 }
            } },
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        }),
    );
    responses.insert(
        "default".into(),
        json!({ "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
    );
    responses
}

/// Adds a component's route doc to the operation built from its record: a parameter it names
/// replaces the host's (a path segment's schema), others are added; the request body and each
/// answer it names are merged key by key into the host's (media types beside the declared JSON,
/// headers, whether the body is required).
fn merge_fragment(op: &mut Map<String, Value>, fragment: &Map<String, Value>) {
    if let Some(description) = fragment.get("description") {
        op.insert("description".into(), description.clone());
    }
    if let Some(Value::Array(given)) = fragment.get("parameters") {
        let params = op
            .entry("parameters")
            .or_insert_with(|| json!([]))
            .as_array_mut();
        if let Some(params) = params {
            for param in given {
                let same = |p: &Value| p["name"] == param["name"] && p["in"] == param["in"];
                match params.iter_mut().find(|p| same(p)) {
                    Some(existing) => *existing = param.clone(),
                    None => params.push(param.clone()),
                }
            }
        }
    }
    if let Some(given) = fragment.get("requestBody") {
        let body = op.entry("requestBody").or_insert_with(|| json!({}));
        merge_objects(body, given);
    }
    if let Some(Value::Object(given)) = fragment.get("responses") {
        if let Some(Value::Object(responses)) = op.get_mut("responses") {
            for (status, answer) in given {
                let merged = responses.entry(status.clone()).or_insert_with(|| json!({}));
                merge_objects(merged, answer);
            }
        }
    }
}

/// `into` takes each key of `from`; objects under the same key are merged the same way.
fn merge_objects(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_objects(existing, value)
                    }
                    _ => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (into, from) => *into = from.clone(),
    }
}

/// The host answers HEAD on every GET route: the same operation with no bodies.
fn add_head(item: &mut Value) {
    let Some(get) = item.get("get") else { return };
    let mut head = get.clone();
    if let Some(Value::Object(responses)) = head.get_mut("responses") {
        for answer in responses.values_mut() {
            if let Some(answer) = answer.as_object_mut() {
                answer.remove("content");
            }
        }
    }
    head["summary"] = json!(format!(
        "{} (headers only)",
        get["summary"].as_str().unwrap_or("")
    ));
    item["head"] = head;
}

pub fn document(set: &LoadedSet) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (path, item) in host_operations() {
        paths.insert(path.to_string(), item);
    }
    for entry in set.table.entries() {
        let (path, op) = component_operation(entry);
        let item = paths.entry(path).or_insert_with(|| json!({}));
        item[entry.route.method.to_lowercase()] = op;
    }
    for item in paths.values_mut() {
        add_head(item);
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

    /// A route doc's path parameter replaces the host's plain string; its answers join the
    /// host's key by key, so the declared JSON stays beside the media types the doc adds.
    #[test]
    fn a_route_doc_refines_the_operation() {
        use serde_json::json;
        let mut op = json!({
            "parameters": [{ "name": "uuid", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": { "200": { "description": "Success", "content": { "application/json": { "schema": { "type": "object" } } } } }
        });
        let fragment = json!({
            "parameters": [
                { "name": "uuid", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                { "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string" } }
            ],
            "responses": {
                "200": { "headers": { "ETag": { "schema": { "type": "string" } } }, "content": { "text/plain": { "schema": { "type": "string" } } } },
                "404": { "description": "No such link" }
            }
        });
        let (Some(op_map), Some(fragment)) = (op.as_object_mut(), fragment.as_object()) else {
            panic!("objects");
        };
        super::merge_fragment(op_map, fragment);
        assert_eq!(op["parameters"].as_array().map(Vec::len), Some(2));
        assert_eq!(op["parameters"][0]["schema"]["format"], "uuid");
        let ok = &op["responses"]["200"];
        assert_eq!(ok["description"], "Success");
        assert_eq!(
            ok["content"]["application/json"]["schema"]["type"],
            "object"
        );
        assert_eq!(ok["content"]["text/plain"]["schema"]["type"], "string");
        assert_eq!(ok["headers"]["ETag"]["schema"]["type"], "string");
        assert_eq!(op["responses"]["404"]["description"], "No such link");
    }

    /// HEAD is documented wherever GET is, with the same answers and no bodies.
    #[test]
    fn a_true_subschema_is_written_as_an_object() {
        use serde_json::json;
        let mut schema = json!({
            "type": "object",
            "additionalProperties": true,
            "properties": {
                "map": { "additionalProperties": { "items": true } },
                "any": true,
                "list": { "type": "array", "items": true },
                "either": { "anyOf": [true, { "type": "string" }] },
                "default": { "default": { "items": true } }
            }
        });
        super::any_as_object(&mut schema);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "additionalProperties": {},
                "properties": {
                    "map": { "additionalProperties": { "items": {} } },
                    "any": {},
                    "list": { "type": "array", "items": {} },
                    "either": { "anyOf": [{}, { "type": "string" }] },
                    "default": { "default": { "items": true } }
                }
            })
        );
    }

    #[test]
    fn every_get_has_its_head() {
        use serde_json::json;
        let mut item = json!({ "get": { "summary": "Reads", "responses": { "200": { "description": "Success", "headers": { "ETag": {} }, "content": { "application/json": {} } } } } });
        super::add_head(&mut item);
        assert_eq!(item["head"]["summary"], "Reads (headers only)");
        assert!(item["head"]["responses"]["200"].get("content").is_none());
        assert!(item["head"]["responses"]["200"]["headers"]
            .get("ETag")
            .is_some());
        let mut post = json!({ "post": { "summary": "Writes", "responses": {} } });
        super::add_head(&mut post);
        assert!(post.get("head").is_none());
    }
}
