//! The `send` job: takes due messages from the outbox one at a time, writes each with its
//! kind's template and sends it to the recipient's Telegram chat.
//!
//! A tick is bounded so it ends well within the component deadline: at most [`MAX_PER_TICK`]
//! messages, and none started once [`START_WITHIN_MS`] has passed. A rate limit (429) pauses
//! every send until Telegram's `retry_after` (a key-value entry all replicas read), an unavailable
//! Bot API ends the tick, so neither is hammered.

use std::collections::BTreeMap;

use nexuma_sdk::db::Pool;
use nexuma_sdk::notify::{self, Kind};
use nexuma_sdk::telegram::{self, SendError};
use nexuma_sdk::{clock, db, kv, log, ApiError};

use crate::outbox::{self, Claimed, Outcome};
use crate::template;

/// Messages one tick sends at most (Telegram allows about 30 a second per bot).
const MAX_PER_TICK: usize = 20;
/// No send starts later than this into a tick: a send may wait out the host's timeout.
const START_WITHIN_MS: i64 = 2_000;
/// Until when (epoch ms) Telegram asked every send to wait.
const PAUSE_KEY: &str = "notify:paused-until";
/// How long sends wait when the bot token is gone (rows written before it was removed).
const NO_TOKEN_WAIT_MS: i64 = 60_000;

/// Whether to go on with the tick after a message.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Next,
    Stop,
}

/// One tick; the number of messages sent.
pub fn tick() -> Result<u32, ApiError> {
    let started = clock::now_ms();
    if paused(started) {
        return Ok(0);
    }
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut sent = 0;
    for _ in 0..MAX_PER_TICK {
        let now = clock::now_ms();
        if now - started > START_WITHIN_MS {
            break;
        }
        let Some(msg) = outbox::claim(now)? else {
            break;
        };
        let (flow, delivered) = deliver(&msg, &mut texts)?;
        sent += u32::from(delivered);
        if flow == Flow::Stop {
            break;
        }
    }
    Ok(sent)
}

/// Sends one claimed message and settles it; whether to go on, and whether it was delivered.
fn deliver(msg: &Claimed, texts: &mut BTreeMap<String, String>) -> Result<(Flow, bool), ApiError> {
    let (chat, kind) = match (recipient(&msg.user_id)?, notify::kind(&msg.kind)) {
        (Ok(chat), Some(kind)) => (chat, kind),
        (Err(why), _) => return give_up(msg, why),
        (_, None) => return give_up(msg, format!("unknown kind {}", msg.kind)),
    };
    let text = template::render(text_of(kind, texts)?, &msg.params);
    let result = telegram::send(chat, &text);
    let now = clock::now_ms();
    let (outcome, flow, pause) = judge(msg.attempts, &result, now);
    if let Some(until) = pause {
        pause_until(until, now);
    }
    if let Err(err) = &result {
        log::warn(
            "telegram message not delivered",
            &[
                ("notificationId", &msg.id.to_string()),
                ("error", &err.describe()),
            ],
        );
    }
    outbox::settle(msg, outcome, now)?;
    Ok((flow, result.is_ok()))
}

fn give_up(msg: &Claimed, why: String) -> Result<(Flow, bool), ApiError> {
    outbox::settle(msg, Outcome::Failed(why), clock::now_ms())?;
    Ok((Flow::Next, false))
}

