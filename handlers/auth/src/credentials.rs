//! Email + password accounts: `POST /auth/register`, `/auth/login`, `/auth/refresh`.

use nexuma_sdk::db::{self, Pool};
use nexuma_sdk::tokens::TokenError;
use nexuma_sdk::{clock, log, passwords, response, throttle, tokens, ApiError, Request, Response};
use serde::Deserialize;
use serde_json::json;

use crate::session;
use crate::users::{self, By, NewUser};
use crate::{settings, validate};

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: String,
    name: Option<String>,
}

pub fn register(req: &Request) -> Result<Response, ApiError> {
    let body: RegisterBody = req.json()?;
    let email = validate::email("email", &body.email)?;
    validate::password("password", &body.password)?;
    let name = match body.name.as_deref() {
        Some(raw) => validate::name("name", raw)?,
        None => None,
    };

    if users::find(&Pool, By::Email, &email)?.is_some() {
        return Err(users::email_taken_error());
    }
    let status = if settings::require_approval(&Pool)? {
        "pending"
    } else {
        "active"
    };
    // Hash before opening the transaction: it is the slow part and needs no database.
    let hash = passwords::hash(&body.password);
    let now = clock::now_ms();

    let tx = db::begin()?;
    let new = NewUser {
        email: Some(&email),
        password_hash: Some(&hash),
        name: name.as_deref(),
        status,
        telegram_id: None,
        telegram_username: None,
    };
    let user = users::insert(&tx, &new, now).map_err(users::email_conflict)?;
    log::info(
        "user registered",
        &[("userId", &user.id), ("status", status)],
    );

    if status == "pending" {
        tx.commit()?;
        return response::json(
            201,
            &json!({
                "user": user.profile(),
                "message": "registration received; the account is awaiting approval by an administrator",
            }),
        );
    }
    let session = session::issue(&tx, &user, None, now)?;
    tx.commit()?;
    response::json(201, &session)
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

pub fn login(req: &Request) -> Result<Response, ApiError> {
    let body: LoginBody = req.json()?;
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || email.len() > validate::EMAIL_MAX {
        return Err(ApiError::validation(
            "email",
            "must be a valid email address",
        ));
    }

    // The attempt is counted before anything else: of parallel guesses only the first few
    // reach the password check, and a right guess during lock-out is still 429.
    let attempt = throttle::reserve_login(&email, &req.remote_addr)?;
    attempt.settle(sign_in(&email, &body.password))
}

/// Checks the password and opens a session: 401 for a wrong email or password, 403 for an
/// account that may not log in.
fn sign_in(email: &str, password: &str) -> Result<Response, ApiError> {
    let user = users::find(&Pool, By::Email, email)?;
    let verified = match user.as_ref().and_then(|u| u.password_hash.as_deref()) {
        Some(hash) => passwords::verify(password, hash),
        None => {
            // Spend about the same time as a real check, so timing does not reveal which emails
            // have accounts.
            let _ = passwords::hash(password);
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "invalid email or password",
        ));
    };

    user.ensure_can_login()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    session::prune_expired(&tx, &user.id, now)?;
    let session = session::issue(&tx, &user, None, now)?;
    tx.commit()?;
    log::info("user logged in", &[("userId", &user.id)]);
    response::json(200, &session)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    refresh_token: String,
}

pub fn refresh(req: &Request) -> Result<Response, ApiError> {
    let body: RefreshBody = req.json()?;
    let claims = tokens::verify_refresh(&body.refresh_token).map_err(|err| {
        let message = match err {
            TokenError::Invalid => "the refresh token is invalid",
            TokenError::Expired => "the refresh token has expired",
        };
        ApiError::unauthorized("invalid_token", message)
    })?;
    let now = clock::now_ms();

    let tx = db::begin()?;
    // Rotation: only one request can mark a live token used. Losing that race, or presenting a
    // token that was used or revoked before, means the token leaked: end the whole session.
    let claimed = tx.execute(
        "UPDATE refresh_tokens SET used_at = $1 \
         WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
        &[now.into(), claims.token_id.as_str().into()],
    )?;
    if claimed == 0 {
        let revoked = tx.execute(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
            &[now.into(), claims.family_id.as_str().into()],
        )?;
        tx.commit()?;
        log::warn(
            "refresh token reused; session revoked",
            &[
                ("userId", &claims.subject),
                ("familyId", &claims.family_id),
                ("revoked", &revoked.to_string()),
            ],
        );
        return Err(ApiError::unauthorized(
            "token_reused",
            "this refresh token was already used or revoked; the session has been ended, log in again",
        ));
    }

    let user = users::find(&tx, By::Id, &claims.subject)?.ok_or_else(|| {
        ApiError::unauthorized("invalid_token", "the refresh token's user no longer exists")
    })?;
    user.ensure_can_login()?;
    let session = session::issue(&tx, &user, Some(&claims.family_id), now)?;
    tx.commit()?;
    response::json(200, &session)
}
