//! The caller's own account: `GET /me`, `PATCH /me/profile`.

use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::throttle::Throttle;
use nexuma_sdk::{clock, log, passwords, response, ApiError, Request, Response};
use serde::Deserialize;

use crate::session;
use crate::users::{self, Changes, User};
use crate::validate;

/// Wrong `currentPassword` answers allowed per user in one window: the route is a password
/// oracle for whoever holds an access token.
const CURRENT_PASSWORD_FAILURE_LIMIT: i64 = 5;

/// The caller's row; a deleted account is 404 and a blocked one 403 (its access token may still
/// be valid for a few minutes).
fn load_caller(req: &Request) -> Result<User, ApiError> {
    let caller = req.caller()?;
    let user = users::get(&Pool, &caller.id)?;
    if user.blocked {
        return Err(ApiError::forbidden(
            "account_blocked",
            "this account has been blocked by an administrator",
        ));
    }
    Ok(user)
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let user = load_caller(req)?;
    response::json(200, &own_view(&Pool, &user)?)
}

/// The profile plus what only its owner sees: whether Telegram notifications are on.
fn own_view(db: &impl Executor, user: &User) -> Result<serde_json::Value, ApiError> {
    let on = db
        .query(
            "SELECT telegram_notifications FROM users WHERE id = $1",
            &[user.id.as_str().into()],
        )?
        .first()
        .map(|row| row.bool("telegram_notifications"))
        .transpose()?
        .unwrap_or(true);
    let mut view = serde_json::to_value(user.profile()).map_err(ApiError::internal)?;
    view["telegramNotifications"] = on.into();
    Ok(view)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfilePatch {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
    telegram_notifications: Option<bool>,
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let body: ProfilePatch = req.json()?;
    if body.name.is_none()
        && body.email.is_none()
        && body.password.is_none()
        && body.telegram_notifications.is_none()
    {
        return Err(ApiError::bad_request(
            "validation_error",
            "at least one of name, email, password or telegramNotifications is required",
        ));
    }
    // Validate everything before any lookup or hashing.
    let name = body
        .name
        .as_deref()
        .map(|raw| validate::name("name", raw))
        .transpose()?;
    let email = body
        .email
        .as_deref()
        .map(|raw| validate::email("email", raw))
        .transpose()?;
    if let Some(password) = &body.password {
        validate::password("password", password)?;
    }

    let user = load_caller(req)?;
    let mut changes = Changes::default();
    if let Some(name) = name {
        changes.set("name", name);
    }
    if let Some(email) = email {
        if user.email.as_deref() != Some(email.as_str()) {
            if users::email_taken(&Pool, &email, &user.id)? {
                return Err(users::email_taken_error());
            }
            changes.set("email", email);
        }
    }
    if let Some(password) = &body.password {
        // An account made through Telegram has no password yet; its first one needs no current.
        if let Some(hash) = &user.password_hash {
            check_current_password(&user.id, body.current_password.as_deref(), hash)?;
        }
        changes.set("password_hash", passwords::hash(password));
    }
    if let Some(on) = body.telegram_notifications {
        changes.set("telegram_notifications", on);
    }

    if changes.is_empty() {
        return response::json(200, &own_view(&Pool, &user)?);
    }
    let password_changed = changes.touches("password_hash");
    let now = clock::now_ms();
    let tx = db::begin()?;
    changes
        .apply(&tx, &user.id, now)
        .map_err(users::email_conflict)?;
    if password_changed {
        // The token does not say which session it came from, so every session ends; the current
        // access token keeps working until it expires.
        session::revoke_all(&tx, &user.id, now)?;
    }
    let updated = users::get(&tx, &user.id)?;
    let view = own_view(&tx, &updated)?;
    tx.commit()?;
    if password_changed {
        log::info(
            "password changed; sessions revoked",
            &[("userId", &user.id)],
        );
    }
    response::json(200, &view)
}

fn check_current_password(
    user_id: &str,
    current: Option<&str>,
    hash: &str,
) -> Result<(), ApiError> {
    let current = current.ok_or_else(|| {
        ApiError::validation("currentPassword", "is required to change the password")
    })?;
    let throttle = Throttle::new(
        format!("auth:password-fail:user:{user_id}"),
        CURRENT_PASSWORD_FAILURE_LIMIT,
    );
    // Counted before the check, so parallel guesses cannot slip past the limit.
    throttle.reserve()?;
    if !passwords::verify(current, hash) {
        return Err(ApiError::forbidden(
            "wrong_password",
            "the current password is wrong",
        ));
    }
    // Only failures stay counted.
    throttle.release();
    Ok(())
}
