//! Authentication by a route's declared level, done in the host before any component runs.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::account::{Accounts, Standing};
use crate::bindings::nexuma::core::db::Value;
use crate::bindings::{AuthLevel, Caller};
use crate::iface::db::Database;
use crate::iface::tokens::VerifyError;
use crate::iface::Capabilities;

/// Why a caller was turned away: (status, code, message).
pub type Refusal = (u16, &'static str, &'static str);

/// The database (or, for an account, both stores) could not answer: retry shortly.
const UNAVAILABLE: Refusal = (
    503,
    "unavailable",
    "the database is unavailable; retry shortly",
);

pub const NODE_KEY_HEADER: &str = "x-node-auth-key";

/// Cookie that carries an access token for server-rendered pages, which browsers load without
/// an `Authorization` header. Only read for GET and HEAD, so it cannot be used for CSRF.
pub const ACCESS_COOKIE: &str = "nexuma_access";

pub async fn authenticate(
    level: AuthLevel,
    method: &http::Method,
    headers: &HeaderMap,
    caps: &Capabilities,
) -> Result<Option<Caller>, Refusal> {
    let token = bearer(headers).or_else(|| {
        (method == http::Method::GET || method == http::Method::HEAD)
            .then(|| cookie(headers, ACCESS_COOKIE))
            .flatten()
    });
    match level {
        // A public route still learns who calls when a valid token of an active account comes
        // along (a page can then show a login form or the content); anything else is ignored.
        AuthLevel::Public => match token.and_then(|t| caps.tokens.verify_access(t).ok()) {
            Some(claims) => Ok(account_caller(caps, claims.sub).await.ok()),
            None => Ok(None),
        },
        AuthLevel::User | AuthLevel::Admin => {
            let token = token.ok_or((401, "unauthorized", "a Bearer access token is required"))?;
            let claims = caps.tokens.verify_access(token).map_err(|e| match e {
                VerifyError::Expired => (
                    401,
                    "token_expired",
                    "the access token has expired; refresh it",
                ),
                VerifyError::Invalid => (401, "invalid_token", "the access token is invalid"),
            })?;
            // The account's role now, not the one the token was issued with.
            let caller = account_caller(caps, claims.sub).await?;
            if level == AuthLevel::Admin && caller.role != "admin" {
                return Err((403, "forbidden", "this route needs an admin account"));
            }
            Ok(Some(caller))
        }
        AuthLevel::Node => node_caller(headers, &caps.db).await.map(Some),
    }
}

/// The caller behind a verified token, as its account stands now.
async fn account_caller(caps: &Capabilities, user_id: String) -> Result<Caller, Refusal> {
    let accounts = Accounts {
        db: &caps.db,
        kv: &caps.kv,
        prefix: caps.kv.prefix(),
    };
    let standing = accounts.standing(&user_id).await.map_err(|e| {
        tracing::warn!(error = %e, "account lookup failed");
        UNAVAILABLE
    })?;
    match standing {
        Standing::Active { role } => Ok(Caller { id: user_id, role }),
        Standing::Blocked => Err((
            403,
            "account_blocked",
            "this account has been blocked by an administrator",
        )),
        Standing::NotApproved { .. } => Err((
            403,
            "account_inactive",
            "this account is not active (awaiting approval or rejected)",
        )),
        Standing::Deleted => Err((
            401,
            "account_deleted",
            "the account this token was issued to no longer exists",
        )),
    }
}

async fn node_caller(headers: &HeaderMap, db: &Database) -> Result<Caller, Refusal> {
    let key = headers
        .get(NODE_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or((
            401,
            "unauthorized",
            "the x-node-auth-key header is required",
        ))?;
    let key_hash = hex::encode(Sha256::digest(key.as_bytes()));
    let rows = db
        .query(
            "SELECT node_id FROM node_credentials WHERE key_hash = $1",
            &[Value::Text(key_hash)],
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "node credential lookup failed");
            UNAVAILABLE
        })?;
    match rows.rows.first().and_then(|r| r.first()) {
        Some(Value::Text(node_id)) => Ok(Caller {
            id: node_id.clone(),
            role: "node".into(),
        }),
        _ => Err((401, "invalid_node_key", "the node key is not recognised")),
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "a=1; nexuma_access=tok; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&headers, ACCESS_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
