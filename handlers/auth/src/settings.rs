//! Operator settings stored in the `settings` table (values are JSON text).

use nexuma_sdk::db::{self, Executor};
use nexuma_sdk::{log, ApiError};

pub const REQUIRE_APPROVAL: &str = "registration.requireApproval";

/// Whether new accounts start `pending` until an admin approves them. Missing means false; an
/// unreadable value is logged and treated as false.
pub fn require_approval(db: &impl Executor) -> Result<bool, ApiError> {
    let Some(raw) = db::setting(db, REQUIRE_APPROVAL)? else {
        return Ok(false);
    };
    match serde_json::from_str::<bool>(&raw) {
        Ok(value) => Ok(value),
        Err(_) => {
            log::warn(
                "setting is not a JSON boolean; treating it as false",
                &[("key", REQUIRE_APPROVAL), ("value", &raw)],
            );
            Ok(false)
        }
    }
}

pub fn set_require_approval(db: &impl Executor, value: bool, now: i64) -> Result<(), ApiError> {
    db::set_setting(db, REQUIRE_APPROVAL, &value.to_string(), now)
}
