//! The `users` table: loading, inserting and updating accounts, and the public profile.

use nexuma_sdk::db::{DbError, ErrorKind, Executor, Pool, Row, Value};
use nexuma_sdk::{id, ApiError};
use schemars::JsonSchema;
use serde::Serialize;

/// Every column of `users`, in the order `User::from_row` reads them.
pub const COLUMNS: &str = "id, email, password_hash, name, role, status, blocked, telegram_id, \
                           telegram_username, created_at, updated_at";

pub const STATUSES: [&str; 3] = ["active", "pending", "rejected"];
pub const ROLES: [&str; 2] = ["user", "admin"];

pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub name: Option<String>,
    pub role: String,
    pub status: String,
    pub blocked: bool,
    pub telegram_id: Option<String>,
    pub telegram_username: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What clients see of a user: everything but the password hash (its JSON Schema is derived
/// from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile<'a> {
    #[schemars(extend("format" = "uuid"))]
    id: &'a str,
    /// Null: an account made through Telegram (or the Node Manager) without one.
    #[schemars(email)]
    email: Option<&'a str>,
    name: Option<&'a str>,
    #[schemars(extend("enum" = ROLES))]
    role: &'a str,
    #[schemars(extend("enum" = STATUSES))]
    status: &'a str,
    blocked: bool,
    telegram_id: Option<&'a str>,
    telegram_username: Option<&'a str>,
    /// Epoch milliseconds.
    created_at: i64,
    /// Epoch milliseconds.
    updated_at: i64,
}

impl User {
    pub fn from_row(row: Row<'_>) -> Result<Self, ApiError> {
        Ok(User {
            id: row.string("id")?,
            email: row.opt_string("email")?,
            password_hash: row.opt_string("password_hash")?,
            name: row.opt_string("name")?,
            role: row.string("role")?,
            status: row.string("status")?,
            blocked: row.bool("blocked")?,
            telegram_id: row.opt_string("telegram_id")?,
            telegram_username: row.opt_string("telegram_username")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
        })
    }

    pub fn profile(&self) -> Profile<'_> {
        Profile {
            id: &self.id,
            email: self.email.as_deref(),
            name: self.name.as_deref(),
            role: &self.role,
            status: &self.status,
            blocked: self.blocked,
            telegram_id: self.telegram_id.as_deref(),
            telegram_username: self.telegram_username.as_deref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The 403s that keep an account with valid credentials out: blocked, rejected, pending.
    pub fn ensure_can_login(&self) -> Result<(), ApiError> {
        if self.blocked {
            return Err(ApiError::forbidden(
                "account_blocked",
                "this account has been blocked by an administrator",
            ));
        }
        match self.status.as_str() {
            "rejected" => Err(ApiError::forbidden(
                "account_rejected",
                "the registration of this account was rejected by an administrator",
            )),
            "pending" => Err(ApiError::forbidden(
                "account_pending",
                "this account is awaiting approval by an administrator",
            )),
            _ => Ok(()),
        }
    }
}

/// Which unique column to look a user up by. An enum, so no caller can splice text into SQL.
#[derive(Clone, Copy)]
pub enum By {
    Id,
    Email,
    TelegramId,
}

pub fn find(db: &impl Executor, by: By, value: &str) -> Result<Option<User>, ApiError> {
    let column = match by {
        By::Id => "id",
        By::Email => "email",
        By::TelegramId => "telegram_id",
    };
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = $1");
    let rows = db.query(&sql, &[value.into()])?;
    rows.first().map(User::from_row).transpose()
}

/// Like [`find`] by id, but a missing user is 404 `user_not_found`.
pub fn get(db: &impl Executor, id: &str) -> Result<User, ApiError> {
    find(db, By::Id, id)?.ok_or_else(|| ApiError::not_found("user_not_found", "user not found"))
}

/// Whether another user already has this email.
pub fn email_taken(db: &impl Executor, email: &str, except_id: &str) -> Result<bool, ApiError> {
    let rows = db.query(
        "SELECT id FROM users WHERE email = $1 AND id <> $2",
        &[email.into(), except_id.into()],
    )?;
    Ok(!rows.is_empty())
}

pub fn email_taken_error() -> ApiError {
    ApiError::conflict("email_taken", "a user with this email already exists")
}

/// Maps a unique violation on a write that sets `email` to 409 `email_taken` (the race where two
/// requests claim one address between the check and the write).
pub fn email_conflict(err: DbError) -> ApiError {
    if err.kind == ErrorKind::UniqueViolation {
        email_taken_error()
    } else {
        err.into()
    }
}

pub struct NewUser<'a> {
    pub email: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub name: Option<&'a str>,
    pub status: &'a str,
    pub telegram_id: Option<&'a str>,
    pub telegram_username: Option<&'a str>,
}

