//! The console's calls of the Core's API, in-process, as the admin using it.

use nexuma_sdk::{api, ApiError};
use serde_json::Value;

use crate::session::Admin;

/// `GET target` as the admin: the JSON answer, or the route's own error.
pub fn get(admin: &Admin, target: &str) -> Result<Value, ApiError> {
    api::Request::get(target)
        .bearer(&admin.token)
        .send()?
        .ok()?
        .json()
}

/// `method target` with a JSON body as the admin: the JSON answer (null for an empty one), or
/// the route's own error — a validation error keeps the field it is about.
pub fn send(
    admin: &Admin,
    method: &str,
    target: &str,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let request = api::Request::new(method, target).bearer(&admin.token);
    let request = match body {
        Some(body) => request.json(body)?,
        None => request,
    };
    let answer = request.send()?.ok()?;
    if answer.body.is_empty() {
        return Ok(Value::Null);
    }
    answer.json()
}

/// A path segment or query value as it goes into a target (`encodeURIComponent`).
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
