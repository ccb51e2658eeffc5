//! A user's traffic as stored: hourly sums over nodes and links, optionally of one subscription
//! or link of theirs.

use nexuma_sdk::db::{self, Value};
use nexuma_sdk::{ApiError, Request};
use schemars::JsonSchema;
use serde::Serialize;

use crate::params;

/// Which of the user's traffic a series counts.
pub enum Scope {
    All,
    Subscription(String),
    Link(String),
}

/// `subscriptionId` / `linkId` of a user's request; one that is not the user's is 404, the same
/// answer as one that does not exist.
pub fn scope(req: &Request, user: &str) -> Result<Scope, ApiError> {
    if let Some(id) = params::id(req, "linkId")? {
        let owned = db::query(
            "SELECT id FROM subscription_links WHERE id = $1 AND user_id = $2",
            &[id.into(), user.into()],
        )?;
        if owned.is_empty() {
            return Err(ApiError::not_found(
                "link_not_found",
                format!("no link with id {id}"),
            ));
        }
        return Ok(Scope::Link(id.to_string()));
    }
    if let Some(id) = params::id(req, "subscriptionId")? {
        let owned = db::query(
            "SELECT id FROM subscriptions WHERE id = $1 AND user_id = $2",
            &[id.into(), user.into()],
        )?;
        if owned.is_empty() {
            return Err(ApiError::not_found(
                "subscription_not_found",
                format!("no subscription with id {id}"),
            ));
        }
        return Ok(Scope::Subscription(id.to_string()));
    }
    Ok(Scope::All)
}

/// Bytes up and down.
#[derive(Serialize, JsonSchema, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes {
    pub up: i64,
    pub down: i64,
}

impl Bytes {
    pub fn add(&mut self, other: Bytes) {
        self.up = self.up.saturating_add(other.up);
        self.down = self.down.saturating_add(other.down);
    }

    pub fn total(self) -> i64 {
        self.up.saturating_add(self.down)
    }
}

/// The user's traffic per UTC hour in `[from, to)`, each hour once (nodes and links added up).
/// The primary key leads with (user_id, hour): one index range per call. Only for hours still
/// kept ([`crate::retention::Kept`]).
pub fn hours(user: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<(i64, Bytes)>, ApiError> {
    sums("traffic_hourly", "hour", user, scope, from, to)
}

/// The user's traffic per UTC day in `[from, to)` (UTC midnights), each day once: from
/// `traffic_daily`, which holds every day, kept hours or not.
pub fn days(user: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<(i64, Bytes)>, ApiError> {
    sums("traffic_daily", "day", user, scope, from, to)
}

/// Sums per `column` (the start of an hour or day) of `table`'s rows of the user in range.
fn sums(
    table: &str,
    column: &str,
    user: &str,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Bytes)>, ApiError> {
    let mut params: Vec<Value> = vec![user.into(), from.into(), to.into()];
    let filter = match scope {
        Scope::All => "",
        Scope::Link(id) => {
            params.push(id.as_str().into());
            "AND link_id = $4"
        }
        Scope::Subscription(id) => {
            params.push(id.as_str().into());
            "AND link_id IN (SELECT id FROM subscription_links WHERE subscription_id = $4)"
        }
    };
    let rows = db::query(
        &format!(
            "SELECT {column} AS time, CAST(SUM(up) AS BIGINT) AS up, \
             CAST(SUM(down) AS BIGINT) AS down \
             FROM {table} WHERE user_id = $1 AND {column} >= $2 AND {column} < $3 {filter} \
             GROUP BY {column}"
        ),
        &params,
    )?;
    rows.iter()
        .map(|row| {
            Ok((
                row.i64("time")?,
                Bytes {
                    up: row.i64("up")?,
                    down: row.i64("down")?,
                },
            ))
        })
        .collect()
}
