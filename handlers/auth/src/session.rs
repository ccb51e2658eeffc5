//! Sessions: issuing token pairs, the refresh-token rows behind them, and login throttling.

use nexuma_sdk::db::Executor;
use nexuma_sdk::{id, kv, log, tokens, ApiError};
use serde::Serialize;

use crate::users::{Profile, User};

/// The answer to a successful login, registration or refresh.
#[derive(Serialize)]
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

/// A fixed-window failure counter in the key-value store.
///
/// Each failure increments the key; the first one creates it with the window as TTL. At `limit`
/// failures the key locks further attempts until it expires.
pub struct Throttle {
    key: String,
    limit: i64,
}

/// Failure-counting window: 15 minutes.
pub const WINDOW_MS: u64 = 15 * 60 * 1000;

impl Throttle {
    pub fn new(key: String, limit: i64) -> Self {
        Throttle { key, limit }
    }

    /// 429 `too_many_attempts` with `retry-after` while the counter is at its limit.
    pub fn check(&self) -> Result<(), ApiError> {
        let count = kv::get(&self.key)?
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        if count < self.limit {
            return Ok(());
        }
        let retry_after_ms = match kv::ttl_ms(&self.key)? {
            Some(ms) => ms,
            None => {
                // A counter without expiry would lock forever; give it a fresh window.
                kv::set(&self.key, &count.to_string(), Some(WINDOW_MS))?;
                WINDOW_MS
            }
        };
        Err(ApiError::too_many_requests(
            "too_many_attempts",
            "too many failed attempts; try again later",
            retry_after_ms.div_ceil(1000),
        ))
    }

    pub fn record_failure(&self) -> Result<(), ApiError> {
        kv::incr(&self.key, 1, Some(WINDOW_MS))?;
        Ok(())
    }

    /// Forgets the failures. Best effort: a failed delete only leaves the counter to expire.
    pub fn clear(&self) {
        if let Err(err) = kv::delete(&self.key) {
            log::warn(
                "could not clear a login throttle counter",
                &[("detail", &err.message)],
            );
        }
    }
}
