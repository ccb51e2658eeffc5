//! The route table as `/openapi.json` describes it, and what generated tests need to call every
//! route: path parameters filled from fixtures, request bodies made from the routes' JSON
//! Schemas (a plausible minimal body, or one with a single field replaced), credentials, and
//! requests sent many at a time with a bound, each with a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::Core;

/// Who may call a route (`x-nexuma-auth`, or derived from `security`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Public,
    User,
    Admin,
    Node,
}

/// One route of the served table.
#[derive(Clone, Debug)]
pub struct Route {
    /// Upper-case method.
    pub method: String,
    /// The pattern with `:name` parameters, as components declare it.
    pub pattern: String,
    pub params: Vec<String>,
    pub level: Level,
    /// Whether the level came from `x-nexuma-auth` (else it was derived from `security`).
    pub level_documented: bool,
    /// The security schemes the operation names (`bearerAuth`, `nodeKey`).
    pub security: Vec<String>,
    pub summary: String,
    /// JSON Schema of the request body.
    pub request_schema: Option<Value>,
    /// The query parameters the document declares, with their schemas.
    pub query: Vec<(String, Value)>,
}

impl Route {
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.pattern)
    }
}

/// Every route of `GET /openapi.json` (the host's own included), in document order.
pub async fn table(core: &Core) -> Vec<Route> {
    let r = core.get("/openapi.json", None).await;
    assert_eq!(r.status, 200, "openapi.json: {}", r.text);
    let paths = r.body["paths"].as_object().expect("paths").clone();
    let mut routes = Vec::new();
    for (path, item) in &paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let (level, level_documented) = level_of(path, op);
            let security = schemes(op).into_iter().map(String::from).collect();
            let (pattern, params) = pattern_of(path);
            routes.push(Route {
                method: method.to_uppercase(),
                pattern,
                params,
                level,
                level_documented,
                security,
                summary: op["summary"].as_str().unwrap_or("").to_string(),
                request_schema: op
                    .pointer("/requestBody/content/application~1json/schema")
                    .cloned(),
                query: declared_query(op),
            });
        }
    }
    routes
}

/// `/admin/users/{id}` → (`/admin/users/:id`, `["id"]`).
pub fn pattern_of(path: &str) -> (String, Vec<String>) {
    let mut params = Vec::new();
    let pattern = path
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    params.push(name.to_string());
                    format!(":{name}")
                }
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    (pattern, params)
}

/// The auth level of one operation: `x-nexuma-auth` when the document has it; otherwise derived
/// from the security requirement (none: public; `nodeKey`: node; `bearerAuth`: admin under
/// `/admin/`, user elsewhere — a guess the document should make unnecessary).
fn level_of(path: &str, op: &Value) -> (Level, bool) {
    match op["x-nexuma-auth"].as_str() {
        Some("public") => return (Level::Public, true),
        Some("user") => return (Level::User, true),
        Some("admin") => return (Level::Admin, true),
        Some("node") => return (Level::Node, true),
        _ => {}
    }
    let schemes = schemes(op);
    let level = if schemes.contains(&"nodeKey") {
        Level::Node
    } else if schemes.contains(&"bearerAuth") {
        if path.starts_with("/admin/") {
            Level::Admin
        } else {
            Level::User
        }
    } else {
        Level::Public
    };
    (level, false)
}

/// The names of the security schemes an operation requires.
fn schemes(op: &Value) -> Vec<&str> {
    op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().map(String::as_str))
        .collect()
}

/// One fixture value for a path parameter or a body field.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The literal segment before the parameter (`tariffs` in `/admin/tariffs/:id`); `None`
    /// matches any. Unused for body fields.
    pub after: Option<&'static str>,
    /// Parameter or field name.
    pub name: &'static str,
    pub value: String,
    /// Whether it names a resource of the fixture user (another user must get 404 for it).
    pub owned: bool,
}

/// Values to call routes with: path parameters and body fields by name, with a random UUID (or
/// a sample string) for anything the tables do not know.
#[derive(Clone, Debug, Default)]
pub struct Fixtures {
    pub params: Vec<Fixture>,
    pub fields: Vec<(&'static str, String)>,
}

impl Fixtures {
    pub fn param(&mut self, after: Option<&'static str>, name: &'static str, value: &str) {
        self.params.push(Fixture {
            after,
            name,
            value: value.to_string(),
            owned: false,
        });
    }

