//! User administration and settings: `/admin/users*`, `/admin/settings`.

use nexuma_sdk::cursor::{self, where_all, CursorPage, KeysetPaging, Order, Position};
use nexuma_sdk::db::{self, Pool, Value};
use nexuma_sdk::record::{self, Actor, Change, Entry};
use nexuma_sdk::response::Page;
use nexuma_sdk::{account, clock, log, notify, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::session;
use crate::settings;
use crate::users::{self, Changes, Profile, User, COLUMNS, ROLES, STATUSES};
use crate::validate::{self, Email, Name};

/// The query of `GET /admin/users` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct UsersQuery {
    #[serde(flatten)]
    paging: KeysetPaging,
    /// Only users with this status; empty or left out: every status.
    // A string, not string-or-null, and no default: a query parameter is left out, never null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", extend("enum" = STATUSES))]
    status: Option<String>,
    /// Only users whose email, name or Telegram username contains this text (any case); empty
    /// or left out: everyone. A scan of the users that pass the other filters, not an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(max = SEARCH_MAX))]
    q: Option<String>,
}

/// The longest search text `q` takes.
const SEARCH_MAX: usize = 100;

/// `LIKE` pattern for "contains `text`", lower-cased, with `\`, `%` and `_` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl UsersQuery {
    fn read(req: &Request) -> Result<UsersQuery, ApiError> {
        let paging = req.keyset_paging()?;
        let status = match req.query("status").map(str::trim).filter(|v| !v.is_empty()) {
            Some(raw) => Some(validate::one_of("status", raw, &STATUSES)?.to_string()),
            None => None,
        };
        let q = req.query("q").map(str::trim).filter(|v| !v.is_empty());
        if q.is_some_and(|q| q.chars().count() > SEARCH_MAX) {
            return Err(ApiError::validation(
                "q",
                format!("must be at most {SEARCH_MAX} characters"),
            ));
        }
        Ok(UsersQuery {
            paging,
            status,
            q: q.map(str::to_string),
        })
    }
}

/// A page of users: the paging convention plus the keyset cursor.
pub type UserPage<'a> = CursorPage<'a, Profile<'a>>;

/// The list's order: oldest first, the id deciding within one millisecond (the index of
/// migration 0016, and 0017's behind a status).
const ORDER: Order = Order::ascending(&["created_at", "id"]);

/// The sort key a cursor carries: the last user's `created_at` and id.
type Key = (i64, String);

/// The position of `after`, if given: one this route gave (400 naming `after` otherwise).
fn after_key(paging: &KeysetPaging) -> Result<Option<Position<Key>>, ApiError> {
    let at: Option<Position<Key>> = paging.position()?;
    if at
        .as_ref()
        .is_some_and(|p| p.key.0 < 0 || p.key.1.is_empty())
    {
        return Err(ApiError::validation(
            "after",
            "is not a cursor this route gave",
        ));
    }
    Ok(at)
}

fn key_values((created_at, id): &Key) -> Vec<Value> {
    vec![(*created_at).into(), id.as_str().into()]
}

/// `GET /admin/users`: a page of users in creation order, by offset or after a cursor.
pub fn list_users(req: &Request) -> Result<Response, ApiError> {
    let query = UsersQuery::read(req)?;
    let limit = query.paging.limit;
    let at = after_key(&query.paging)?;
    let offset = query.paging.offset_at(at.as_ref());
    let key = at.map(|p| p.key);
    let mut params: Vec<Value> = Vec::new();
    let mut conditions = Vec::new();
    if let Some(status) = query.status {
        params.push(status.into());
        conditions.push(format!("status = ${}", params.len()));
    }
    if let Some(q) = &query.q {
        params.push(contains_pattern(q).into());
        let n = params.len();
        conditions.push(format!(
            "(LOWER(email) LIKE ${n} ESCAPE '\\' OR LOWER(name) LIKE ${n} ESCAPE '\\' \
             OR LOWER(telegram_username) LIKE ${n} ESCAPE '\\')"
        ));
    }
    let total = ORDER.total("users", &conditions, &params)?;
    let mut found = read_page(conditions, params, key.as_ref(), limit, offset)?;
    let next_cursor = cursor::finish_page(&mut found, limit, offset, |last| {
        (last.created_at, last.id.clone())
    });
    let items: Vec<Profile<'_>> = found.iter().map(User::profile).collect();
    response::json(
        200,
        &UserPage {
            page: Page {
                items: &items,
                total,
                limit,
                offset,
            },
            next_cursor,
        },
    )
}

