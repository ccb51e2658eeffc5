//! Small helpers: paging parameters and "present, maybe null" JSON fields.

use nexuma_sdk::db::{self, Value};
use nexuma_sdk::{ApiError, Request};
use serde::{Deserialize, Deserializer};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A query-string integer in `min..=max`; empty or absent gives `default`.
pub fn int_param(
    req: &Request,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match req.query(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                let range = if max == i64::MAX {
                    format!("must be an integer of at least {min}")
                } else {
                    format!("must be an integer from {min} to {max}")
                };
                ApiError::validation(name, range)
            }),
    }
}

/// `limit` and `offset` of a paged list.
pub fn paging(req: &Request) -> Result<(i64, i64), ApiError> {
    Ok((
        int_param(req, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?,
        int_param(req, "offset", 0, 0, i64::MAX)?,
    ))
}

/// `SELECT CAST(COUNT(*) AS BIGINT) AS total ...` → the number.
pub fn count(sql: &str, params: &[Value]) -> Result<i64, ApiError> {
    db::query(sql, params)?
        .first()
        .map(|row| row.i64("total"))
        .transpose()
        .map(|n| n.unwrap_or(0))
}

/// For `Option<Option<T>>` fields: absent → `None` (with `#[serde(default)]`), `null` →
/// `Some(None)`, a value → `Some(Some(v))`.
pub fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Parses a JSON TEXT column back into JSON (absent or broken → null).
pub fn json_text(raw: Option<&str>) -> serde_json::Value {
    raw.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(serde_json::Value::Null)
}
