//! Email + password accounts: `POST /auth/register`, `/auth/login`, `/auth/refresh`.

use nexuma_sdk::db::{self, Pool};
use nexuma_sdk::tokens::TokenError;
use nexuma_sdk::{clock, log, passwords, response, throttle, tokens, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::session::{self, Session};
use crate::settings;
use crate::users::{self, By, NewUser, Profile};
use crate::validate::{self, Email, Name, Password};

/// `POST /auth/register` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct RegisterBody {
    email: Email,
    password: Password,
    name: Option<Name>,
}

/// The answer to a registration: a session, or, while registrations wait for an admin's
/// approval, the new account and a message.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Registered<'a> {
    Session(Session<'a>),
    Pending {
        user: Profile<'a>,
        message: &'static str,
    },
}

pub fn register(req: &Request) -> Result<Response, ApiError> {
    let body: RegisterBody = req.json()?;
    let email = validate::email("email", &body.email.0)?;
    validate::password("password", &body.password.0)?;
    let name = match &body.name {
        Some(raw) => validate::name("name", &raw.0)?,
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
    let hash = passwords::hash(&body.password.0);
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
            &Registered::Pending {
                user: user.profile(),
                message:
                    "registration received; the account is awaiting approval by an administrator",
            },
        );
    }
    let session = session::issue(&tx, &user, None, now)?;
    tx.commit()?;
    response::json(201, &Registered::Session(session))
}

/// `POST /auth/login` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct LoginBody {
    /// Trimmed and lower-cased, then looked up as it is: empty (after trimming) is 400, and an
    /// address without an account is 401 like a wrong password. `maxLength` counts the
    /// characters of the trimmed address.
    #[schemars(email, length(max = validate::EMAIL_MAX))]
    email: String,
    password: String,
}

pub fn login(req: &Request) -> Result<Response, ApiError> {
    let body: LoginBody = req.json()?;
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > validate::EMAIL_MAX {
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

/// `POST /auth/refresh` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
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
    // A client that stays connected refreshes all day without logging in again: prune here
    // too, or its rows would pile up until its next login.
    session::prune_expired(&tx, &user.id, now)?;
    tx.commit()?;
    response::json(200, &session)
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use crate::validate::{EMAIL_MAX, NAME_MAX, PASSWORD_MAX, PASSWORD_MIN};
    use serde_json::json;

    /// The bounds are the ones `validate` checks, and what the schema allows the parser takes.
    #[test]
    fn schema_register_and_login() {
        let register = nexuma_sdk::schema_of::<RegisterBody>();
        assert_eq!(register["required"], json!(["email", "password"]));
        let field = |name: &str| register["properties"][name].clone();
        assert_eq!(field("email")["maxLength"], json!(EMAIL_MAX));
        assert_eq!(field("email")["format"], "email");
        assert_eq!(field("password")["minLength"], json!(PASSWORD_MIN));
        assert_eq!(field("password")["maxLength"], json!(PASSWORD_MAX));
        assert_eq!(field("name")["maxLength"], json!(NAME_MAX));
        assert_eq!(field("name")["type"], json!(["string", "null"]));
        let null_name: Result<RegisterBody, _> = serde_json::from_value(
            json!({ "email": "a@b.io", "password": "12345678", "name": null }),
        );
        assert!(null_name.is_ok_and(|b| b.name.is_none()));

        let login = nexuma_sdk::schema_of::<LoginBody>();
        assert_eq!(login["required"], json!(["email", "password"]));
        assert_eq!(login["properties"]["email"]["maxLength"], json!(EMAIL_MAX));
        assert!(login["properties"]["password"].get("minLength").is_none());

        let refresh = nexuma_sdk::schema_of::<RefreshBody>();
        assert_eq!(refresh["required"], json!(["refreshToken"]));
    }

    /// A registration answers either a session or the pending account with a message; each
    /// branch requires what that answer always carries.
    #[test]
    fn schema_registered() {
        let answer = nexuma_sdk::answer_schema_of::<Registered<'static>>();
        let branches = answer["anyOf"].as_array().expect("anyOf");
        let required: Vec<_> = branches.iter().map(|b| b["required"].clone()).collect();
        assert_eq!(
            required,
            vec![
                json!(["accessToken", "refreshToken", "expiresIn", "user"]),
                json!(["user", "message"])
            ]
        );
    }
}
