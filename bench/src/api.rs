//! Set-up calls to the Core under test that must answer a given status.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::child::Core;
use crate::load;

/// A generous bound for one call: the Core cuts a component at 10 s itself.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A JSON call that must answer `expected`; its body.
pub async fn call(
    core: &Core,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
    expected: u16,
) -> anyhow::Result<Value> {
    let (status, bytes) = load::once(
        &core.target(path, bearer),
        method.clone(),
        body,
        CALL_TIMEOUT,
    )
    .await
    .with_context(|| format!("{method} {path}"))?;
    if status.as_u16() != expected {
        bail!(
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: the body is not JSON"))
}

/// A GET that must answer 200; its body as sent.
pub async fn raw(core: &Core, path: &str, bearer: Option<&str>) -> anyhow::Result<Bytes> {
    let (status, bytes) = load::once(&core.target(path, bearer), Method::GET, None, CALL_TIMEOUT)
        .await
        .with_context(|| format!("GET {path}"))?;
    if status.as_u16() != 200 {
        bail!(
            "GET {path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(bytes)
}
