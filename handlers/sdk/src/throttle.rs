//! Attempt throttles in the key-value store: a fixed-window counter per subject (an email, a
//! client address, a user) that an attempt reserves *before* anything is checked.
//!
//! Counting first is what makes a limit exact under concurrency: `incr` is atomic, so of any
//! number of parallel guesses only the first `limit` see a count within it, and the rest are
//! refused before a password is looked at. Every login path (`auth`'s `/auth/login`, the
//! manager's `/ui/login`) goes through [`reserve_login`](crate::throttle::reserve_login), so they share one set of counters.

use crate::{kv, log, ApiError};

/// The window of every counter: it starts with the window's first attempt.
pub const WINDOW_MS: u64 = 15 * 60 * 1000;
/// Login attempts per email in one window (a successful login forgets them).
pub const LOGIN_EMAIL_LIMIT: i64 = 5;
/// Login attempts per client address in one window (a successful login gives its own back, so
/// a shared address is limited by its failures only).
pub const LOGIN_ADDRESS_LIMIT: i64 = 20;

/// Key prefixes of the login counters, shared by every login path.
const LOGIN_EMAIL_KEY: &str = "login-attempts:email:";
const LOGIN_ADDRESS_KEY: &str = "login-attempts:addr:";

/// One fixed-window counter with its limit.
pub struct Throttle {
    key: String,
    limit: i64,
}

impl Throttle {
    /// A counter under the key-value key `key` that allows `limit` attempts per window.
    pub fn new(key: impl Into<String>, limit: i64) -> Self {
        Throttle {
            key: key.into(),
            limit,
        }
    }

    /// Counts one attempt; past the limit it is refused with 429 `too_many_attempts` and a
    /// `retry-after` of the window's rest. A refused attempt stays counted.
    pub fn reserve(&self) -> Result<(), ApiError> {
        let count = kv::incr(&self.key, 1, Some(WINDOW_MS))?;
        if within(count, self.limit) {
            return Ok(());
        }
        let retry_after_ms = self.window_left(count)?;
        Err(ApiError::too_many_requests(
            "too_many_attempts",
            "too many attempts; try again later",
            retry_after_ms.div_ceil(1000),
        ))
    }

    /// Milliseconds until the window ends.
    fn window_left(&self, count: i64) -> Result<u64, ApiError> {
        match kv::ttl_ms(&self.key)? {
            Some(ms) => Ok(ms),
            None => {
                // A counter without expiry (its creator's expiry was lost) would lock forever.
                kv::set(&self.key, &count.to_string(), Some(WINDOW_MS))?;
                Ok(WINDOW_MS)
            }
        }
    }

    /// Gives one reserved attempt back. Best effort: a failure only leaves it counted.
    pub fn release(&self) {
        // With an expiry, so a counter that ended meanwhile is not recreated for ever.
        if let Err(err) = kv::incr(&self.key, -1, Some(WINDOW_MS)) {
            log::warn(
                "could not give back a throttled attempt",
                &[("detail", &err.message)],
            );
        }
    }

    /// Forgets every attempt of the window. Best effort: a failure only leaves the counter to
    /// expire.
    pub fn clear(&self) {
        if let Err(err) = kv::delete(&self.key) {
            log::warn(
                "could not clear a throttle counter",
                &[("detail", &err.message)],
            );
        }
    }
}

/// Whether the `count`-th attempt is within `limit`.
fn within(count: i64, limit: i64) -> bool {
    count <= limit
}

/// A login attempt that passed its throttles, to settle once the password is checked.
pub struct LoginAttempt {
    email: Throttle,
    address: Option<Throttle>,
}

/// Reserves a login attempt for `email` from the client address `remote_addr` (empty: unknown,
/// only the email counts) — before the account is looked up or a password checked. The address
/// is counted first, so an address already locked out adds nothing to the emails it tries.
pub fn reserve_login(email: &str, remote_addr: &str) -> Result<LoginAttempt, ApiError> {
    let address = (!remote_addr.is_empty())
        .then(|| Throttle::new(address_key(remote_addr), LOGIN_ADDRESS_LIMIT));
    if let Some(t) = &address {
        t.reserve()?;
    }
    let email = Throttle::new(email_key(email), LOGIN_EMAIL_LIMIT);
    email.reserve()?;
    Ok(LoginAttempt { email, address })
}

impl LoginAttempt {
    /// The password was right and a session is given: the email's attempts are forgotten and
    /// the address gets this one back. Anything else (a wrong password, an account that may not
    /// log in here) leaves both counted.
    pub fn succeeded(self) {
        self.email.clear();
        if let Some(t) = &self.address {
            t.release();
        }
    }

    /// The server could not decide the attempt (the database was unreachable, say): it was no
    /// guess, so both counters get it back — an outage never locks accounts out.
    pub fn undecided(self) {
        self.email.release();
        if let Some(t) = &self.address {
            t.release();
        }
    }

    /// Settles the attempt by how it ended: a success, a refusal (4xx: stays counted), or an
    /// answer the server could not give (5xx: given back). Returns the outcome unchanged.
    pub fn settle<T>(self, outcome: Result<T, ApiError>) -> Result<T, ApiError> {
        match verdict(&outcome) {
            Verdict::Succeeded => self.succeeded(),
            Verdict::Refused => {}
            Verdict::Undecided => self.undecided(),
        }
        outcome
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Succeeded,
    Refused,
    Undecided,
}

fn verdict<T>(outcome: &Result<T, ApiError>) -> Verdict {
    match outcome {
        Ok(_) => Verdict::Succeeded,
        Err(err) if err.status >= 500 => Verdict::Undecided,
        Err(_) => Verdict::Refused,
    }
}

/// The counter of an email, in the form every login path gives it (trimmed, lower-case).
fn email_key(email: &str) -> String {
    format!("{LOGIN_EMAIL_KEY}{}", email.trim().to_lowercase())
}

fn address_key(remote_addr: &str) -> String {
    format!("{LOGIN_ADDRESS_KEY}{}", remote_addr.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_login_path_counts_an_email_under_one_key() {
        assert_eq!(email_key(" Ann@Example.COM "), email_key("ann@example.com"));
        assert_eq!(
            email_key("ann@example.com"),
            "login-attempts:email:ann@example.com"
        );
        assert_eq!(address_key("10.0.0.1"), "login-attempts:addr:10.0.0.1");
        assert_ne!(email_key("10.0.0.1"), address_key("10.0.0.1"));
    }

    #[test]
    fn only_decided_failures_stay_counted() {
        assert_eq!(verdict(&Ok(())), Verdict::Succeeded);
        let refused: Result<(), ApiError> = Err(ApiError::unauthorized("x", "wrong password"));
        assert_eq!(verdict(&refused), Verdict::Refused);
        let blocked: Result<(), ApiError> = Err(ApiError::forbidden("x", "blocked"));
        assert_eq!(verdict(&blocked), Verdict::Refused);
        let outage: Result<(), ApiError> = Err(ApiError::unavailable("x", "database down"));
        assert_eq!(verdict(&outage), Verdict::Undecided);
    }

    #[test]
    fn the_limit_th_attempt_is_the_last_allowed() {
        assert!(within(1, LOGIN_EMAIL_LIMIT));
        assert!(within(LOGIN_EMAIL_LIMIT, LOGIN_EMAIL_LIMIT));
        assert!(!within(LOGIN_EMAIL_LIMIT + 1, LOGIN_EMAIL_LIMIT));
        // A give-back that landed after its window ended leaves a negative count: still allowed.
        assert!(within(-1, LOGIN_EMAIL_LIMIT));
    }
}
