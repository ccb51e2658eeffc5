//! Telegram Login Widget: `POST /auth/telegram` and `GET /auth/telegram/bot-id`.

use nexuma_sdk::db::{self, ErrorKind, Pool};
use nexuma_sdk::{clock, log, response, telegram, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::session;
use crate::users::{self, By, NewUser, User};
use crate::{settings, validate};

/// How old a widget login may be, in seconds.
const MAX_AGE_SECS: i64 = 86_400;

/// 501: the server was started without a bot (the host's `bot-id` is its only sign), so this
/// way of logging in does not exist here — not an outage to retry.
fn not_configured() -> ApiError {
    ApiError::new(
        501,
        "telegram_not_configured",
        "Telegram login is not configured on this server: TELEGRAM_BOT_TOKEN is not set",
    )
}

/// `GET /auth/telegram/bot-id` (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BotId {
    /// The id the login widget is set up with.
    bot_id: String,
}

pub fn bot_id(_req: &Request) -> Result<Response, ApiError> {
    let bot_id = telegram::bot_id().ok_or_else(not_configured)?;
    response::json(200, &BotId { bot_id })
}

/// The Telegram Login Widget's user object, exactly as Telegram sent it: every field but `hash`
/// is signed, unknown ones too.
// The handler reads the body as a JSON object (`read_fields`), not into this type, because the
// signature covers the fields as sent; this type states what that reading takes, and a test
// checks the two agree.
#[derive(JsonSchema)]
#[schemars(extend("additionalProperties" = { "type": ["string", "number", "boolean", "null"] }))]
#[allow(dead_code)]
pub struct WidgetBody {
    /// The Telegram user id (its decimal text is taken too).
    #[schemars(range(min = 1))]
    id: i64,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    photo_url: Option<String>,
    /// Epoch seconds; at most a day old.
    #[schemars(range(min = 1))]
    auth_date: i64,
    /// Telegram's signature of the other fields, hex.
    #[schemars(length(min = 1))]
    hash: String,
}

/// The widget's fields, as checked and used.
struct WidgetLogin {
    telegram_id: String,
    auth_date: i64,
    name: Option<String>,
    username: Option<String>,
}

pub fn login(req: &Request) -> Result<Response, ApiError> {
    if telegram::bot_id().is_none() {
        return Err(not_configured());
    }
    let fields: Map<String, Value> = req.json()?;
    let hash = match fields.get("hash") {
        Some(Value::String(h)) if !h.is_empty() => h.as_str(),
        Some(_) => return Err(ApiError::validation("hash", "must be a hex string")),
        None => return Err(ApiError::validation("hash", "missing field `hash`")),
    };
    let data_check_string = data_check_string(&fields)?;
    let login = read_fields(&fields)?;

    if !telegram::check_login(&data_check_string, hash) {
        return Err(ApiError::unauthorized(
            "invalid_telegram_hash",
            "the Telegram login data failed its signature check",
        ));
    }
    let now = clock::now_ms();
    if now / 1000 - login.auth_date > MAX_AGE_SECS {
        return Err(ApiError::unauthorized(
            "telegram_auth_expired",
            "the Telegram login is older than one day; log in with Telegram again",
        ));
    }

    let (user, created) = find_or_create(&login, now)?;
    user.ensure_can_login()?;
    let tx = db::begin()?;
    session::prune_expired(&tx, &user.id, now)?;
    let session = session::issue(&tx, &user, None, now)?;
    tx.commit()?;
    log::info(
        "user logged in with Telegram",
        &[
            ("userId", &user.id),
            ("created", if created { "true" } else { "false" }),
        ],
    );
    response::json(if created { 201 } else { 200 }, &session)
}

/// Every received field except `hash`, sorted by key, as `key=value` lines joined by `\n` —
/// the string Telegram signs. Numbers are their decimal text, strings raw; a null counts as not
/// sent.
fn data_check_string(fields: &Map<String, Value>) -> Result<String, ApiError> {
    let mut lines = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        if key == "hash" {
            continue;
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(ApiError::validation(
                    key.as_str(),
                    "must be a string or a number",
                ))
            }
        };
        lines.push((key.as_str(), text));
    }
    // Sort by key, not by the whole line: "a1=" sorts before "a=" but key "a" comes first.
    lines.sort_by(|a, b| a.0.cmp(b.0));
    let lines: Vec<String> = lines.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(lines.join("\n"))
}

