//! Outbound HTTP(S) through the host (`nexuma:core/http`).
//!
//! ```no_run
//! use nexuma_sdk::{http, ApiError};
//!
//! #[derive(serde::Deserialize)]
//! struct NodeStatus {
//!     running: bool,
//! }
//!
//! fn node_status(key: &str, fingerprint: &str) -> Result<NodeStatus, ApiError> {
//!     http::Request::get("https://10.0.0.5:8443/node/status")
//!         .header("x-node-auth-key", key)
//!         .pin(fingerprint) // SHA-256 of the agent's certificate, `AB:CD:...` or plain hex
//!         .timeout_ms(5_000)
//!         .send()? // transport errors: 502 `upstream_*` / 504 `upstream_timeout`
//!         .error_for_status()?
//!         .json()
//! }
//! ```
//!
//! `send` turns a failure into an [`ApiError`] naming the upstream host; `try_send` keeps the
//! host's [`HttpError`](crate::http::HttpError) for callers that react to the kind (a watchdog telling "unreachable"
//! from "answered 500").

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::bindings::nexuma::core::http::HttpError;
use crate::bindings::nexuma::core::http::{send as host_send, IncomingResponse, OutgoingRequest};
use crate::ApiError;

/// The host's timeout when a request names none.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// An outbound request being built; [`Request::send`] sends it.
#[derive(Debug, Clone)]
pub struct Request {
    inner: OutgoingRequest,
    /// A body that could not be serialised, reported by `send`.
    body_error: Option<String>,
}

impl Request {
    /// A request with any method (upper-cased), no headers, no body and the host's default
    /// timeout.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            inner: OutgoingRequest {
                method: method.to_ascii_uppercase(),
                url: url.to_string(),
                headers: Vec::new(),
                body: Vec::new(),
                timeout_ms: None,
                pin_sha256: None,
            },
            body_error: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: &str) -> Self {
        Self::new("PUT", url)
    }

    /// A `PATCH` request.
    pub fn patch(url: &str) -> Self {
        Self::new("PATCH", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: &str) -> Self {
        Self::new("DELETE", url)
    }

    /// Adds a header (repeated names are all sent).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner
            .headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Accepts the server's certificate iff its SHA-256 (of the DER) is `fingerprint`: hex, with
    /// or without `:` separators, any case. The CA chain and hostname are then not checked.
    pub fn pin(mut self, fingerprint: &str) -> Self {
        self.inner.pin_sha256 = Some(fingerprint.to_string());
        self
    }

    /// [`Request::pin`] when there is a fingerprint; normal certificate checks otherwise.
    pub fn pin_opt(self, fingerprint: Option<&str>) -> Self {
        match fingerprint {
            Some(fp) => self.pin(fp),
            None => self,
        }
    }

    /// Timeout of the whole exchange (the host caps it at 60 s; 10 s when not set).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.inner.timeout_ms = Some(ms);
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = body.into();
        self.set_content_type(content_type);
        self
    }

    /// A JSON body with `content-type: application/json`.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.inner.body = bytes;
                self.set_content_type("application/json");
            }
            Err(e) => self.body_error = Some(e.to_string()),
        }
        self
    }

    fn set_content_type(&mut self, value: &str) {
        self.inner
            .headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.inner
            .headers
            .push(("content-type".into(), value.to_string()));
    }

    /// The host part of the URL, for messages.
    pub fn host(&self) -> &str {
        host_of(&self.inner.url)
    }

    /// Sends the request; a transport failure becomes an [`ApiError`] (see [`Error`]). Any
    /// status the server answers, 4xx and 5xx included, is a `Response`.
    pub fn send(self) -> Result<Response, ApiError> {
        if let Some(e) = &self.body_error {
            return Err(ApiError::internal(format!(
                "cannot serialise a request body: {e}"
            )));
        }
        self.try_send().map_err(ApiError::from)
    }

    /// Sends the request and keeps the host's error kind.
    pub fn try_send(self) -> Result<Response, Error> {
        let host = self.host().to_string();
        let timeout_ms = self.inner.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if let Some(e) = self.body_error {
            return Err(Error {
                host,
                timeout_ms,
                kind: HttpError::InvalidRequest(format!("cannot serialise the body: {e}")),
            });
        }
        match host_send(&self.inner) {
            Ok(IncomingResponse {
                status,
                headers,
                body,
            }) => Ok(Response {
                status,
                headers,
                body,
                host,
            }),
            Err(kind) => Err(Error {
                host,
                timeout_ms,
                kind,
            }),
        }
    }
}

/// `https://user@host:port/path` → `host:port`; empty when `url` has no `scheme://`.
fn host_of(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return "";
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// A failed exchange: which host, and what the host reported.
#[derive(Debug, Clone)]
pub struct Error {
    /// The upstream host (authority without user info), for messages.
    pub host: String,
    /// The timeout the request ran with.
    pub timeout_ms: u32,
    /// What went wrong, as the host reported it.
    pub kind: HttpError,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match &self.kind {
            HttpError::InvalidRequest(m) if host.is_empty() => {
                write!(f, "invalid upstream request: {m}")
            }
            HttpError::InvalidRequest(m) => write!(f, "invalid request to {host}: {m}"),
            HttpError::Timeout => write!(
                f,
                "upstream {host} did not answer within {} ms",
                self.timeout_ms
            ),
            HttpError::Connect(m) => write!(f, "upstream {host} is unreachable: {m}"),
            HttpError::Tls(m) => write!(f, "TLS with upstream {host} failed: {m}"),
            HttpError::PinMismatch(m) => {
                write!(f, "upstream {host} failed the certificate pin check: {m}")
            }
            HttpError::TooLarge => write!(f, "upstream {host} sent a response body over 8 MiB"),
            HttpError::Other(m) => write!(f, "request to upstream {host} failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// An invalid request is 400 `invalid_upstream_request`; a timeout is 504 `upstream_timeout`; a
/// certificate that fails its pin is 502 `upstream_pin_mismatch`; anything else is 502
/// `upstream_error`. The message names the host and the cause.
impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let (status, code) = match err.kind {
            HttpError::InvalidRequest(_) => (400, "invalid_upstream_request"),
            HttpError::Timeout => (504, "upstream_timeout"),
            HttpError::PinMismatch(_) => (502, "upstream_pin_mismatch"),
            _ => (502, "upstream_error"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status the server answered with.
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as it came, at most 8 MiB.
    pub body: Vec<u8>,
    /// The host the request went to, for messages.
    pub host: String,
}

impl Response {
    /// A header value (names matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses the body as JSON; a malformed body is 502 `upstream_error`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::new(
                502,
                "upstream_error",
                format!("upstream {} sent an unexpected body: {e}", self.host),
            )
        })
    }

    /// The response itself when 2xx; otherwise 502 `upstream_error` naming the host and status.
    pub fn error_for_status(self) -> Result<Self, ApiError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(ApiError::new(
                502,
                "upstream_error",
                format!("upstream {} answered {}", self.host, self.status),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_scheme_credentials_and_path() {
        assert_eq!(
            host_of("https://u:p@10.0.0.5:8443/node?x#y"),
            "10.0.0.5:8443"
        );
        assert_eq!(host_of("http://example.com"), "example.com");
        assert_eq!(host_of("file:///etc/passwd"), "");
        assert_eq!(host_of("no url at all"), "");
    }
}
