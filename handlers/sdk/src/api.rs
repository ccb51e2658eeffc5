//! The Core's own HTTP API, called in-process (`nexuma:core/api`, contract 0.1.3): a page
//! component reads and changes what other components own through their routes, with the
//! caller's credentials, so every rule and every validation message stays with the route.
//!
//! ```no_run
//! use nexuma_sdk::{api, ApiError};
//!
//! fn tariff_names(token: &str) -> Result<Vec<String>, ApiError> {
//!     let answer = api::Request::get("/admin/tariffs").bearer(token).send()?;
//!     let page: serde_json::Value = answer.ok()?.json()?;
//!     Ok(page["items"]
//!         .as_array()
//!         .into_iter()
//!         .flatten()
//!         .filter_map(|t| t["name"].as_str().map(String::from))
//!         .collect())
//! }
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::nexuma::core::api::{call, ApiError as HostError, ApiRequest, ApiResponse};
use crate::ApiError;

/// An in-process request being built; [`Request::send`] sends it.
#[derive(Debug, Clone)]
pub struct Request {
    inner: ApiRequest,
}

impl Request {
    /// A request with any method to `target` (a path, with its query), no headers, no body.
    pub fn new(method: &str, target: impl Into<String>) -> Self {
        Request {
            inner: ApiRequest {
                method: method.to_ascii_uppercase(),
                target: target.into(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        }
    }

    /// A `GET` request.
    pub fn get(target: impl Into<String>) -> Self {
        Self::new("GET", target)
    }

    /// A `POST` request.
    pub fn post(target: impl Into<String>) -> Self {
        Self::new("POST", target)
    }

    /// A `PATCH` request.
    pub fn patch(target: impl Into<String>) -> Self {
        Self::new("PATCH", target)
    }

    /// A `PUT` request.
    pub fn put(target: impl Into<String>) -> Self {
        Self::new("PUT", target)
    }

    /// A `DELETE` request.
    pub fn delete(target: impl Into<String>) -> Self {
        Self::new("DELETE", target)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <token>`: the request acts as that token's account.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self, ApiError> {
        self.inner.body = serde_json::to_vec(body)
            .map_err(|e| ApiError::internal(format!("cannot serialise a request body: {e}")))?;
        Ok(self.header("content-type", "application/json"))
    }

    /// A raw body with its content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = body.into();
        self.header("content-type", content_type)
    }

    /// Sends the request. Any status the route answers is an [`Answer`]; a request the host
    /// could not send is a 500 (a bug in the caller), calls nested too deep a 508, the calling
    /// request's deadline a 503.
    pub fn send(self) -> Result<Answer, ApiError> {
        match call(&self.inner) {
            Ok(ApiResponse {
                status,
                headers,
                body,
            }) => Ok(Answer {
                status,
                headers,
                body,
            }),
            Err(HostError::InvalidRequest(why)) => Err(ApiError::internal(format!(
                "an in-process request to {} was refused: {why}",
                self.inner.target
            ))),
            Err(HostError::TooDeep) => Err(ApiError::new(
                508,
                "loop_detected",
                "in-process calls nested too deeply",
            )),
            Err(HostError::Timeout) => Err(ApiError::new(
                503,
                "deadline_exceeded",
                "the request ran out of time waiting for an in-process call",
            )),
        }
    }
}

/// A route's answer to an in-process request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, whole.
    pub body: Vec<u8>,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The answer when it is a success, else the route's own error (status, code, message and
    /// field from its `{"error": ...}` body) as an [`ApiError`].
    pub fn ok(self) -> Result<Self, ApiError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.error())
        }
    }

    /// The route's error as an [`ApiError`]: its status, code, message and field when the body
    /// is the API's error shape, else the status with the body's text.
    pub fn error(&self) -> ApiError {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        let error = parsed.as_ref().map(|v| &v["error"]);
        let text = |key: &str| error.and_then(|e| e[key].as_str()).map(String::from);
        let mut err = ApiError::new(
            self.status,
            text("code").unwrap_or_else(|| format!("status_{}", self.status)),
            text("message").unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned()),
        );
        err.field = text("field");
        err
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::internal(format!(
                "an in-process answer is not the JSON expected: {e}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_routes_error_keeps_its_status_code_message_and_field() {
        let err = answer(
            400,
            r#"{"error":{"code":"validation_error","message":"name: is empty","field":"name"}}"#,
        )
        .ok()
        .expect_err("a 400 is an error");
        assert_eq!(err.status, 400);
        assert_eq!(err.code, "validation_error");
        assert_eq!(err.message, "name: is empty");
        assert_eq!(err.field.as_deref(), Some("name"));
    }

    #[test]
    fn an_answer_that_is_not_the_error_shape_keeps_its_text() {
        let err = answer(502, "bad gateway").error();
        assert_eq!((err.status, err.code.as_str()), (502, "status_502"));
        assert_eq!(err.message, "bad gateway");
        assert!(answer(204, "").ok().is_ok());
    }
}
