//! A builder for route declarations:
//! `Route::get("/me").auth(AuthLevel::User).summary("...").response_schema(json!({...}))`.

use crate::{AuthLevel, Route};

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
