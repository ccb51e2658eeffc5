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
/// convention, with `limit` and `offset` from [`Request::paging`](crate::Request::paging)). Its
/// schema is what [`Route::page_of`](crate::Route::page_of) declares.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Page<'a, T> {
    /// The page's items, in the list's order.
    pub items: &'a [T],
    /// How many items the whole list holds.
    pub total: i64,
    /// The page size asked for.
    #[schemars(range(min = 1, max = crate::MAX_LIMIT))]
    pub limit: i64,
    /// How many items come before this page.
    #[schemars(range(min = 0))]
    pub offset: i64,
}

/// Answers one page of a list route (see [`Page`]).
pub fn page<T: Serialize>(
    items: &[T],
    total: i64,
    limit: i64,
    offset: i64,
) -> Result<Response, ApiError> {
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