/// Up to `limit` + 1 users the conditions take (the extra one: a next page follows), after the
/// cursor or past `offset` of them.
fn read_page(
    mut conditions: Vec<String>,
    mut params: Vec<Value>,
    key: Option<&Key>,
    limit: i64,
    offset: i64,
) -> Result<Vec<User>, ApiError> {
    if let Some(k) = key {
        conditions.push(ORDER.after(key_values(k), &mut params));
    }
    let skip = if key.is_some() { 0 } else { offset };
    let sql = format!(
        "SELECT {COLUMNS} FROM users {} ORDER BY {} LIMIT ${} OFFSET ${}",
        where_all(&conditions),
        ORDER.by(),
        params.len() + 1,
        params.len() + 2
    );
    params.push((limit + 1).into());
    params.push(skip.into());
    db::query(&sql, &params)?
        .iter()
        .map(User::from_row)
        .collect()
}

pub fn get_user(req: &Request) -> Result<Response, ApiError> {
    let user = users::get(&Pool, req.param("id")?)?;
    // Last seen: the latest presence change (session events) or traffic hour of the user's links.
    let last_seen = db::query(
        "SELECT MAX(at) AS at FROM (SELECT MAX(p.changed_at) AS at FROM link_presence p \
         JOIN subscription_links l ON l.id = p.link_id WHERE l.user_id = $1 \
         UNION ALL SELECT MAX(hour) AS at FROM traffic_hourly WHERE user_id = $2) seen",
        &[user.id.as_str().into(), user.id.as_str().into()],
    )?
    .first()
    .map(|row| row.opt_i64("at"))
    .transpose()?
    .flatten();
    response::json(
        200,
        &AdminView {
            profile: user.profile(),
            last_seen_at: last_seen,
        },
    )
}

/// `GET /admin/users/:id`: the profile and when the user was last seen (its JSON Schema is
/// derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminView<'a> {
    #[serde(flatten)]
    profile: Profile<'a>,
    /// Epoch milliseconds of the latest presence change or traffic hour of the user's links;
    /// null: never seen.
    last_seen_at: Option<i64>,
}

/// `PATCH /admin/users/:id` (its JSON Schema is derived from this type). A null counts as left
/// out; at least one field must be given.
#[derive(Deserialize, JsonSchema)]
#[schemars(extend("anyOf" = validate::one_given(&UserPatch::FIELDS)))]
pub struct UserPatch {
    #[schemars(extend("enum" = or_null(&STATUSES)))]
    status: Option<String>,
    /// True also ends the user's sessions.
    blocked: Option<bool>,
    #[schemars(extend("enum" = or_null(&ROLES)))]
    role: Option<String>,
    name: Option<Name>,
    email: Option<Email>,
}

impl UserPatch {
    /// Its fields, as the JSON names them.
    const FIELDS: [&'static str; 5] = ["status", "blocked", "role", "name", "email"];

    /// Whether any field is there and not null.
    fn any_given(&self) -> bool {
        self.status.is_some()
            || self.blocked.is_some()
            || self.role.is_some()
            || self.name.is_some()
            || self.email.is_some()
    }
}

/// An enum's values plus null: the values of an optional body field, where null means left out.
fn or_null(values: &[&str]) -> serde_json::Value {
    values
        .iter()
        .map(|v| json!(v))
        .chain([serde_json::Value::Null])
        .collect()
}

/// A `UserPatch` checked: each field given, in the form it is stored in.
struct CheckedPatch {
    status: Option<&'static str>,
    blocked: Option<bool>,
    role: Option<&'static str>,
    /// `Some(None)`: the name cleared.
    name: Option<Option<String>>,
    email: Option<String>,
}

impl UserPatch {
    /// Each field given checked (400 naming the first that is not taken); at least one needed.
    fn check(&self) -> Result<CheckedPatch, ApiError> {
        if !self.any_given() {
            return Err(ApiError::bad_request(
                "validation_error",
                "at least one of status, blocked, role, name or email is required",
            ));
        }
        Ok(CheckedPatch {
            status: self
                .status
                .as_deref()
                .map(|s| validate::one_of("status", s, &STATUSES))
                .transpose()?,
            blocked: self.blocked,
            role: self
                .role
                .as_deref()
                .map(|r| validate::one_of("role", r, &ROLES))
                .transpose()?,
            name: self
                .name
                .as_ref()
                .map(|raw| validate::name("name", &raw.0))
                .transpose()?,
            email: self
                .email
                .as_ref()
                .map(|raw| validate::email("email", &raw.0))
                .transpose()?,
        })
    }
}

impl CheckedPatch {
    /// The columns to write on `user`: an email is written only when it is new to the user,
    /// and 409 when another account has it.
    fn changes(self, user: &User) -> Result<Changes, ApiError> {
        let mut changes = Changes::default();
        if let Some(status) = self.status {
            changes.set("status", status);
        }
        if let Some(blocked) = self.blocked {
            changes.set("blocked", blocked);
        }
        if let Some(role) = self.role {
            changes.set("role", role);
        }
        if let Some(name) = self.name {
            changes.set("name", name);
        }
        if let Some(email) = self.email {
            changes.set_email(user, email)?;
        }
        Ok(changes)
    }

