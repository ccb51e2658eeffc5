//! A builder for route declarations:
//! `Route::get("/me").auth(AuthLevel::User).summary("...").response_schema(json!({...}))`.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;

use crate::{AuthLevel, Route};

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
    /// A public route answering 200, with no summary or schemas yet.
    pub fn new(method: &str, path: &str) -> Self {
        Route {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            auth: AuthLevel::Public,
            summary: String::new(),
            request_schema: None,
            response_schema: None,
            query_schema: None,
            success_status: 200,
        }
    }

    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    pub fn put(path: &str) -> Self {
        Self::new("PUT", path)
    }

    pub fn patch(path: &str) -> Self {
        Self::new("PATCH", path)
    }

    pub fn delete(path: &str) -> Self {
        Self::new("DELETE", path)
    }

    /// Who may call it; the host enforces this before the component runs.
    pub fn auth(mut self, level: AuthLevel) -> Self {
        self.auth = level;
        self
    }

    /// One line for the OpenAPI document.
    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = summary.to_string();
        self
    }

    /// JSON Schema of the request body.
    pub fn request_schema(mut self, schema: serde_json::Value) -> Self {
        self.request_schema = Some(schema.to_string());
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
        self.response_schema = Some(schema.to_string());
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
        self.query_schema = Some(schema.to_string());
        self
    }

    /// Status of the success response (default 200).
    pub fn status(mut self, status: u16) -> Self {
        self.success_status = status;
        self
    }
}
