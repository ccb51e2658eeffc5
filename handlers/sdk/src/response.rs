//! Response builders. They return `Result` so a handler can end with one of them directly.

use serde::Serialize;

use crate::{ApiError, Response};

/// A JSON response with `content-type: application/json`.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(body).map_err(ApiError::internal)?;
    Ok(Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    })
}

/// One page of a list route: `{"items": [...], "total", "limit", "offset"}` (the API's paging
/// convention, with `limit` and `offset` from [`Request::paging`](crate::Request::paging)).
pub fn page<T: Serialize>(
    items: &[T],
    total: i64,
    limit: i64,
    offset: i64,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Page<'a, T> {
        items: &'a [T],
        total: i64,
        limit: i64,
        offset: i64,
    }
    json(
        200,
        &Page {
            items,
            total,
            limit,
            offset,
        },
    )
}

/// 204 with no body.
pub fn no_content() -> Result<Response, ApiError> {
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    })
}

/// A text (or any non-JSON) response with the given content type.
pub fn text(
    status: u16,
    content_type: &str,
    body: impl Into<String>,
) -> Result<Response, ApiError> {
    Ok(Response {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: body.into().into_bytes(),
    })
}

impl Response {
    /// Adds a header, e.g. `response::json(200, &x)?.with_header("cache-control", "no-store")`.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}
