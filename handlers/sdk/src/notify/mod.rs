//! Telegram notifications, written to the `notifications` outbox in the transaction of the event
//! that causes them, so a message exists exactly when its event committed. The `notify`
//! component's sender delivers the rows.
//!
//! ```no_run
//! use nexuma_sdk::notify::{self, format, names, Event};
//! use nexuma_sdk::{db, ApiError};
//!
//! /// Tells a user about a deposit, in the transaction that records it.
//! fn told(tx: &db::Transaction, user_id: &str, entry_id: &str, amount: i64, now: i64)
//!     -> Result<(), ApiError> {
//!     let event = Event::new(names::BALANCE_DEPOSIT, entry_id)
//!         .param("amount", format::money(amount, "RUB"));
//!     notify::user(tx, user_id, &event, now)
//! }
//! ```
//!
//! Only recipients who can get a message get a row: a `telegram_id` and notifications left on.
//! An event's key makes it fire once per recipient (`ON CONFLICT DO NOTHING`), so a retried or
//! concurrent writer adds nothing. Without a bot token nothing is written at all.

pub mod format;
mod kinds;

pub use kinds::{kind, Audience, Kind, KINDS};
/// The names of the kinds, for writers.
pub mod names {
    pub use super::kinds::names::*;
}

use crate::db::Executor;
use crate::{telegram, ApiError};

/// One event about to be told.
pub struct Event {
    kind: &'static str,
    key: String,
    params: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    /// An event of `kind`; `key` tells this occurrence from others of the kind (e.g. the
    /// ledger row's id, or a subscription id with its period).
    pub fn new(kind: &'static str, key: impl std::fmt::Display) -> Self {
        Event {
            kind,
            key: format!("{kind}:{key}"),
            params: serde_json::Map::new(),
        }
    }

    /// Sets the value of the kind's `{name}` placeholder.
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params
            .insert(name.to_string(), serde_json::Value::String(value.into()));
        self
    }

    /// The event's key as stored (`dedupe_key`): the kind, then the occurrence.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The kind, or a 500 for a name the catalog lacks (a bug in the writer, caught by tests).
    fn checked_kind(&self) -> Result<&'static Kind, ApiError> {
        kind(self.kind)
            .ok_or_else(|| ApiError::internal(format!("unknown notification kind {}", self.kind)))
    }

    fn params_text(&self) -> String {
        serde_json::Value::Object(self.params.clone()).to_string()
    }
}

/// Queues `event` for user `user_id`, if they can receive it.
pub fn user(db: &impl Executor, user_id: &str, event: &Event, now: i64) -> Result<(), ApiError> {
    event.checked_kind()?;
    if !telegram::configured() {
        return Ok(());
    }
    db.execute(
        &format!("{INSERT} WHERE u.id = $5 AND {CAN_RECEIVE} {ON_CONFLICT}"),
        &[
            event.kind.into(),
            event.params_text().into(),
            event.key.as_str().into(),
            now.into(),
            user_id.into(),
        ],
    )?;
    Ok(())
}

/// Queues `event` for every admin who can receive it.
pub fn admins(db: &impl Executor, event: &Event, now: i64) -> Result<(), ApiError> {
    event.checked_kind()?;
    if !telegram::configured() {
        return Ok(());
    }
    db.execute(
        &format!("{INSERT} WHERE u.role = 'admin' AND {CAN_RECEIVE} {ON_CONFLICT}"),
        &[
            event.kind.into(),
            event.params_text().into(),
            event.key.as_str().into(),
            now.into(),
        ],
    )?;
    Ok(())
}

const INSERT: &str = "INSERT INTO notifications (user_id, kind, params, dedupe_key, state, \
                      attempts, next_attempt_at, created_at) \
                      SELECT u.id, $1, $2, $3, 'pending', 0, $4, $4 FROM users u";
/// Who can receive a message: a linked Telegram account with notifications on.
const CAN_RECEIVE: &str = "u.telegram_id IS NOT NULL AND u.telegram_notifications";
const ON_CONFLICT: &str = "ON CONFLICT (dedupe_key, user_id) DO NOTHING";