/// Inserts a user with role `user` and returns it. The raw `DbError` comes back so the caller can
/// tell which unique constraint it hit.
pub fn insert(db: &impl Executor, new: &NewUser<'_>, now: i64) -> Result<User, DbError> {
    let id = id::new_v4();
    // Only TEXT columns are ever bound as null here.
    db.execute(
        "INSERT INTO users (id, email, password_hash, name, role, status, blocked, telegram_id, \
         telegram_username, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            id.as_str().into(),
            new.email.into(),
            new.password_hash.into(),
            new.name.into(),
            "user".into(),
            new.status.into(),
            false.into(),
            new.telegram_id.into(),
            new.telegram_username.into(),
            now.into(),
            now.into(),
        ],
    )?;
    Ok(User {
        id,
        email: new.email.map(str::to_string),
        password_hash: new.password_hash.map(str::to_string),
        name: new.name.map(str::to_string),
        role: "user".into(),
        status: new.status.into(),
        blocked: false,
        telegram_id: new.telegram_id.map(str::to_string),
        telegram_username: new.telegram_username.map(str::to_string),
        created_at: now,
        updated_at: now,
    })
}

/// Column assignments for one `UPDATE users`, built from a PATCH body.
#[derive(Default)]
pub struct Changes {
    sets: Vec<(&'static str, Value)>,
}

impl Changes {
    pub fn set(&mut self, column: &'static str, value: impl Into<Value>) {
        self.sets.push((column, value.into()));
    }

    /// Sets `user`'s email to `email` when it is new to them: 409 when another user has it.
    pub fn set_email(&mut self, user: &User, email: String) -> Result<(), ApiError> {
        if user.email.as_deref() == Some(email.as_str()) {
            return Ok(());
        }
        if email_taken(&Pool, &email, &user.id)? {
            return Err(email_taken_error());
        }
        self.set("email", email);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    pub fn touches(&self, column: &str) -> bool {
        self.sets.iter().any(|(c, _)| *c == column)
    }

    /// Writes the changes (and `updated_at`); returns the number of rows changed (0 or 1).
    pub fn apply(self, db: &impl Executor, id: &str, now: i64) -> Result<u64, DbError> {
        let mut sql = String::from("UPDATE users SET ");
        let mut params: Vec<Value> = Vec::with_capacity(self.sets.len() + 2);
        for (column, value) in self.sets {
            params.push(value);
            sql.push_str(&format!("{column} = ${}, ", params.len()));
        }
        params.push(now.into());
        sql.push_str(&format!("updated_at = ${}", params.len()));
        params.push(id.into());
        sql.push_str(&format!(" WHERE id = ${}", params.len()));
        db.execute(&sql, &params)
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    /// Every field is always answered (null where absent), and the enums are the code's lists.
    #[test]
    fn schema_profile() {
        let profile = nexuma_sdk::answer_schema_of::<Profile<'static>>();
        assert_eq!(
            profile["required"],
            json!([
                "id",
                "email",
                "name",
                "role",
                "status",
                "blocked",
                "telegramId",
                "telegramUsername",
                "createdAt",
                "updatedAt"
            ])
        );
        assert_eq!(profile["properties"]["role"]["enum"], json!(ROLES));
        assert_eq!(profile["properties"]["status"]["enum"], json!(STATUSES));
        assert_eq!(profile["properties"]["id"]["format"], "uuid");
        assert_eq!(
            profile["properties"]["email"]["type"],
            json!(["string", "null"])
        );
    }
}
