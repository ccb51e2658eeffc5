//! The `notifications` outbox as the sender sees it: claiming a due row, settling it after a
//! send, and clearing old rows.
//!
//! A claim is one conditional `UPDATE` (state `sending` + the claim time): of senders racing for
//! a row — replicas, overlapping ticks — one gets it, because the state is checked again on the
//! row it updates. A row left `sending` by a Core that died is due again after [`LEASE_MS`]; the
//! Bot API has no idempotency key, so that one message may arrive twice, and no message is lost.

use nexuma_sdk::db::{self, Row};
use nexuma_sdk::ApiError;

/// How long a claim holds. Longer than any tick can run (the component deadline is 10 s), so a
/// live sender's row is never taken from it.
pub const LEASE_MS: i64 = 30_000;
/// Failed deliveries given up after this many attempts.
pub const MAX_ATTEMPTS: i64 = 12;
/// Backoff after an unavailable Bot API: 5 s, doubling, at most 30 min.
const BACKOFF_BASE_MS: i64 = 5_000;
const BACKOFF_MAX_MS: i64 = 30 * 60_000;
/// Sent and failed rows are kept this long for operators, then deleted.
const KEPT_MS: i64 = 14 * 24 * 3_600_000;

/// What a due row is pending or stalled: the condition of both the pick and the update.
const DUE: &str = "((state = 'pending' AND next_attempt_at <= $1) \
                   OR (state = 'sending' AND claimed_at < $2))";

/// A claimed message.
pub struct Claimed {
    pub id: i64,
    pub user_id: String,
    pub kind: String,
    pub params: serde_json::Value,
    /// Attempts including this one.
    pub attempts: i64,
    /// The claim's time: settling matches it, so a stale sender never settles a row another
    /// sender has taken since.
    pub claimed_at: i64,
}

impl Claimed {
    fn from_row(row: Row<'_>, claimed_at: i64) -> Result<Self, ApiError> {
        Ok(Claimed {
            id: row.i64("id")?,
            user_id: row.string("user_id")?,
            kind: row.string("kind")?,
            // A row the SDK wrote is a JSON object; anything else renders without values.
            params: serde_json::from_str(row.str("params")?).unwrap_or_default(),
            attempts: row.i64("attempts")?,
            claimed_at,
        })
    }
}

/// Takes the most overdue due message, if any.
pub fn claim(now: i64) -> Result<Option<Claimed>, ApiError> {
    let rows = db::query(
        &format!(
            "UPDATE notifications SET state = 'sending', claimed_at = $1, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM notifications WHERE {DUE} \
                         ORDER BY next_attempt_at, id LIMIT 1) AND {DUE} \
             RETURNING id, user_id, kind, params, attempts"
        ),
        &[now.into(), (now - LEASE_MS).into()],
    )?;
    rows.first().map(|r| Claimed::from_row(r, now)).transpose()
}

/// How a claimed message ends for now.
pub enum Outcome {
    Sent,
    /// Given up: the reason.
    Failed(String),
    /// Tried again at the time; `counts` says whether this attempt counts toward giving up (a
    /// rate limit or a missing token is no fault of the message).
    Retry {
        at: i64,
        error: String,
        counts: bool,
    },
}

/// Settles `msg` as `outcome` at `now`.
pub fn settle(msg: &Claimed, outcome: Outcome, now: i64) -> Result<(), ApiError> {
    let (state, next, error, refund) = match outcome {
        Outcome::Sent => ("sent", now, None, 0),
        Outcome::Failed(why) => ("failed", now, Some(why), 0),
        Outcome::Retry { at, error, counts } => ("pending", at, Some(error), i64::from(!counts)),
    };
    let sent_at = (state == "sent").then_some(now);
    db::execute(
        "UPDATE notifications SET state = $3, next_attempt_at = $4, last_error = $5, \
         attempts = attempts - $6, claimed_at = NULL, sent_at = COALESCE($7, sent_at) \
         WHERE id = $1 AND state = 'sending' AND claimed_at = $2",
        &[
            msg.id.into(),
            msg.claimed_at.into(),
            state.into(),
            next.into(),
            error.into(),
            refund.into(),
            sent_at.into(),
        ],
    )?;
    Ok(())
}

/// When an unavailable send is tried again: `None` once the attempts are spent.
pub fn backoff(attempts: i64, now: i64) -> Option<i64> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exponent = attempts.clamp(1, 20) - 1;
    Some(now + (BACKOFF_BASE_MS << exponent).min(BACKOFF_MAX_MS))
}

/// Deletes sent and failed rows past their time.
pub fn housekeeping(now: i64) -> Result<u64, ApiError> {
    Ok(db::execute(
        "DELETE FROM notifications WHERE state IN ('sent', 'failed') AND created_at < $1",
        &[(now - KEPT_MS).into()],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_gives_up() {
        assert_eq!(backoff(1, 0), Some(5_000));
        assert_eq!(backoff(2, 0), Some(10_000));
        assert_eq!(backoff(3, 0), Some(20_000));
        assert_eq!(backoff(MAX_ATTEMPTS - 1, 0), Some(BACKOFF_MAX_MS));
        assert_eq!(backoff(MAX_ATTEMPTS, 0), None);
    }
}
