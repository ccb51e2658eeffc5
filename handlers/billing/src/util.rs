//! Small helpers: counting rows and "present, maybe null" JSON fields.

use nexuma_sdk::db::{Executor, Value};
use nexuma_sdk::ApiError;
use serde::{Deserialize, Deserializer};

/// `SELECT CAST(COUNT(*) AS BIGINT) AS total ...` → the number.
pub fn count(db: &impl Executor, sql: &str, params: &[Value]) -> Result<i64, ApiError> {
    db.query(sql, params)?
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
