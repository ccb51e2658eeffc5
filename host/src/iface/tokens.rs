//! `nexuma:core/tokens`: HS256 access and refresh tokens. The secrets stay here; the host
//! itself verifies access tokens before a component runs (see `auth`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use wasmtime::component::HasData;

use crate::bindings::nexuma::core::tokens::{
    self as wit, AccessToken, RefreshClaims, RefreshToken, TokenError,
};
use crate::config::{Secrets, TokenSettings};

/// Clock skew tolerated between Core replicas.
const LEEWAY_SECS: u64 = 5;

/// Why a token was refused; the host answers both with 401, the message tells them apart.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Well formed and correctly signed, but past its `exp` (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// Malformed, signed with another secret, missing `exp`/`sub`, or of the other kind.
    #[error("the token is invalid")]
    Invalid,
}

/// The payload of an access token, as signed and as verified.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: String,
    /// The user's role when the token was issued (`user`, `admin`, ...).
    pub role: String,
    /// Always `access`; keeps a refresh token from passing as an access token.
    pub typ: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct RefreshJwt {
    sub: String,
    jti: String,
    fam: String,
    typ: String,
    iat: u64,
    exp: u64,
}

struct KeyPair {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl KeyPair {
    fn new(secret: &str, ttl: Duration) -> Self {
        KeyPair {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl,
        }
    }
}

/// Signs and verifies the Core's tokens.
pub struct Tokens {
    access: KeyPair,
    refresh: KeyPair,
    validation: Validation,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Tokens {
    /// Keys from the two secrets, lifetimes from the settings.
    pub fn new(settings: &TokenSettings, secrets: &Secrets) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            access: KeyPair::new(&secrets.access, settings.access_ttl),
            refresh: KeyPair::new(&secrets.refresh, settings.refresh_ttl),
            validation,
        }
    }

    /// Signs an access token for `subject` with `role`, valid for the access lifetime.
    pub fn issue_access(&self, subject: &str, role: &str) -> AccessToken {
        let iat = now_secs();
        let claims = AccessClaims {
            sub: subject.into(),
            role: role.into(),
            typ: "access".into(),
            iat,
            exp: iat + self.access.ttl.as_secs(),
        };
        AccessToken {
            token: self.sign(&claims, &self.access.encoding),
            expires_in: self.access.ttl.as_secs(),
        }
    }

    /// Signs a refresh token; `token_id` and `family_id` let the caller revoke one or its whole
    /// family.
    pub fn issue_refresh(&self, subject: &str, token_id: &str, family_id: &str) -> RefreshToken {
        let iat = now_secs();
        let exp = iat + self.refresh.ttl.as_secs();
        let claims = RefreshJwt {
            sub: subject.into(),
            jti: token_id.into(),
            fam: family_id.into(),
            typ: "refresh".into(),
            iat,
            exp,
        };
        RefreshToken {
            token: self.sign(&claims, &self.refresh.encoding),
            expires_in: self.refresh.ttl.as_secs(),
            expires_at: i64::try_from(exp.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    fn sign<C: Serialize>(&self, claims: &C, key: &EncodingKey) -> String {
        // HS256 over a serialisable struct cannot fail; an empty token would be refused anyway.
        encode(&Header::new(Algorithm::HS256), claims, key).unwrap_or_default()
    }

    /// Checks an access token's signature, expiry and kind; what the host runs before every authed
    /// route.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let claims = decode::<AccessClaims>(token, &self.access.decoding, &self.validation)
            .map_err(classify)?
            .claims;
        if claims.typ != "access" {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }

    /// Checks a refresh token's signature, expiry and kind, and returns its claims in WIT form.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, VerifyError> {
        let claims = decode::<RefreshJwt>(token, &self.refresh.decoding, &self.validation)
            .map_err(classify)?
            .claims;
        if claims.typ != "refresh" {
            return Err(VerifyError::Invalid);
        }
        Ok(RefreshClaims {
            subject: claims.sub,
            token_id: claims.jti,
            family_id: claims.fam,
            expires_at: i64::try_from(claims.exp.saturating_mul(1000)).unwrap_or(i64::MAX),
        })
    }
}

fn classify(err: jsonwebtoken::errors::Error) -> VerifyError {
    match err.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
        _ => VerifyError::Invalid,
    }
}

/// What `tokens` reaches of an instance's store: the Core's signer.
pub struct TokensCtx<'a> {
    /// The Core's one signer, shared by every instance.
    pub tokens: &'a Tokens,
}

/// Links `tokens` to a [`TokensCtx`] view of the store.
pub struct TokensView;

impl HasData for TokensView {
    type Data<'a> = TokensCtx<'a>;
}

impl wit::Host for TokensCtx<'_> {
    async fn issue_access(
        &mut self,
        subject: String,
        role: String,
    ) -> wasmtime::Result<AccessToken> {
        Ok(self.tokens.issue_access(&subject, &role))
    }

    async fn issue_refresh(
        &mut self,
        subject: String,
        token_id: String,
        family_id: String,
    ) -> wasmtime::Result<RefreshToken> {
        Ok(self.tokens.issue_refresh(&subject, &token_id, &family_id))
    }

    async fn verify_refresh(
        &mut self,
        token: String,
    ) -> wasmtime::Result<Result<RefreshClaims, TokenError>> {
        Ok(self.tokens.verify_refresh(&token).map_err(|e| match e {
            VerifyError::Expired => TokenError::Expired,
            VerifyError::Invalid => TokenError::Invalid,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        let secrets = Secrets {
            access: "a".repeat(32),
            refresh: "r".repeat(32),
        };
        let settings = TokenSettings {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 86400),
        };
        Tokens::new(&settings, &secrets)
    }

    #[test]
    fn access_round_trip_and_no_cross_use() {
        let t = tokens();
        let access = t.issue_access("u1", "admin");
        let claims = t.verify_access(&access.token).expect("valid");
        assert_eq!((claims.sub.as_str(), claims.role.as_str()), ("u1", "admin"));
        let refresh = t.issue_refresh("u1", "t1", "f1");
        assert_eq!(
            t.verify_access(&refresh.token).unwrap_err(),
            VerifyError::Invalid
        );
        assert_eq!(
            t.verify_refresh(&access.token).unwrap_err(),
            VerifyError::Invalid
        );
        let r = t.verify_refresh(&refresh.token).expect("valid refresh");
        assert_eq!((r.token_id.as_str(), r.family_id.as_str()), ("t1", "f1"));
    }

    #[tokio::test]
    async fn components_see_why_a_refresh_token_is_refused() {
        use wit::Host as _;
        let t = tokens();
        let mut ctx = TokensCtx { tokens: &t };
        let refresh = ctx
            .issue_refresh("u1".into(), "t1".into(), "f1".into())
            .await
            .expect("call");
        let claims = ctx.verify_refresh(refresh.token).await.expect("call");
        assert_eq!(claims.expect("valid").subject, "u1");
        let access = ctx
            .issue_access("u1".into(), "user".into())
            .await
            .expect("call");
        let refused = ctx.verify_refresh(access.token).await.expect("call");
        assert!(matches!(refused, Err(TokenError::Invalid)));
    }

    #[test]
    fn tampered_token_is_invalid() {
        let t = tokens();
        let mut token = t.issue_access("u1", "user").token;
        token.push('x');
        assert_eq!(t.verify_access(&token).unwrap_err(), VerifyError::Invalid);
    }
}