/// What a send's result means for the message (after `attempts` attempts), the tick, and every
/// sender (a pause until then).
fn judge(attempts: i64, result: &Result<(), SendError>, now: i64) -> (Outcome, Flow, Option<i64>) {
    let Err(err) = result else {
        return (Outcome::Sent, Flow::Next, None);
    };
    let error = err.describe();
    match err {
        SendError::RateLimited(secs) => {
            let at = now + i64::from(*secs) * 1000;
            let retry = Outcome::Retry {
                at,
                error,
                counts: false,
            };
            (retry, Flow::Stop, Some(at))
        }
        SendError::NotConfigured => {
            let at = now + NO_TOKEN_WAIT_MS;
            let retry = Outcome::Retry {
                at,
                error,
                counts: false,
            };
            (retry, Flow::Stop, Some(at))
        }
        SendError::Rejected(_) => (Outcome::Failed(error), Flow::Next, None),
        SendError::Unavailable(_) => match outbox::backoff(attempts, now) {
            Some(at) => (
                Outcome::Retry {
                    at,
                    error,
                    counts: true,
                },
                Flow::Stop,
                None,
            ),
            None => (Outcome::Failed(error), Flow::Stop, None),
        },
    }
}

/// The recipient's chat, read at send time: an account that unlinked Telegram or turned
/// notifications off since the message was written gets nothing (`Err`: why).
fn recipient(user_id: &str) -> Result<Result<i64, String>, ApiError> {
    let rows = db::query(
        "SELECT telegram_id, telegram_notifications FROM users WHERE id = $1",
        &[user_id.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(Err("the recipient no longer exists".into()));
    };
    if !row.bool("telegram_notifications")? {
        return Ok(Err("the recipient turned notifications off".into()));
    }
    Ok(match row.opt_str("telegram_id")? {
        None => Err("the recipient has no Telegram account".into()),
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| format!("the recipient's Telegram id {raw:?} is not a number")),
    })
}

/// The text of `kind`, read once per tick.
fn text_of<'a>(kind: &Kind, texts: &'a mut BTreeMap<String, String>) -> Result<&'a str, ApiError> {
    if !texts.contains_key(kind.name) {
        texts.insert(kind.name.to_string(), template::current(&Pool, kind)?);
    }
    Ok(texts
        .get(kind.name)
        .map(String::as_str)
        .unwrap_or(kind.default_text))
}

/// Whether Telegram asked to wait past `now`. A key-value store that cannot answer pauses
/// nothing: each message still keeps its own retry time.
fn paused(now: i64) -> bool {
    match kv::get(PAUSE_KEY) {
        Ok(value) => value
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|until| until > now),
        Err(err) => {
            log::warn("send pause not read", &[("error", &err.message)]);
            false
        }
    }
}

fn pause_until(until: i64, now: i64) {
    let ttl = u64::try_from(until - now).unwrap_or(0).max(1);
    if let Err(err) = kv::set(PAUSE_KEY, &until.to_string(), Some(ttl)) {
        log::warn("send pause not stored", &[("error", &err.message)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_waits_and_pauses_every_send_without_counting() {
        let (outcome, flow, pause) = judge(3, &Err(SendError::RateLimited(7)), 1_000);
        assert!(matches!(
            outcome,
            Outcome::Retry {
                at: 8_000,
                counts: false,
                ..
            }
        ));
        assert_eq!((flow, pause), (Flow::Stop, Some(8_000)));
    }

    #[test]
    fn an_unavailable_api_backs_off_then_gives_up() {
        let (outcome, flow, pause) = judge(1, &Err(SendError::Unavailable("502".into())), 0);
        assert!(matches!(
            outcome,
            Outcome::Retry {
                at: 5_000,
                counts: true,
                ..
            }
        ));
        assert_eq!((flow, pause), (Flow::Stop, None));
        let last = judge(
            outbox::MAX_ATTEMPTS,
            &Err(SendError::Unavailable("x".into())),
            0,
        );
        assert!(matches!(last.0, Outcome::Failed(_)));
    }

    #[test]
    fn a_rejection_fails_the_message_only() {
        let (outcome, flow, _) = judge(1, &Err(SendError::Rejected("blocked".into())), 0);
        assert!(matches!(outcome, Outcome::Failed(why) if why.contains("blocked")));
        assert_eq!(flow, Flow::Next);
        assert!(matches!(judge(1, &Ok(()), 0).0, Outcome::Sent));
    }
}
