//! A route's doc, built from the bare route an [`Endpoint`](crate::Endpoint) gives:
//! `route.id_param("user").response_type::<Profile>().error(404, "No such user")`.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::bindings::nexuma::core::types::{self as wit, RouteDoc};
use crate::AuthLevel;

/// The key of the success answer's doc until the route doc is made.
const SUCCESS: &str = "success";

/// One route a component serves, and what the API document says about it: the route record
/// the host routes by, and the rest of its OpenAPI operation (path parameter formats, other
/// media types, response headers, error statuses), exported as its route doc.
#[derive(Clone, Debug)]
pub struct Route {
    record: wit::Route,
    description: Option<String>,
    parameters: Vec<Value>,
    /// `required` and `content` beside the JSON body the record declares.
    request_body: Map<String, Value>,
    /// Per status (`SUCCESS` for the success status, whatever it is set to later):
    /// `description`, `headers`, `content`.
    responses: BTreeMap<String, Map<String, Value>>,
}

/// The JSON Schema (draft 2020-12, what OpenAPI 3.1 takes) of `T` as a body the handler parses
/// (serde's deserialising rules: a defaulted or optional field is not required).
pub fn schema_of<T: JsonSchema>() -> serde_json::Value {
    inline_schema::<T>(SchemaSettings::draft2020_12().for_deserialize())
}

/// The JSON Schema of `T` as an answer serialised from it (an `Option` field is always there,
/// maybe `null`, so it is required).
pub fn answer_schema_of<T: JsonSchema>() -> serde_json::Value {
    inline_schema::<T>(SchemaSettings::draft2020_12().for_serialize())
}

/// The schema of `T` as a query (see [`Route::query_type`]): a query string cannot carry `null`,
/// so an `Option` field is a parameter that may be absent — of its value's type, with no `null`
/// type, enum value, `anyOf` branch or default.
pub fn query_schema_of<T: JsonSchema>() -> serde_json::Value {
    let mut schema = schema_of::<T>();
    if let Some(properties) = schema["properties"].as_object_mut() {
        properties.values_mut().for_each(not_null);
    }
    schema
}

fn not_null(property: &mut serde_json::Value) {
    let Some(object) = property.as_object_mut() else {
        return;
    };
    // An `Option` of a schema without a plain type: `anyOf: [the value's schema, null]`.
    let is_null = |s: &serde_json::Value| s.get("type").is_some_and(|t| t == "null");
    if let Some(serde_json::Value::Array(choices)) = object.get("anyOf") {
        if let [value, null] = choices.as_slice() {
            if is_null(null) && value.is_object() {
                let value = value.as_object().cloned().unwrap_or_default();
                object.remove("anyOf");
                for (key, item) in value {
                    object.entry(key).or_insert(item);
                }
            }
        }
    }
    if object
        .get("default")
        .is_some_and(serde_json::Value::is_null)
    {
        object.remove("default");
    }
    if let Some(values) = object.get_mut("enum").and_then(|e| e.as_array_mut()) {
        values.retain(|v| !v.is_null());
    }
    if let Some(types) = object.get_mut("type").and_then(|t| t.as_array_mut()) {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".into(), only);
        }
    }
}

/// With every subschema inline: the host places it inside its OpenAPI document, where a `$defs`
/// reference would not resolve.
fn inline_schema<T: JsonSchema>(mut settings: SchemaSettings) -> serde_json::Value {
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    // The Rust type's name says nothing to a client.
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
    }
    schema
}

impl Route {
    /// A public route answering 200, with no summary or schemas yet (a table's
    /// [`Endpoint`](crate::Endpoint) starts each route's doc from one).
    pub fn new(method: &str, path: &str) -> Self {
        Route {
            record: wit::Route {
                method: method.to_ascii_uppercase(),
                path: path.to_string(),
                auth: AuthLevel::Public,
                summary: String::new(),
                request_schema: None,
                response_schema: None,
                query_schema: None,
                success_status: 200,
            },
            description: None,
            parameters: Vec::new(),
            request_body: Map::new(),
            responses: BTreeMap::new(),
        }
    }

    /// The route record the host routes by.
    pub fn record(&self) -> &wit::Route {
        &self.record
    }

    /// The record, for the `routes` export.
    pub(crate) fn into_record(self) -> wit::Route {
        self.record
    }