    /// A parameter naming one of the fixture user's own resources.
    pub fn owned_param(&mut self, after: Option<&'static str>, name: &'static str, value: &str) {
        self.params.push(Fixture {
            after,
            name,
            value: value.to_string(),
            owned: true,
        });
    }

    pub fn field(&mut self, name: &'static str, value: &str) {
        self.fields.push((name, value.to_string()));
    }

    fn lookup(&self, after: Option<&str>, name: &str) -> Option<&Fixture> {
        self.params
            .iter()
            .find(|f| f.name == name && f.after.is_some() && f.after == after)
            .or_else(|| {
                self.params
                    .iter()
                    .find(|f| f.name == name && f.after.is_none())
            })
    }

    /// The path with every parameter filled; whether one of them named the fixture user's own
    /// resource. `poison` (a parameter name and a suffix) appends raw text to that parameter.
    pub fn fill(&self, pattern: &str, poison: Option<(&str, &str)>) -> (String, bool) {
        let mut owned = false;
        let mut previous: Option<&str> = None;
        let mut out = Vec::new();
        for segment in pattern.split('/') {
            match segment.strip_prefix(':') {
                Some(name) => {
                    let mut value = match self.lookup(previous, name) {
                        Some(f) => {
                            owned |= f.owned;
                            f.value.clone()
                        }
                        None => uuid::Uuid::new_v4().to_string(),
                    };
                    if let Some((p, suffix)) = poison {
                        if p == name {
                            value.push_str(suffix);
                        }
                    }
                    out.push(value);
                }
                None => {
                    if !segment.is_empty() {
                        previous = Some(segment);
                    }
                    out.push(segment.to_string());
                }
            }
        }
        (out.join("/"), owned)
    }

    fn field_value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The operation's `in: query` parameters and their schemas.
fn declared_query(op: &Value) -> Vec<(String, Value)> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["schema"].clone())))
        .collect()
}

/// Values a query parameter's schema rules out, as they would stand in the URL.
pub fn bad_query_values(schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match schema["type"].as_str() {
        Some("integer") | Some("number") => {
            out.push(("not a number".to_string(), "ten".to_string()));
            out.push((
                "past i64".to_string(),
                "99999999999999999999999".to_string(),
            ));
            if let Some(min) = schema["minimum"].as_i64() {
                out.push((format!("minimum-1 ({})", min - 1), (min - 1).to_string()));
            }
            if let Some(max) = schema["maximum"].as_i64() {
                out.push((format!("maximum+1 ({})", max + 1), (max + 1).to_string()));
            }
        }
        Some("boolean") => out.push(("not a boolean".to_string(), "maybe".to_string())),
        Some("string") if schema["enum"].is_array() => {
            out.push((
                "not one of the enum".to_string(),
                "no-such-choice".to_string(),
            ));
        }
        Some("string") if schema["format"] == "date-time" => {
            out.push(("not a date".to_string(), "yesterday-ish".to_string()));
        }
        _ => {}
    }
    out
}

/// Query parameters a route's summary names: `(query: limit, offset, status)` and `?format=`.
pub fn query_names(summary: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(start) = summary.find("(query:") {
        let rest = &summary[start + "(query:".len()..];
        let list = rest.split(')').next().unwrap_or("");
        names.extend(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())),
        );
    }
    for piece in summary.split('?').skip(1) {
        let name: String = piece
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !name.is_empty() && piece[name.len()..].starts_with('=') && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

// ---------------------------------------------------------------------------------------------
// JSON Schema → bodies

/// The schema that says what a value is: through `allOf` / `anyOf` / `oneOf` (first branch
/// that is not just `null`) when the schema itself has no type.
pub fn resolve(schema: &Value) -> &Value {
    if schema.get("type").is_some()
        || schema.get("properties").is_some()
        || schema.get("enum").is_some()
    {
        return schema;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = schema[key].as_array() {
            if let Some(b) = branches.iter().find(|b| b["type"].as_str() != Some("null")) {
                return resolve(b);
            }
        }
    }
    schema
}

/// The type a value of `schema` has (the first that is not `null`), inferred from `enum` or
/// `properties` when no type is given.
pub fn main_type(schema: &Value) -> Option<&str> {
    let schema = resolve(schema);
    match &schema["type"] {
        Value::String(t) => return Some(t.as_str()),
        Value::Array(types) => {
            if let Some(t) = types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
            {
                return Some(t);
            }
        }
        _ => {}
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return Some(match first {
            Value::String(_) => "string",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            _ => "null",
        });
    }
    schema.get("properties").map(|_| "object")
}

fn prop_schema<'s>(schema: &'s Value, name: &str) -> &'s Value {
    static EMPTY: Value = Value::Null;
    resolve(schema)["properties"].get(name).unwrap_or(&EMPTY)
}