    /// Whether the user may no longer log in after it, so must not keep a session alive through
    /// refresh.
    fn locks_out(&self) -> bool {
        self.blocked == Some(true) || matches!(self.status, Some("rejected" | "pending"))
    }
}

/// `PATCH /admin/users/:id`: status, block, role, name, email; a user locked out loses every
/// session, and the host re-reads a changed standing at once.
pub fn update_user(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let id = req.param("id")?;
    let body: UserPatch = req.json()?;
    let patch = body.check()?;
    let user = users::get(&Pool, id)?;
    let locks_out = patch.locks_out();
    let changes = patch.changes(&user)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    if !changes.is_empty() {
        changes
            .apply(&tx, &user.id, now)
            .map_err(users::email_conflict)?;
    }
    let revoked = if locks_out {
        session::revoke_all(&tx, &user.id, now)?
    } else {
        0
    };
    let updated = users::get(&tx, &user.id)?;
    record_update(&tx, &Actor::of(req), &user, &updated, now)?;
    tx.commit()?;
    // After the commit: the host re-reads the account on its next request, so a demoted or
    // blocked user's tokens lose their power at once.
    if standing(&updated) != standing(&user) {
        account::changed(&user.id);
    }
    log::info(
        "user updated by admin",
        &[
            ("userId", &updated.id),
            ("adminId", &admin.id),
            ("status", &updated.status),
            ("blocked", &updated.blocked.to_string()),
            ("role", &updated.role),
            ("sessionsRevoked", &revoked.to_string()),
        ],
    );
    response::json(200, &updated.profile())
}

/// What an admin's change of `before` into `after` tells: the user (a decision on their
/// registration), the nodes (whether they may connect) and the audit log.
fn record_update(
    tx: &db::Transaction,
    actor: &Actor<'_>,
    before: &User,
    after: &User,
    now: i64,
) -> Result<(), ApiError> {
    tell_decision(tx, before, after, now)?;
    // Whether the user may connect at all decides which clients nodes carry.
    if (after.status.as_str(), after.blocked) != (before.status.as_str(), before.blocked) {
        record::node_change(
            tx,
            Change {
                kind: "user.access",
                user_id: Some(&before.id),
                detail: Some(json!({ "status": after.status, "blocked": after.blocked })),
                ..Change::default()
            },
            now,
        )?;
    }
    record::audit(
        tx,
        actor,
        Entry {
            action: "user.update",
            target_type: "user",
            target_id: &before.id,
            before: serde_json::to_value(before.profile()).ok(),
            after: serde_json::to_value(after.profile()).ok(),
        },
        now,
    )
}

/// What the host checks of an account on every request.
fn standing(user: &User) -> (&str, &str, bool) {
    (&user.role, &user.status, user.blocked)
}

/// Tells the user on Telegram that their registration was approved or rejected.
fn tell_decision(
    tx: &db::Transaction,
    before: &User,
    after: &User,
    now: i64,
) -> Result<(), ApiError> {
    let kind = match (before.status.as_str(), after.status.as_str()) {
        ("pending", "active") => notify::names::ACCOUNT_APPROVED,
        (was, "rejected") if was != "rejected" => notify::names::ACCOUNT_REJECTED,
        _ => return Ok(()),
    };
    // Each decision is its own event: a user rejected, then approved later, hears both.
    let event = notify::Event::new(kind, format!("{}:{now}", after.id))
        .param("name", after.name.clone().unwrap_or_default());
    notify::user(tx, &after.id, &event, now)
}

/// The registration settings, as answered and as `PATCH /admin/settings` takes them (its JSON
/// Schema is derived from this type).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Whether new accounts wait as `pending` until an admin approves them.
    registration_require_approval: bool,
}

fn settings_body(require_approval: bool) -> serde_json::Value {
    json!(Settings {
        registration_require_approval: require_approval
    })
}

pub fn get_settings(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &settings_body(settings::require_approval(&Pool)?))
}