    /// The route doc the `route-docs` export carries (a component's tests read it too): none
    /// when the record says it all.
    pub fn route_doc(&self) -> Option<RouteDoc> {
        let mut operation = Map::new();
        if let Some(description) = &self.description {
            operation.insert("description".into(), json!(description));
        }
        if !self.request_body.is_empty() {
            operation.insert(
                "requestBody".into(),
                Value::Object(self.request_body.clone()),
            );
        }
        if !self.parameters.is_empty() {
            operation.insert("parameters".into(), json!(self.parameters));
        }
        if !self.responses.is_empty() {
            let status = self.record.success_status.to_string();
            let responses: Map<String, Value> = self
                .responses
                .iter()
                .map(|(key, answer)| {
                    let key = if key == SUCCESS { &status } else { key };
                    (key.clone(), Value::Object(answer.clone()))
                })
                .collect();
            operation.insert("responses".into(), Value::Object(responses));
        }
        (!operation.is_empty()).then(|| RouteDoc {
            method: self.record.method.clone(),
            path: self.record.path.clone(),
            operation: Value::Object(operation).to_string(),
        })
    }

    /// Who may call it: the table's column, set before the doc applies.
    pub(crate) fn auth(mut self, level: AuthLevel) -> Self {
        self.record.auth = level;
        self
    }

    /// One line for the OpenAPI document: the table's column, set before the doc applies.
    pub(crate) fn summary(mut self, summary: &str) -> Self {
        self.record.summary = summary.to_string();
        self
    }

    /// JSON Schema of the request body.
    pub fn request_schema(mut self, schema: serde_json::Value) -> Self {
        self.record.request_schema = Some(schema.to_string());
        self
    }

    /// JSON Schema of the request body, derived from the type the handler parses it into (so
    /// the document says what the code takes: required fields, `null`s, unknown fields).
    pub fn request_type<T: schemars::JsonSchema>(self) -> Self {
        self.request_schema(schema_of::<T>())
    }

    /// JSON Schema of the success response body, derived from the type it is serialised from.
    pub fn response_type<T: schemars::JsonSchema>(self) -> Self {
        self.response_schema(answer_schema_of::<T>())
    }

    /// JSON Schema of the success response body.
    pub fn response_schema(mut self, schema: serde_json::Value) -> Self {
        self.record.response_schema = Some(schema.to_string());
        self
    }

    /// The query parameters the route reads: `params` maps each name to its JSON Schema (a
    /// `description` in it reaches the OpenAPI document); `required` names the ones it cannot do
    /// without.
    pub fn query(mut self, params: serde_json::Value, required: &[&str]) -> Self {
        let schema = serde_json::json!({
            "type": "object",
            "properties": params,
            "required": required,
        });
        self.record.query_schema = Some(schema.to_string());
        self
    }

    /// The query parameters the route reads, derived from the type that describes them: one
    /// parameter per field (serde's names, defaults and `Option`s; schemars' bounds).
    pub fn query_type<T: schemars::JsonSchema>(mut self) -> Self {
        self.record.query_schema = Some(query_schema_of::<T>().to_string());
        self
    }

