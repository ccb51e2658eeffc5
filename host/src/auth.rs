//! Authentication by a route's declared level, done in the host before any component runs.

use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use crate::account::{Accounts, Standing};
use crate::bindings::nexuma::core::db::Value;
use crate::bindings::{AuthLevel, Caller};
use crate::iface::db::Database;
use crate::iface::tokens::VerifyError;
use crate::iface::Capabilities;
use crate::response::{self, Response};

/// Why a caller was turned away, as the answer says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: &'static str,
}

impl Refusal {
    const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Refusal {
            status,
            code,
            message,
        }
    }

    /// The refusal as an answer to a route of `level`: a 401 for a token route names the Bearer
    /// scheme (`WWW-Authenticate`); a node key is no scheme a client could retry with.
    pub fn response(self, level: AuthLevel) -> Response {
        let resp = response::error(self.status, self.code, self.message);
        if self.status == StatusCode::UNAUTHORIZED && level != AuthLevel::Node {
            response::bearer_challenge(resp)
        } else {
            resp
        }
    }
}

/// The database (or, for an account, both stores) could not answer: retry shortly.
const UNAVAILABLE: Refusal = Refusal::new(
    StatusCode::SERVICE_UNAVAILABLE,
    "unavailable",
    "the database is unavailable; retry shortly",
);
const TOKEN_REQUIRED: Refusal = Refusal::new(
    StatusCode::UNAUTHORIZED,
    "unauthorized",
    "a Bearer access token is required",
);
const TOKEN_EXPIRED: Refusal = Refusal::new(
    StatusCode::UNAUTHORIZED,
    "token_expired",
    "the access token has expired; refresh it",
);
const TOKEN_INVALID: Refusal = Refusal::new(
    StatusCode::UNAUTHORIZED,
    "invalid_token",
    "the access token is invalid",
);
const NOT_ADMIN: Refusal = Refusal::new(
    StatusCode::FORBIDDEN,
    "forbidden",
    "this route needs an admin account",
);
const ACCOUNT_BLOCKED: Refusal = Refusal::new(
    StatusCode::FORBIDDEN,
    "account_blocked",
    "this account has been blocked by an administrator",
);
const ACCOUNT_INACTIVE: Refusal = Refusal::new(
    StatusCode::FORBIDDEN,
    "account_inactive",
    "this account is not active (awaiting approval or rejected)",
);
const ACCOUNT_DELETED: Refusal = Refusal::new(
    StatusCode::UNAUTHORIZED,
    "account_deleted",
    "the account this token was issued to no longer exists",
);
const NODE_KEY_REQUIRED: Refusal = Refusal::new(
    StatusCode::UNAUTHORIZED,
    "unauthorized",
    "the x-node-auth-key header is required",
);
const NODE_KEY_UNKNOWN: Refusal = Refusal::new(
    StatusCode::UNAUTHORIZED,
    "invalid_node_key",
    "the node key is not recognised",
);

pub const NODE_KEY_HEADER: &str = "x-node-auth-key";

/// Cookie that carries an access token for server-rendered pages, which browsers load without
/// an `Authorization` header. Read for GET and HEAD; for a form's POST only when the browser
/// says the request came from the Core's own pages (`same_origin`), so another site cannot make
/// a browser send it (CSRF). The console checks a form token on top.
pub const ACCESS_COOKIE: &str = "nexuma_access";

pub async fn authenticate(
    level: AuthLevel,
    method: &http::Method,
    headers: &HeaderMap,
    caps: &Capabilities,
) -> Result<Option<Caller>, Refusal> {
    let token = bearer(headers).or_else(|| {
        let reads = method == http::Method::GET || method == http::Method::HEAD;
        (reads || same_origin(headers))
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
            let token = token.ok_or(TOKEN_REQUIRED)?;
            let claims = caps.tokens.verify_access(token).map_err(|e| match e {
                VerifyError::Expired => TOKEN_EXPIRED,
                VerifyError::Invalid => TOKEN_INVALID,
            })?;
            // The account's role now, not the one the token was issued with.
            let caller = account_caller(caps, claims.sub).await?;
            if level == AuthLevel::Admin && caller.role != "admin" {
                return Err(NOT_ADMIN);
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
    };
    let standing = accounts.standing(&user_id).await.map_err(|e| {
        tracing::warn!(error = %e, "account lookup failed");
        UNAVAILABLE
    })?;
    match standing {
        Standing::Active { role } => Ok(Caller { id: user_id, role }),
        Standing::Blocked => Err(ACCOUNT_BLOCKED),
        Standing::NotApproved { .. } => Err(ACCOUNT_INACTIVE),
        Standing::Deleted => Err(ACCOUNT_DELETED),
    }
}

async fn node_caller(headers: &HeaderMap, db: &Database) -> Result<Caller, Refusal> {
    let key = headers
        .get(NODE_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or(NODE_KEY_REQUIRED)?;
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
        _ => Err(NODE_KEY_UNKNOWN),
    }
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// Whether the browser sent the request from a page of the same origin: `Sec-Fetch-Site:
/// same-origin` (every current browser sends it), else an `Origin` whose host and port are the
/// `Host` the request was sent to. A request without either is not taken for one.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(http::header::HeaderName::from_static("sec-fetch-site")) {
        return site.eq_ignore_ascii_case("same-origin");
    }
    let origin_host = text(http::header::ORIGIN)
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host);
    matches!((origin_host, text(http::header::HOST)), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
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
    fn only_a_token_route_challenges_for_a_bearer() {
        let token = TOKEN_REQUIRED.response(AuthLevel::User);
        assert_eq!(token.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(token.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
        let node = NODE_KEY_REQUIRED.response(AuthLevel::Node);
        assert!(!node.headers().contains_key(http::header::WWW_AUTHENTICATE));
        let forbidden = NOT_ADMIN.response(AuthLevel::Admin);
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        assert!(!forbidden
            .headers()
            .contains_key(http::header::WWW_AUTHENTICATE));
    }

    #[test]
    fn only_a_same_origin_request_is_taken_for_one() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, http::HeaderValue::from_static(v));
            }
            map
        };
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "https://core.example:8443"),
            ("host", "core.example:8443"),
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "core.example"),
        ])));
        // The browser's own word wins over an Origin that would match.
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://core.example"),
            ("host", "core.example"),
        ])));
        assert!(!same_origin(&headers(&[("host", "core.example")])));
    }

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
