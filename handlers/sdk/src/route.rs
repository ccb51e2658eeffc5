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

    /// The query parameters the route reads, derived from the type that describes them: one
    /// parameter per field (serde's names, defaults and `Option`s; schemars' bounds).
    pub fn query_type<T: schemars::JsonSchema>(mut self) -> Self {
        self.query_schema = Some(schema_of::<T>().to_string());
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
        self.success_status = status;
        self
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

    #[test]
    fn a_paged_list_declares_its_query_and_its_page() {
        let route = Route::get("/items").page_of::<Item>();
        let query = parsed(&route.query_schema);
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
        let page = parsed(&route.response_schema);
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
}
