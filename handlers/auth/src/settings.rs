//! Operator settings stored in the `settings` table (values are JSON text).

use nexuma_sdk::db::Executor;
use nexuma_sdk::{log, ApiError};

pub const REQUIRE_APPROVAL: &str = "registration.requireApproval";

/// Whether new accounts start `pending` until an admin approves them. Missing means false; an
/// unreadable value is logged and treated as false.
pub fn require_approval(db: &impl Executor) -> Result<bool, ApiError> {
    let rows = db.query(
        "SELECT value FROM settings WHERE key = $1",
        &[REQUIRE_APPROVAL.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(false);
    };
    let raw = row.str("value")?;
    match serde_json::from_str::<bool>(raw) {
        Ok(value) => Ok(value),
        Err(_) => {
            log::warn(
                "setting is not a JSON boolean; treating it as false",
                &[("key", REQUIRE_APPROVAL), ("value", raw)],
            );
            Ok(false)
        }
    }
}

pub fn set_require_approval(db: &impl Executor, value: bool, now: i64) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[
            REQUIRE_APPROVAL.into(),
            value.to_string().into(),
            now.into(),
        ],
    )?;
    Ok(())
}
