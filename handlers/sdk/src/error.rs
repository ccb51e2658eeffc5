//! `ApiError`: the one error type handlers return.

use std::fmt;

use crate::bindings::nexuma::core::db::{DbError, ErrorKind};
use crate::bindings::nexuma::core::kv::KvError;
use crate::{log, Response};

/// An error answer: HTTP status, a stable machine-readable `code` and a human-readable `message`.
///
/// It serialises as `{"error": {"code": "...", "message": "..."}}` (plus `"field"` for validation
/// errors), the API's one error shape. Constructors for the common statuses keep call sites short;
/// server-side failures log their real cause and show the client only a generic message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: u16,
    /// A stable machine-readable code, e.g. `validation_error`.
    pub code: String,
    /// What went wrong, for a person reading it.
    pub message: String,
    /// The request field a validation error is about, when there is one.
    pub field: Option<String>,
    /// Extra response headers, e.g. `retry-after`.
    pub headers: Vec<(String, String)>,
}

const GENERIC_INTERNAL: &str = "internal server error";

impl ApiError {
    /// An error with any status, code and message.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    /// 400 with a specific code, for malformed requests that are not about one field.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 400 `validation_error` about one request field; the message names the field.
    pub fn validation(field: impl Into<String>, message: impl fmt::Display) -> Self {
        let field = field.into();
        let mut err = Self::new(400, "validation_error", format!("{field}: {message}"));
        err.field = Some(field);
        err
    }

    /// 401: no valid credentials came with the request.
    pub fn unauthorized(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(401, code, message)
    }

    /// 403: the caller is known but may not do this.
    pub fn forbidden(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }

    /// 404: no such thing, or not the caller's to see.
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// 409: the request clashes with the current state (a duplicate, a state that forbids it).
    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// 429 with a `retry-after` header (whole seconds, at least 1).
    pub fn too_many_requests(
        code: impl Into<String>,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        Self::new(429, code, message)
            .with_header("retry-after", retry_after_secs.max(1).to_string())
    }

    /// 503: a dependency the host owns (database, key-value store, ...) is unavailable.
    pub fn unavailable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(503, code, message)
    }

    /// 500 `internal_error`. `detail` goes to the host log only; the client sees a generic message.
    pub fn internal(detail: impl fmt::Display) -> Self {
        log::error("internal error", &[("detail", &detail.to_string())]);
        Self::new(500, "internal_error", GENERIC_INTERNAL)
    }

    /// Adds a header to the error answer, e.g. `retry-after`.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The response the client receives.
    pub fn into_response(self) -> Response {
        let mut error = serde_json::Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        if let Some(field) = self.field {
            error.insert("field".into(), field.into());
        }
        let body = serde_json::json!({ "error": error });
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(self.headers);
        Response {
            status: self.status,
            headers,
            body: body.to_string().into_bytes(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Unique violations are the client's doing (409); an unreachable database is 503; anything else is
/// a bug or an outage the client cannot fix, so it is logged and answered with a generic 500.
impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err.kind {
            ErrorKind::UniqueViolation => ApiError::conflict(
                "conflict",
                "a record with the same unique value already exists",
            ),
            ErrorKind::Unavailable => {
                log::error("database unavailable", &[("detail", &err.message)]);
                ApiError::unavailable("database_unavailable", "the database is unavailable")
            }
            kind => {
                log::error(
                    "database error",
                    &[("kind", &format!("{kind:?}")), ("detail", &err.message)],
                );
                ApiError::new(500, "internal_error", GENERIC_INTERNAL)
            }
        }
    }
}

impl From<KvError> for ApiError {
    fn from(err: KvError) -> Self {
        log::error("key-value store error", &[("detail", &err.message)]);
        ApiError::unavailable("kv_unavailable", "the key-value store is unavailable")
    }
}