pub fn update_settings(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let body: Settings = req.json()?;
    let now = clock::now_ms();
    let before = settings::require_approval(&Pool)?;
    let tx = db::begin()?;
    settings::set_require_approval(&tx, body.registration_require_approval, now)?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "settings.update",
            target_type: "settings",
            target_id: "registration",
            before: Some(settings_body(before)),
            after: Some(settings_body(body.registration_require_approval)),
        },
        now,
    )?;
    tx.commit()?;
    log::info(
        "settings updated",
        &[
            ("adminId", &admin.id),
            (
                "registrationRequireApproval",
                &body.registration_require_approval.to_string(),
            ),
        ],
    );
    response::json(200, &settings_body(body.registration_require_approval))
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use nexuma_sdk::{DEFAULT_LIMIT, MAX_LIMIT};

    #[test]
    fn a_search_is_a_literal_lower_case_contains_pattern() {
        assert_eq!(contains_pattern("Ann"), "%ann%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    /// One optional parameter per filter, with the handler's bounds and values.
    #[test]
    fn schema_users_query() {
        let query = nexuma_sdk::schema_of::<UsersQuery>();
        assert!(query["required"].as_array().is_none_or(Vec::is_empty));
        let param = |name: &str| query["properties"][name].clone();
        assert_eq!(param("status")["enum"], json!(STATUSES));
        assert_eq!(param("status")["type"], "string");
        assert!(param("status").get("default").is_none());
        assert_eq!(param("limit")["maximum"], json!(MAX_LIMIT));
        assert_eq!(param("limit")["default"], json!(DEFAULT_LIMIT));
        assert_eq!(param("offset")["minimum"], json!(0));
        assert_eq!(param("after")["type"], "string");
        assert_eq!(
            param("offset")["maximum"],
            json!(nexuma_sdk::cursor::MAX_OFFSET)
        );
        assert_eq!(param("after")["pattern"], r"^[A-Za-z0-9_-]*$");
    }

    /// The page answers the paging convention's fields and the cursor, null on the last page.
    #[test]
    fn schema_user_page() {
        let page = nexuma_sdk::answer_schema_of::<UserPage<'static>>();
        let required = page["required"].as_array().expect("required");
        for field in ["items", "total", "limit", "offset", "nextCursor"] {
            assert!(required.contains(&json!(field)), "{field}: {page}");
        }
        assert_eq!(
            page["properties"]["nextCursor"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            page["properties"]["items"]["items"]["properties"]["role"]["enum"],
            json!(ROLES)
        );
    }

    /// The keyset conditions bind the cursor's key after the parameters already bound; a key
    /// this route never gives is refused as a foreign cursor.
    #[test]
    fn keyset_conditions() {
        let key: Key = (5, "u".into());
        let mut params: Vec<Value> = vec!["active".into()];
        assert_eq!(
            ORDER.after(key_values(&key), &mut params),
            "(created_at, id) > ($2, $3)"
        );
        assert_eq!(params.len(), 3);
        for bad in [(-1, "u"), (1, "")] {
            let raw = nexuma_sdk::cursor::encode(&(0, bad));
            let paging = Request::with_query(&[("after", &raw)])
                .keyset_paging()
                .expect("paging");
            let err = after_key(&paging).err().expect("refused");
            assert_eq!(err.field.as_deref(), Some("after"));
        }
    }

    /// The enums are the code's lists plus null (left out); null parses; the schema asks for a
    /// field that is not null, as the handler does.
    #[test]
    fn schema_user_patch() {
        let patch = nexuma_sdk::schema_of::<UserPatch>();
        assert_eq!(
            patch["properties"].as_object().map(|p| p.len()),
            Some(UserPatch::FIELDS.len())
        );
        let sample = |field: &str| match field {
            "blocked" => json!(true),
            _ => json!("x"),
        };
        validate::assert_one_given(&UserPatch::FIELDS, sample, UserPatch::any_given);
        assert_eq!(
            patch["properties"]["status"]["enum"],
            json!(["active", "pending", "rejected", null])
        );
        assert_eq!(
            patch["properties"]["role"]["enum"],
            json!(["user", "admin", null])
        );
        assert_eq!(
            patch["properties"]["status"]["enum"]
                .as_array()
                .map(Vec::len),
            Some(STATUSES.len() + 1)
        );
        let parsed: Result<UserPatch, _> =
            serde_json::from_value(json!({ "status": null, "role": "admin" }));
        assert!(parsed.is_ok_and(|p| p.status.is_none() && p.role.as_deref() == Some("admin")));
    }

    /// `lastSeenAt` is always there, null when never seen; settings need their one field.
    #[test]
    fn schema_admin_view_and_settings() {
        let view = nexuma_sdk::answer_schema_of::<AdminView<'static>>();
        assert!(view["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("lastSeenAt")) && r.contains(&json!("id"))));
        assert_eq!(
            view["properties"]["lastSeenAt"]["type"],
            json!(["integer", "null"])
        );
        let settings = nexuma_sdk::schema_of::<Settings>();
        assert_eq!(settings["required"], json!(["registrationRequireApproval"]));
        assert!(serde_json::from_value::<Settings>(json!({})).is_err());
    }
}
