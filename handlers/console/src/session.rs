//! Who is using the console, and the session's cookie and form token.
//!
//! The session is the host's access-token cookie (`html::access_cookie`: HttpOnly,
//! SameSite=Strict, Secure behind an `https://` public URL): the host verifies it and hands the
//! account in `req.caller`, as it stands now. Every page an admin loads sets a freshly issued
//! token, so a session lasts while it is used and ends `JWT_EXPIRES_IN` after the last page.
//!
//! Forms carry a token kept in the key-value store per admin (`console:form:<id>`, made at
//! login): the host takes the cookie on a POST only from the Core's own pages (same origin),
//! and the form token is checked on top, so a page elsewhere cannot make a browser act.

use nexuma_sdk::{html, id, kv, log, tokens, ApiError, Request, Response};

use crate::form::Form;
use crate::page;

/// The form field that carries the form token.
pub const FORM_TOKEN: &str = "csrf";
/// How long a form token lives without a login: a day.
const FORM_TOKEN_TTL_MS: u64 = 24 * 3600 * 1000;

/// An admin using the console on this request.
pub struct Admin {
    pub id: String,
    /// A token issued for this request: the bearer of its API calls, and the renewed cookie.
    pub token: String,
    expires_in: u64,
    /// The form token every form on the page carries.
    pub form_token: String,
}

impl Admin {
    /// The `set-cookie` that renews the session with this request's token.
    pub fn cookie(&self) -> String {
        html::access_cookie(&self.token, self.expires_in)
    }
}

/// The admin behind the request; else the page to answer instead: the login form for an
/// anonymous caller (or an expired session), a refusal for an account that is not an admin.
pub fn admin(req: &Request) -> Result<Admin, Response> {
    let Some(caller) = req.caller.as_ref() else {
        return Err(page::redirect("/console/login", None));
    };
    if caller.role != "admin" {
        return Err(page::refusal(
            403,
            "This account may not use the console",
            "Only administrators can use the console. Sign in with an administrator's account.",
        ));
    }
    let form_token = form_token(&caller.id).map_err(page::failure)?;
    let token = tokens::issue_access(&caller.id, "admin");
    Ok(Admin {
        id: caller.id.clone(),
        token: token.token,
        expires_in: token.expires_in,
        form_token,
    })
}

/// The admin behind a form's POST, once its form token is the one this admin's pages carry;
/// else the page to answer (login, refusal, or 403 for a missing or stale form token).
pub fn admin_posting(req: &Request, form: &Form) -> Result<Admin, Response> {
    let admin = admin(req)?;
    let sent = form.get(FORM_TOKEN).unwrap_or_default();
    if !same(sent.as_bytes(), admin.form_token.as_bytes()) {
        log::info("console form refused", &[("reason", "form token")]);
        return Err(page::refusal(
            403,
            "This form has expired",
            "The form was not sent by this console, or it is older than your session. \
             Go back, reload the page and try again.",
        ));
    }
    Ok(admin)
}

/// Constant-time equality, so a guess learns nothing from the time a refusal takes.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn form_token_key(user_id: &str) -> String {
    format!("console:form:{user_id}")
}

/// The admin's form token, made when there is none (first page after a login, or expired).
fn form_token(user_id: &str) -> Result<String, ApiError> {
    let key = form_token_key(user_id);
    if let Some(token) = kv::get(&key)? {
        return Ok(token);
    }
    let token = id::new_v4();
    kv::set(&key, &token, Some(FORM_TOKEN_TTL_MS))?;
    Ok(token)
}

/// A fresh form token at login, so one from an earlier session stops working.
pub fn renew_form_token(user_id: &str) -> Result<(), ApiError> {
    kv::set(
        &form_token_key(user_id),
        &id::new_v4(),
        Some(FORM_TOKEN_TTL_MS),
    )?;
    Ok(())
}

/// Ends the admin's form token with the session.
pub fn end(user_id: &str) -> Result<(), ApiError> {
    kv::delete(&form_token_key(user_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_is_the_same() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
