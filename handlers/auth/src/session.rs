//! Sessions: issuing token pairs and the refresh-token rows behind them.

use nexuma_sdk::db::Executor;
use nexuma_sdk::{id, tokens, ApiError};
use schemars::JsonSchema;
use serde::Serialize;

use crate::users::{Profile, User};

/// The answer to a successful login, registration or refresh (its JSON Schema is derived from
/// this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session<'a> {
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token, in seconds.
    pub expires_in: u64,
    pub user: Profile<'a>,
}

/// Issues an access token and a refresh token for `user` and records the refresh token's row.
/// `family_id` is `None` for a new login and the old family when rotating.
pub fn issue<'u>(
    db: &impl Executor,
    user: &'u User,
    family_id: Option<&str>,
    now: i64,
) -> Result<Session<'u>, ApiError> {
    let token_id = id::new_v4();
    let family_id = family_id.map_or_else(id::new_v4, str::to_string);
    let refresh = tokens::issue_refresh(&user.id, &token_id, &family_id);
    db.execute(
        "INSERT INTO refresh_tokens (id, family_id, user_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            token_id.as_str().into(),
            family_id.as_str().into(),
            user.id.as_str().into(),
            refresh.expires_at.into(),
            now.into(),
        ],
    )?;
    let access = tokens::issue_access(&user.id, &user.role);
    Ok(Session {
        access_token: access.token,
        refresh_token: refresh.token,
        expires_in: access.expires_in,
        user: user.profile(),
    })
}

/// Revokes every live refresh token of a user (block, reject, password change, ...).
pub fn revoke_all(db: &impl Executor, user_id: &str, now: i64) -> Result<u64, ApiError> {
    Ok(db.execute(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        &[now.into(), user_id.into()],
    )?)
}

/// Drops a user's refresh-token rows that have expired, so the table does not grow forever.
/// Expired tokens fail verification anyway, so their rows no longer matter for reuse detection.
pub fn prune_expired(db: &impl Executor, user_id: &str, now: i64) -> Result<u64, ApiError> {
    Ok(db.execute(
        "DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_at < $2",
        &[user_id.into(), now.into()],
    )?)
}