fn items_schema(schema: &Value) -> &Value {
    static EMPTY: Value = Value::Null;
    resolve(schema).get("items").unwrap_or(&EMPTY)
}

fn sample_string(schema: &Value, name: &str, fixtures: &Fixtures) -> String {
    if let Some(v) = fixtures.field_value(name) {
        return v.to_string();
    }
    match schema["format"].as_str() {
        Some("email") => return format!("t{}@example.com", uuid::Uuid::new_v4().simple()),
        Some("uuid") => return uuid::Uuid::new_v4().to_string(),
        Some("uri") => return "http://127.0.0.1:9/".into(),
        _ => {}
    }
    if name.eq_ignore_ascii_case("email") {
        return format!("t{}@example.com", uuid::Uuid::new_v4().simple());
    }
    let min = schema["minLength"].as_u64().unwrap_or(1) as usize;
    let max = schema["maxLength"].as_u64().unwrap_or(64) as usize;
    let mut s = String::from("sample");
    while s.len() < min {
        s.push('x');
    }
    s.truncate(max.max(min));
    s
}

fn sample_integer(schema: &Value) -> i64 {
    let min = schema["minimum"].as_i64();
    let max = schema["maximum"].as_i64();
    match (min, max) {
        (Some(min), _) => min,
        (None, Some(max)) if max < 1 => max,
        _ => 1,
    }
}

/// A plausible minimal value of `schema`: an object's required properties, strings from the
/// fixture table by field name (else by format, else a sample within the length bounds), the
/// first enum value, the minimum (else 1) of a number, `false`, empty arrays (one item when
/// `minItems` asks for it).
pub fn sample(schema: &Value, name: &str, fixtures: &Fixtures) -> Value {
    let resolved = resolve(schema);
    if let Some(first) = resolved["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match main_type(schema) {
        Some("object") => {
            let mut out = Map::new();
            for key in resolved["required"].as_array().into_iter().flatten() {
                if let Some(key) = key.as_str() {
                    out.insert(
                        key.to_string(),
                        sample(prop_schema(schema, key), key, fixtures),
                    );
                }
            }
            Value::Object(out)
        }
        Some("array") => {
            if resolved["minItems"].as_u64().unwrap_or(0) > 0 {
                json!([sample(items_schema(schema), name, fixtures)])
            } else {
                json!([])
            }
        }
        Some("integer") => json!(sample_integer(resolved)),
        Some("number") => json!(sample_integer(resolved) as f64),
        Some("boolean") => json!(false),
        Some("null") => Value::Null,
        // A string, or a property the schema says nothing about.
        _ => json!(sample_string(resolved, name, fixtures)),
    }
}

/// A step into a body: an object's property or an array's first item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Item,
}

/// A string or number field somewhere in a request body.
#[derive(Clone, Debug)]
pub struct Field {
    pub path: Vec<Step>,
    pub kind: &'static str,
    pub schema: Value,
}

impl Field {
    /// `inbounds[].port`
    pub fn label(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Step::Item => out.push_str("[]"),
            }
        }
        out
    }

    fn name(&self) -> &str {
        self.path
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Key(k) => Some(k.as_str()),
                Step::Item => None,
            })
            .unwrap_or("")
    }
}

/// Every string, integer and number field of `schema`, through nested objects and array items.
pub fn fields(schema: &Value) -> Vec<Field> {
    let mut out = Vec::new();
    walk(schema, &mut Vec::new(), &mut out, 0);
    out
}

fn walk(schema: &Value, path: &mut Vec<Step>, out: &mut Vec<Field>, depth: usize) {
    if depth > 6 {
        return;
    }
    match main_type(schema) {
        Some("object") => {
            if let Some(props) = resolve(schema)["properties"].as_object() {
                for (key, prop) in props {
                    path.push(Step::Key(key.clone()));
                    walk(prop, path, out, depth + 1);
                    path.pop();
                }
            }
        }
        Some("array") => {
            path.push(Step::Item);
            walk(items_schema(schema), path, out, depth + 1);
            path.pop();
        }
        Some(kind @ ("string" | "integer" | "number")) if !path.is_empty() => {
            let kind = match kind {
                "string" => "string",
                "integer" => "integer",
                _ => "number",
            };
            out.push(Field {
                path: path.clone(),
                kind,
                schema: resolve(schema).clone(),
            });
        }
        _ => {}
    }
}

