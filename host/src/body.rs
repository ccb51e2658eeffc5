//! Reading a request's body: within a byte limit and a deadline, or the answer to send instead.
//!
//! Not tower-http's `RequestBodyLimitLayer` and `RequestBodyTimeoutLayer`: the first answers a
//! declared length over the limit with a plain-text 413 (ours is JSON and closes the
//! connection), the second times out the wait between frames rather than the whole body.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::config::Config;
use crate::response::{closing, error, Response};

/// How much of a body the host reads, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub bytes: usize,
    pub deadline: Duration,
}

impl Limits {
    /// A request's body: `BODY_LIMIT_BYTES` within `BODY_READ_TIMEOUT_MS`.
    pub fn request(config: &Config) -> Self {
        Limits {
            bytes: config.body_limit,
            deadline: config.body_read_timeout,
        }
    }

    /// A component upload's body: `COMPONENT_UPLOAD_LIMIT_BYTES`, in the same time.
    pub fn upload(config: &Config) -> Self {
        Limits {
            bytes: config.component_upload_limit,
            ..Limits::request(config)
        }
    }
}

/// The request body, read within `limits`; the answer to send instead (413, 408, 400) when it
/// cannot be. A declared `Content-Length` over the limit is refused before anything is read.
pub async fn read(headers: &HeaderMap, body: Incoming, limits: Limits) -> Result<Bytes, Response> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.bytes as u64) {
        return Err(too_large(limits.bytes));
    }
    let read = tokio::time::timeout(limits.deadline, Limited::new(body, limits.bytes).collect());
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limits.bytes)),
        Ok(Err(_)) => Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request body could not be read",
        )),
        Err(_) => Err(closing(error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            &format!(
                "the request body did not arrive within {} s",
                limits.deadline.as_secs()
            ),
        ))),
    }
}

fn too_large(limit: usize) -> Response {
    closing(error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("the request body is larger than {limit} bytes"),
    ))
}