    /// A paged list of `T` (`{"items", "total", "limit", "offset"}`, [`response::page`]) taking
    /// the paging query ([`Paging`]); a route with filters of its own declares its query type
    /// after this.
    ///
    /// [`response::page`]: crate::response::page
    /// [`Paging`]: crate::Paging
    pub fn page_of<T: schemars::JsonSchema + 'static>(self) -> Self {
        self.response_type::<crate::response::Page<'static, T>>()
            .query_type::<crate::Paging>()
    }

    /// Status of the success response (default 200).
    pub fn status(mut self, status: u16) -> Self {
        self.record.success_status = status;
        self
    }

    /// A longer description than the summary, for the document.
    pub fn describe(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }

    /// The schema of the `:name` path segment, derived from the type the handler reads it as
    /// (`uuid::Uuid` gives `format: uuid`).
    pub fn param<T: JsonSchema>(mut self, name: &str, description: &str) -> Self {
        let param = json!({
            "name": name,
            "in": "path",
            "required": true,
            "description": description,
            "schema": schema_of::<T>(),
        });
        self.parameters.push(param);
        self
    }

    /// The `:id` segment as the id of a `what` (a UUID, as every id the Core makes).
    pub fn id_param(self, what: &str) -> Self {
        self.param::<crate::id::Uuid>("id", &format!("The {what}'s id"))
    }

    /// A request header the route reads, e.g. `Idempotency-Key`.
    pub fn request_header<T: JsonSchema>(mut self, name: &str, description: &str) -> Self {
        let param = json!({
            "name": name,
            "in": "header",
            "required": false,
            "description": description,
            "schema": schema_of::<T>(),
        });
        self.parameters.push(param);
        self
    }

    /// A header every success answer carries, e.g. `ETag` or `subscription-userinfo`; its
    /// schema from the type its value is written from (a newtype can carry a pattern).
    pub fn header<T: JsonSchema>(self, name: &str, description: &str) -> Self {
        self.answer_header::<T>(name, description, true)
    }

    /// A header some success answers carry (when a setting is made, say).
    pub fn optional_header<T: JsonSchema>(self, name: &str, description: &str) -> Self {
        self.answer_header::<T>(name, description, false)
    }

    fn answer_header<T: JsonSchema>(mut self, name: &str, description: &str, always: bool) -> Self {
        let header =
            json!({ "description": description, "required": always, "schema": schema_of::<T>() });
        self.answer(SUCCESS)
            .entry("headers")
            .or_insert_with(|| json!({}))[name] = header;
        self
    }

    /// A body in another media type than JSON, e.g. an HTML form's
    /// `application/x-www-form-urlencoded`; `schema` describes its fields.
    pub fn request_media(mut self, content_type: &str, schema: Value) -> Self {
        self.request_body
            .entry("content")
            .or_insert_with(|| json!({}))[content_type] = json!({ "schema": schema });
        self.request_body.insert("required".into(), json!(true));
        self
    }

    /// The body may be left out (the route then takes its defaults).
    pub fn optional_body(mut self) -> Self {
        self.request_body.insert("required".into(), json!(false));
        self
    }

    /// Another media type the success answer comes in (the JSON one is the response schema),
    /// e.g. `text/plain` for a subscription's links; `schema` is its body's JSON Schema.
    pub fn media(mut self, content_type: &str, schema: Value) -> Self {
        self.answer(SUCCESS)
            .entry("content")
            .or_insert_with(|| json!({}))[content_type] = json!({ "schema": schema });
        self
    }

    /// An error status the route answers, and when (the body is the API's error object).
    pub fn error(self, status: u16, when: &str) -> Self {
        let error = json!({ "$ref": "#/components/schemas/Error" });
        self.other_answer(status, when, "application/json", error)
    }

    /// The 429 of a throttled route, with the `Retry-After` it carries (seconds to wait).
    pub fn throttled(self, when: &str) -> Self {
        let mut route = self.error(429, when);
        let header = json!({ "description": "Seconds to wait before trying again", "required": true, "schema": schema_of::<u32>() });
        route
            .answer("429")
            .entry("headers")
            .or_insert_with(|| json!({}))["Retry-After"] = header;
        route
    }

    /// Another status the route answers, and when, with its body's media type and schema
    /// (e.g. a form page shown again with a 401).
    pub fn other_answer(
        mut self,
        status: u16,
        when: &str,
        content_type: &str,
        schema: Value,
    ) -> Self {
        let answer = self.answer(&status.to_string());
        answer.insert("description".into(), json!(when));
        answer.entry("content").or_insert_with(|| json!({}))[content_type] =
            json!({ "schema": schema });
        self
    }

    /// Another status the route answers with no body, only a `Location` to go to (a page's
    /// redirect, e.g. to a sign-in form).
    pub fn redirect_answer(mut self, status: u16, when: &str) -> Self {
        let location = json!({ "description": "Where to go", "required": true, "schema": schema_of::<String>() });
        let answer = self.answer(&status.to_string());
        answer.insert("description".into(), json!(when));
        answer.entry("headers").or_insert_with(|| json!({}))["location"] = location;
        self
    }

    /// The doc's answer for one status, created with a description.
    fn answer(&mut self, status: &str) -> &mut Map<String, Value> {
        self.responses.entry(status.to_string()).or_insert_with(|| {
            let mut answer = Map::new();
            answer.insert("description".into(), json!("Success"));
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    fn parsed(text: &Option<String>) -> Value {
        serde_json::from_str(text.as_deref().expect("declared")).expect("JSON")
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Filter {
        /// Only this one.
        name: Option<String>,
        #[serde(default)]
        #[schemars(with = "String")]
        tag: Option<String>,
        #[serde(default)]
        count: Option<i64>,
        kind: Option<Kind>,
        /// A time or a date.
        at: Option<Either>,
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    enum Kind {
        A,
        B,
    }

    struct Either;

    impl schemars::JsonSchema for Either {
        fn schema_name() -> std::borrow::Cow<'static, str> {
            "Either".into()
        }

        fn inline_schema() -> bool {
            true
        }

        fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
            schemars::json_schema!({
                "type": "string",
                "anyOf": [{ "format": "date-time" }, { "format": "date" }],
            })
        }
    }

    #[test]
    fn an_optional_query_parameter_is_absent_not_null() {
        let route = Route::new("GET", "/items").query_type::<Filter>();
        let query = parsed(&route.record().query_schema);
        assert_eq!(query["properties"]["name"]["type"], "string");
        assert_eq!(query["properties"]["name"]["description"], "Only this one.");
        assert_eq!(query["properties"]["tag"], json!({ "type": "string" }));
        assert_eq!(query["properties"]["count"]["type"], "integer");
        let kind = json!({ "type": "string", "enum": ["A", "B"] });
        assert_eq!(query["properties"]["kind"], kind);
        let at = json!({
            "type": "string",
            "anyOf": [{ "format": "date-time" }, { "format": "date" }],
            "description": "A time or a date.",
        });
        assert_eq!(query["properties"]["at"], at);
        assert!(query["required"].as_array().is_none_or(Vec::is_empty));
    }

    #[test]
    fn a_paged_list_declares_its_query_and_its_page() {
        let route = Route::new("GET", "/items").page_of::<Item>();
        let query = parsed(&route.record().query_schema);
        assert_eq!(
            query["properties"]["limit"]["maximum"],
            json!(crate::MAX_LIMIT)
        );
        assert_eq!(
            query["properties"]["limit"]["default"],
            json!(crate::DEFAULT_LIMIT)
        );
        assert_eq!(query["properties"]["offset"]["minimum"], json!(0));
        assert!(query["required"].as_array().is_none_or(Vec::is_empty));
        let page = parsed(&route.record().response_schema);
        assert_eq!(page["properties"]["items"]["type"], "array");
        assert_eq!(
            page["properties"]["items"]["items"]["properties"]["name"]["type"],
            "string"
        );
        let required = page["required"].as_array().expect("required");
        for field in ["items", "total", "limit", "offset"] {
            assert!(
                required.contains(&json!(field)),
                "{field} is always answered"
            );
        }
    }

    #[test]
    fn a_route_doc_carries_what_the_record_cannot_say() {
        assert!(
            Route::new("GET", "/plain").route_doc().is_none(),
            "nothing to add"
        );
        let by_id = Route::new("GET", "/users/:id")
            .id_param("user")
            .route_doc()
            .expect("a doc");
        let by_id: Value = serde_json::from_str(&by_id.operation).expect("JSON");
        assert_eq!(by_id["parameters"][0]["name"], "id");
        assert_eq!(by_id["parameters"][0]["schema"]["format"], "uuid");
        assert_eq!(by_id["parameters"][0]["description"], "The user's id");
        let route = Route::new("GET", "/sub/:uuid")
            .param::<uuid::Uuid>("uuid", "The link's UUID")
            .header::<String>("ETag", "The answer's version")
            .media("text/plain", json!({ "type": "string" }))
            .error(404, "No such link")
            .status(203);
        let doc = route.route_doc().expect("a doc");
        assert_eq!(
            (doc.method.as_str(), doc.path.as_str()),
            ("GET", "/sub/:uuid")
        );
        let op: Value = serde_json::from_str(&doc.operation).expect("JSON");
        assert_eq!(op["parameters"][0]["in"], "path");
        assert_eq!(op["parameters"][0]["schema"]["format"], "uuid");
        // The success answer's doc follows the status set after it.
        assert_eq!(
            op["responses"]["203"]["headers"]["ETag"]["schema"]["type"],
            "string"
        );
        assert_eq!(
            op["responses"]["203"]["content"]["text/plain"]["schema"]["type"],
            "string"
        );
        assert_eq!(
            op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
    }
}