/// A body of `schema` (its minimal sample) with `value` at `field`'s place; the objects and
/// array items on the way are made with their own required properties.
pub fn body_with(schema: &Value, field: &Field, value: Value, fixtures: &Fixtures) -> Value {
    let mut root = sample(schema, "", fixtures);
    put(&mut root, schema, &field.path, value, fixtures);
    root
}

fn put(node: &mut Value, schema: &Value, path: &[Step], value: Value, fixtures: &Fixtures) {
    let Some((step, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    match step {
        Step::Key(key) => {
            let child = prop_schema(schema, key);
            if !node.is_object() {
                *node = json!({});
            }
            let slot = node
                .as_object_mut()
                .expect("object")
                .entry(key.clone())
                .or_insert_with(|| sample(child, key, fixtures));
            put(slot, child, rest, value, fixtures);
        }
        Step::Item => {
            let child = items_schema(schema);
            if node.as_array().is_none_or(Vec::is_empty) {
                *node = json!([sample(child, "", fixtures)]);
            }
            put(&mut node[0], child, rest, value, fixtures);
        }
    }
}

/// A string like the field's plausible value with a NUL inside it.
pub fn with_nul(field: &Field, fixtures: &Fixtures) -> Value {
    let plain = sample(&field.schema, field.name(), fixtures);
    let s = plain.as_str().unwrap_or("sample").to_string();
    let at = s.chars().count() / 2;
    let mut out: String = s.chars().take(at).collect();
    out.push('\u{0}');
    out.extend(s.chars().skip(at));
    json!(out)
}

/// Numbers out of range for an integer field: 2^63−1, −2^63, 1e30 and, when the schema has a
/// minimum, one below it. (label, value)
pub fn out_of_range(field: &Field) -> Vec<(String, Value)> {
    let mut out = vec![
        ("2^63-1".to_string(), json!(i64::MAX)),
        ("-2^63".to_string(), json!(i64::MIN)),
        ("1e30".to_string(), json!(1e30)),
    ];
    if let Some(min) = field.schema["minimum"].as_f64() {
        let below = if field.schema["minimum"].is_i64() {
            json!(field.schema["minimum"]
                .as_i64()
                .unwrap_or(0)
                .saturating_sub(1))
        } else {
            json!(min - 1.0)
        };
        out.push((format!("minimum-1 ({below})"), below));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Calling

/// What a request carries to prove who calls.
#[derive(Clone, Debug)]
pub enum Cred {
    None,
    Bearer(String),
    NodeKey(String),
}

/// A reply, or why there was none (a transport error or the deadline).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Option<u16>,
    pub body: Value,
    pub text: String,
    pub error: Option<String>,
}

impl Outcome {
    /// `401`, or `no answer (...)`.
    pub fn show(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => {
                let code = self.body["error"]["code"].as_str().unwrap_or("");
                if code.is_empty() {
                    s.to_string()
                } else {
                    format!("{s} {code}")
                }
            }
            (None, Some(e)) => format!("no answer ({e})"),
            (None, None) => "no answer".into(),
        }
    }

    /// `{"error": {"code": string, "message": string}}`.
    pub fn is_json_error(&self) -> bool {
        self.body["error"]["code"].is_string() && self.body["error"]["message"].is_string()
    }
}

/// A client whose every request has `deadline`.
pub fn client(deadline: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(deadline)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// One request; `path` may hold a query string and raw percent escapes.
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    cred: &Cred,
    body: Option<&Value>,
) -> Outcome {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{base}{path}"));
    match cred {
        Cred::None => {}
        Cred::Bearer(t) => req = req.bearer_auth(t),
        Cred::NodeKey(k) => req = req.header("x-node-auth-key", k),
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("json"));
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(text) => Outcome {
                    status: Some(status),
                    body: serde_json::from_str(&text).unwrap_or(Value::Null),
                    text,
                    error: None,
                },
                Err(e) => Outcome {
                    status: Some(status),
                    body: Value::Null,
                    text: String::new(),
                    error: Some(format!("body: {e}")),
                },
            }
        }
        Err(e) => Outcome {
            status: None,
            body: Value::Null,
            text: String::new(),
            error: Some(if e.is_timeout() {
                "deadline passed".into()
            } else {
                e.to_string()
            }),
        },
    }
}

/// Runs `jobs` with at most `limit` at a time; their results in the order given.
pub async fn bounded<T, F>(limit: usize, jobs: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let permits = Arc::clone(&permits);
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore");
                job.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("job"));
    }
    out
}
