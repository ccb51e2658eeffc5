//! The standing of the account behind an access token, read on every authenticated request.
//!
//! A token's claims are only as fresh as its issue: an admin demoted, blocked or deleted after
//! logging in must lose that power at once, not when the token expires. The database is the
//! truth; the key-value store keeps a copy per account so a request costs one `MGET`:
//!
//! - `account-rev:<id>` is the account's revision: a fresh random value components set (SDK
//!   `account::changed`) after every commit that changes a role, status or block flag, or
//!   deletes a user. It expires after a day, long after any copy tagged with it; a missing
//!   revision reads as `0`, and a random value never repeats, so an expired key can never make
//!   an old copy current again;
//! - `account:<id>` is `<rev>|<role>|<status>|<blocked>` (or `<rev>|-` for a deleted user),
//!   written by the host after reading the row, tagged with the revision read *before* the row.
//!
//! A copy is used only while its tag equals the revision. Because the revision moves after the
//! commit and the tag is read before the row, a copy of an old row is always tagged with a
//! revision the change has replaced — whatever the interleaving. Copies also expire, which
//! bounds the damage of a change made behind the components' back (SQL by hand). When the
//! store is unreachable the row is read from the database every time.

use std::time::Duration;

use crate::bindings::nexuma::core::db::Value;
use crate::iface::db::Database;
use crate::iface::kv::Store;

/// How long a copy may serve without a change to its revision.
const COPY_TTL: Duration = Duration::from_secs(10 * 60);

/// How long a revision is kept (the SDK's `account::REVISION_TTL_MS`): far past `COPY_TTL`.
const REVISION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// What an account may do now, as the host decides before an authenticated route runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The account may act, with this role.
    Active {
        /// The user's current role (`user`, `admin`, ...), which may differ from the token's.
        role: String,
    },
    /// An admin blocked the account: refused whatever its role.
    Blocked,
    /// Registered, awaiting approval, or rejected: no access yet.
    NotApproved {
        /// The user row's `status`, anything but `active`.
        status: String,
    },
    /// The user row no longer exists.
    Deleted,
}

/// The database could not say (the store alone can never vouch for an account).
#[derive(Debug, thiserror::Error)]
#[error("the account could not be read: {0}")]
pub struct Unavailable(#[from] sqlx::Error);

/// Reads an account's standing through the key-value copy, falling back to the database.
pub struct Accounts<'a> {
    /// The truth: the `users` table.
    pub db: &'a Database,
    /// Where the per-account copies and their counters live.
    pub kv: &'a Store,
}

impl Accounts<'_> {
    /// The account's standing now.
    pub async fn standing(&self, user_id: &str) -> Result<Standing, Unavailable> {
        let rev_key = format!("{}account-rev:{user_id}", self.kv.prefix());
        let copy_key = format!("{}account:{user_id}", self.kv.prefix());
        let read = self.kv.get_many(&[rev_key, copy_key.clone()]).await;
        let Some(Ok([rev, copy])) = read.ok().map(<[Option<String>; 2]>::try_from) else {
            // Store down: the database alone decides, uncached.
            return self.read_row(user_id).await;
        };
        let rev = rev.unwrap_or_else(|| "0".into());
        if let Some(standing) = copy.as_deref().and_then(|c| decode(c, &rev)) {
            return Ok(standing);
        }
        let standing = self.read_row(user_id).await?;
        if let Err(e) = self
            .kv
            .set(&copy_key, &encode(&rev, &standing), Some(COPY_TTL))
            .await
        {
            tracing::debug!(error = %e, "account copy not kept");
        }
        Ok(standing)
    }

    /// Retires every copy of the account's standing (after a change made outside components,
    /// such as `nexuma admin create` promoting an existing account).
    pub async fn changed(&self, user_id: &str) -> Result<(), crate::iface::kv::StoreError> {
        let rev_key = format!("{}account-rev:{user_id}", self.kv.prefix());
        let revision = uuid::Uuid::new_v4().to_string();
        self.kv.set(&rev_key, &revision, Some(REVISION_TTL)).await
    }

    async fn read_row(&self, user_id: &str) -> Result<Standing, Unavailable> {
        let rows = self
            .db
            .query(
                "SELECT role, status, blocked FROM users WHERE id = $1",
                &[Value::Text(user_id.to_string())],
            )
            .await?;
        Ok(match rows.rows.first().map(Vec::as_slice) {
            None => Standing::Deleted,
            Some([Value::Text(role), Value::Text(status), blocked]) => {
                standing(role, status, truthy(blocked))
            }
            // A row of another shape cannot vouch for anyone.
            Some(_) => Standing::Deleted,
        })
    }
}

fn standing(role: &str, status: &str, blocked: bool) -> Standing {
    if blocked {
        Standing::Blocked
    } else if status != "active" {
        Standing::NotApproved {
            status: status.to_string(),
        }
    } else {
        Standing::Active { role: role.into() }
    }
}

/// SQLite keeps booleans as integers.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Boolean(b) => *b,
        Value::Int(i) => *i != 0,
        _ => false,
    }
}

fn encode(rev: &str, s: &Standing) -> String {
    match s {
        Standing::Active { role } => format!("{rev}|{role}|active|0"),
        Standing::Blocked => format!("{rev}|-|-|1"),
        Standing::NotApproved { status } => format!("{rev}|-|{status}|0"),
        Standing::Deleted => format!("{rev}|-"),
    }
}

/// The copy's standing when it is tagged with the current counter.
fn decode(copy: &str, rev: &str) -> Option<Standing> {
    let mut parts = copy.split('|');
    if parts.next()? != rev {
        return None;
    }
    let role = parts.next()?;
    let Some(status) = parts.next() else {
        return (role == "-").then_some(Standing::Deleted);
    };
    let blocked = parts.next()? == "1";
    Some(standing(role, status, blocked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_serves_only_under_its_own_counter() {
        for s in [
            Standing::Active {
                role: "admin".into(),
            },
            Standing::Blocked,
            Standing::NotApproved {
                status: "pending".into(),
            },
            Standing::Deleted,
        ] {
            let copy = encode("7", &s);
            assert_eq!(decode(&copy, "7"), Some(s.clone()), "{copy}");
            assert_eq!(decode(&copy, "8"), None, "a moved counter retires {copy}");
        }
        assert_eq!(decode("garbage", "0"), None);
    }
}
