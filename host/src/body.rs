//! Reading a request's body: within a byte limit and a deadline, or the answer to send instead.
//!
//! Not tower-http's `RequestBodyLimitLayer` and `RequestBodyTimeoutLayer`: the first answers a
//! declared length over the limit with a plain-text 413 (ours is JSON and closes the
//! connection), the second times out the wait between frames rather than the whole body.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

use crate::config::Config;
use crate::response::{closing, error, Response};

/// A request body the host reads: hyper's from a connection, or a whole one handed over by the
/// `api` interface for an in-process call.
pub trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static>
    + Send
    + Unpin
    + 'static
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static>
        + Send
        + Unpin
        + 'static
{
}

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
pub async fn read<B: RequestBody>(
    headers: &HeaderMap,
    body: B,
    limits: Limits,
) -> Result<Bytes, Response> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.bytes as u64) {
        return Err(too_large(body, limits.bytes));
    }
    match tokio::time::timeout(limits.deadline, collect(body, limits.bytes)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(Unread::TooLarge(body))) => Err(too_large(body, limits.bytes)),
        Ok(Err(Unread::Broken)) => Err(error(
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

/// Why a body was not read whole.
enum Unread<B> {
    /// It passed the limit; the rest is still on the connection.
    TooLarge(B),
    /// The connection failed mid-body.
    Broken,
}

/// The body's bytes up to `limit`. Frame by frame rather than `http_body_util::Limited`, which
/// drops the body on the limit: a refused body is handed back so the rest can be drained.
async fn collect<B: RequestBody>(mut body: B, limit: usize) -> Result<Bytes, Unread<B>> {
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| Unread::Broken)?.into_data() else {
            continue; // trailers
        };
        if bytes.len() + data.len() > limit {
            return Err(Unread::TooLarge(body));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes.freeze())
}

/// The 413, with the rest of the body drained in the background: closing a connection the
/// client is still writing to resets it, and most clients then report a broken pipe instead of
/// reading the answer already sent (the "lingering close" of nginx and Apache).
fn too_large<B: RequestBody>(body: B, limit: usize) -> Response {
    tokio::spawn(linger(body));
    closing(error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("the request body is larger than {limit} bytes"),
    ))
}

/// At most this much of a refused body is drained, for at most this long: enough for a client
/// to finish writing an upload a few times the limit and read the answer, not enough to let a
/// caller hold a connection open by streaming forever.
const LINGER_BYTES: usize = 64 << 20;
const LINGER_TIME: Duration = Duration::from_secs(5);

/// Reads and discards the rest of a refused body, within `LINGER_BYTES` and `LINGER_TIME`.
async fn linger<B: RequestBody>(mut body: B) {
    let drain = async {
        let mut drained = 0;
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, Bytes::len);
            if drained > LINGER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}
