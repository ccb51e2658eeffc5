//! The caller's own account: `GET /me`, `PATCH /me/profile`.

use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::throttle::Throttle;
use nexuma_sdk::{clock, log, passwords, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::session;
use crate::users::{self, Changes, Profile, User};
use crate::validate::{self, Email, Name, Password};

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

/// The caller's own profile: the profile plus what only its owner sees (its JSON Schema is
/// derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnView<'a> {
    #[serde(flatten)]
    profile: Profile<'a>,
    /// Whether the Core sends the caller Telegram messages.
    telegram_notifications: bool,
}

/// The profile plus what only its owner sees: whether Telegram notifications are on.
fn own_view<'u>(db: &impl Executor, user: &'u User) -> Result<OwnView<'u>, ApiError> {
    let on = db
        .query(
            "SELECT telegram_notifications FROM users WHERE id = $1",
            &[user.id.as_str().into()],
        )?
        .first()
        .map(|row| row.bool("telegram_notifications"))
        .transpose()?
        .unwrap_or(true);
    Ok(OwnView {
        profile: user.profile(),
        telegram_notifications: on,
    })
}

/// `PATCH /me/profile` (its JSON Schema is derived from this type). A null counts as left out;
/// at least one of `name`, `email`, `password` or `telegramNotifications` must be given.
///
/// `currentPassword` is required with `password` when the account has a password (one made
/// through Telegram has none and needs no current one for its first).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend(
    "anyOf" = validate::one_given(&ProfilePatch::CHANGES),
    "dependentSchemas" = { "password": {
        "required": ["currentPassword"],
        "properties": { "currentPassword": { "type": "string" } }
    } }
))]
pub struct ProfilePatch {
    name: Option<Name>,
    email: Option<Email>,
    password: Option<Password>,
    /// The password now, to change it.
    current_password: Option<String>,
    /// Whether the Core sends the caller Telegram messages (default true).
    telegram_notifications: Option<bool>,
}

impl ProfilePatch {
    /// The fields that change something, as the JSON names them (`currentPassword` only
    /// confirms a change of password).
    const CHANGES: [&'static str; 4] = ["name", "email", "password", "telegramNotifications"];

    /// Whether any of them is there and not null.
    fn any_given(&self) -> bool {
        self.name.is_some()
            || self.email.is_some()
            || self.password.is_some()
            || self.telegram_notifications.is_some()
    }
}

/// `PATCH /me/profile`: name, email, password (every session ends with a new one) and whether
/// the Core sends Telegram messages.
pub fn update(req: &Request) -> Result<Response, ApiError> {
    let body: ProfilePatch = req.json()?;
    // Validate everything before any lookup or hashing.
    let checked = body.check()?;
    let user = load_caller(req)?;
    let changes = body.changes(&user, checked)?;
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

/// The name and email of a `ProfilePatch`, checked, as they are stored.
struct Checked {
    /// `Some(None)`: the name cleared.
    name: Option<Option<String>>,
    email: Option<String>,
}

impl ProfilePatch {
    /// Each field given checked (400 naming the first that is not taken; at least one needed).
    fn check(&self) -> Result<Checked, ApiError> {
        if !self.any_given() {
            return Err(ApiError::bad_request(
                "validation_error",
                "at least one of name, email, password or telegramNotifications is required",
            ));
        }
        let name = self
            .name
            .as_ref()
            .map(|raw| validate::name("name", &raw.0))
            .transpose()?;
        let email = self
            .email
            .as_ref()
            .map(|raw| validate::email("email", &raw.0))
            .transpose()?;
        if let Some(password) = &self.password {
            validate::password("password", &password.0)?;
        }
        Ok(Checked { name, email })
    }

    /// The columns to write on `user`, the name and email as `check` gave them: a new password
    /// needs the current one where the account has one (400 without it, 403 when it is wrong)
    /// and is hashed here.
    fn changes(&self, user: &User, checked: Checked) -> Result<Changes, ApiError> {
        let mut changes = Changes::default();
        if let Some(name) = checked.name {
            changes.set("name", name);
        }
        if let Some(email) = checked.email {
            changes.set_email(user, email)?;
        }
        if let Some(password) = &self.password {
            // An account made through Telegram has no password yet; its first one needs no
            // current.
            if let Some(hash) = &user.password_hash {
                check_current_password(&user.id, self.current_password.as_deref(), hash)?;
            }
            changes.set("password_hash", passwords::hash(&password.0));
        }
        if let Some(on) = self.telegram_notifications {
            changes.set("telegram_notifications", on);
        }
        Ok(changes)
    }
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

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    /// Nothing is required but a change must be sent (not null, as the handler checks); null
    /// is taken and leaves the field; a new password comes with the current one.
    #[test]
    fn schema_profile_patch() {
        let patch = nexuma_sdk::schema_of::<ProfilePatch>();
        assert!(patch.get("required").is_none());
        let sample = |field: &str| match field {
            "telegramNotifications" => json!(false),
            _ => json!("12345678"),
        };
        validate::assert_one_given(&ProfilePatch::CHANGES, sample, ProfilePatch::any_given);
        let confirm: ProfilePatch =
            serde_json::from_value(json!({ "currentPassword": "x" })).expect("parses");
        assert!(
            !confirm.any_given(),
            "currentPassword alone changes nothing"
        );
        // A null current password is no current password.
        let with_password = &patch["dependentSchemas"]["password"];
        assert_eq!(with_password["required"], json!(["currentPassword"]));
        assert_eq!(
            with_password["properties"]["currentPassword"]["type"],
            "string"
        );
        let null_current: ProfilePatch =
            serde_json::from_value(json!({ "password": "12345678", "currentPassword": null }))
                .expect("parses");
        assert!(null_current.current_password.is_none());
        for field in ["name", "email", "password", "currentPassword"] {
            assert_eq!(
                patch["properties"][field]["type"],
                json!(["string", "null"]),
                "{field}"
            );
        }
        assert_eq!(
            patch["properties"]["password"]["minLength"],
            json!(validate::PASSWORD_MIN)
        );
        let null_name: Result<ProfilePatch, _> =
            serde_json::from_value(json!({ "name": null, "telegramNotifications": false }));
        assert!(null_name.is_ok_and(|p| p.name.is_none()));
    }

    /// The caller's own view is the profile plus `telegramNotifications`, always answered.
    #[test]
    fn schema_own_view() {
        let view = nexuma_sdk::answer_schema_of::<OwnView<'static>>();
        let required = view["required"].as_array().expect("required");
        assert_eq!(required.len(), 11, "{view}");
        assert!(required.contains(&json!("telegramNotifications")));
        assert!(required.contains(&json!("createdAt")));
        assert_eq!(
            view["properties"]["telegramNotifications"]["type"],
            "boolean"
        );
    }
}
