//! Authentication by a route's declared level, done in the host before any component runs.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::bindings::{AuthLevel, Caller};
use crate::iface::db::Database;
use crate::iface::tokens::{Tokens, VerifyError};

/// Why a caller was turned away: (status, code, message).
pub type Refusal = (u16, &'static str, &'static str);

pub const NODE_KEY_HEADER: &str = "x-node-auth-key";

pub async fn authenticate(
    level: AuthLevel,
    headers: &HeaderMap,
    tokens: &Tokens,
    db: &Database,
) -> Result<Option<Caller>, Refusal> {
    match level {
        AuthLevel::Public => Ok(None),
        AuthLevel::User | AuthLevel::Admin => {
            let token = bearer(headers).ok_or((
                401,
                "unauthorized",
                "a Bearer access token is required",
            ))?;
            let claims = tokens.verify_access(token).map_err(|e| match e {
                VerifyError::Expired => (
                    401,
                    "token_expired",
                    "the access token has expired; refresh it",
                ),
                VerifyError::Invalid => (401, "invalid_token", "the access token is invalid"),
            })?;
            if level == AuthLevel::Admin && claims.role != "admin" {
                return Err((403, "forbidden", "this route needs an admin account"));
            }
            Ok(Some(Caller {
                id: claims.sub,
                role: claims.role,
            }))
        }
        AuthLevel::Node => {
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
                    &[crate::bindings::nexuma::core::db::Value::Text(key_hash)],
                )
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "node credential lookup failed");
                    (503, "unavailable", "the database is unavailable")
                })?;
            match rows.rows.first().and_then(|r| r.first()) {
                Some(crate::bindings::nexuma::core::db::Value::Text(node_id)) => Ok(Some(Caller {
                    id: node_id.clone(),
                    role: "node".into(),
                })),
                _ => Err((401, "invalid_node_key", "the node key is not recognised")),
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}