fn read_fields(fields: &Map<String, Value>) -> Result<WidgetLogin, ApiError> {
    let integer = |key: &str| -> Result<i64, ApiError> {
        let parsed = match fields.get(key) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            None | Some(Value::Null) => {
                return Err(ApiError::validation(key, format!("missing field `{key}`")))
            }
            Some(_) => None,
        };
        parsed
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::validation(key, "must be a positive integer"))
    };
    let text = |key: &str| -> Result<Option<&str>, ApiError> {
        match fields.get(key) {
            Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.trim().is_empty())),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(ApiError::validation(key, "must be a string")),
        }
    };

    let telegram_id = integer("id")?.to_string();
    let auth_date = integer("auth_date")?;
    let full_name = [text("first_name")?, text("last_name")?]
        .into_iter()
        .flatten()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    // Telegram allows longer names than we store; keep the first 100 printable characters.
    let full_name: String = full_name
        .chars()
        .filter(|c| !c.is_control())
        .take(validate::NAME_MAX)
        .collect();
    let name = validate::name("first_name", &full_name)?;
    let username = text("username")?.map(str::to_string);
    Ok(WidgetLogin {
        telegram_id,
        auth_date,
        name,
        username,
    })
}

/// The user with this Telegram id, or a new one (no email, no password, status per the approval
/// setting). Returns whether it was created.
fn find_or_create(login: &WidgetLogin, now: i64) -> Result<(User, bool), ApiError> {
    if let Some(mut user) = users::find(&Pool, By::TelegramId, &login.telegram_id)? {
        if user.telegram_username != login.username {
            let mut changes = users::Changes::default();
            changes.set("telegram_username", login.username.as_deref());
            changes.apply(&Pool, &user.id, now)?;
            user.telegram_username = login.username.clone();
            user.updated_at = now;
        }
        return Ok((user, false));
    }

    let status = if settings::require_approval(&Pool)? {
        "pending"
    } else {
        "active"
    };
    let new = NewUser {
        email: None,
        password_hash: None,
        name: login.name.as_deref(),
        status,
        telegram_id: Some(&login.telegram_id),
        telegram_username: login.username.as_deref(),
    };
    match users::insert(&Pool, &new, now) {
        Ok(user) => {
            log::info(
                "user registered with Telegram",
                &[("userId", &user.id), ("status", status)],
            );
            Ok((user, true))
        }
        // A concurrent first login of the same Telegram account created it first.
        Err(err) if err.kind == ErrorKind::UniqueViolation => {
            let user = users::find(&Pool, By::TelegramId, &login.telegram_id)?
                .ok_or_else(|| ApiError::from(err))?;
            Ok((user, false))
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The schema requires exactly what `read_fields` and `login` cannot do without, and takes
    /// scalar unknown fields (signed like the rest).
    #[test]
    fn schema_widget_body() {
        let schema = nexuma_sdk::schema_of::<WidgetBody>();
        assert_eq!(schema["required"], json!(["id", "auth_date", "hash"]));
        assert_eq!(schema["properties"]["id"]["minimum"], 1);
        let body = json!({ "id": 42, "auth_date": 1_700_000_000, "hash": "ab", "extra": 1 });
        let fields = body.as_object().unwrap();
        assert!(read_fields(fields).is_ok() && data_check_string(fields).is_ok());
        for needed in ["id", "auth_date"] {
            let mut less = fields.clone();
            less.remove(needed);
            assert!(read_fields(&less).is_err(), "{needed}");
        }
        let mut nested = fields.clone();
        nested.insert("extra".into(), json!([1]));
        assert!(
            data_check_string(&nested).is_err(),
            "only scalars are taken"
        );
        assert!(schema["additionalProperties"]["type"]
            .as_array()
            .is_some_and(|t| !t.contains(&json!("array")) && !t.contains(&json!("object"))));
    }

    #[test]
    fn builds_the_data_check_string() {
        let fields: Map<String, Value> = serde_json::from_str(
            r#"{"id": 42, "first_name": "Ann", "username": "ann", "auth_date": 1700000000,
                "hash": "abc", "last_name": null}"#,
        )
        .unwrap();
        assert_eq!(
            data_check_string(&fields).unwrap(),
            "auth_date=1700000000\nfirst_name=Ann\nid=42\nusername=ann"
        );
        let login = read_fields(&fields).unwrap();
        assert_eq!(login.telegram_id, "42");
        assert_eq!(login.name.as_deref(), Some("Ann"));
    }
}
