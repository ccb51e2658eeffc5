//! Telegram through the host, which holds the bot token: Login Widget checks and bot messages.
//!
//! `telegram::send(chat_id, text)` sends one plain-text message; its [`SendError`](crate::telegram::SendError) says whether
//! to wait (`RateLimited`), try again later (`Unavailable`) or give up (`Rejected`,
//! `NotConfigured`).

pub use crate::bindings::nexuma::core::telegram::{bot_id, check_login, send_message, SendError};

/// Whether a bot token is configured: without one nothing can be sent, so nothing is queued.
pub fn configured() -> bool {
    bot_id().is_some()
}

/// Sends `text` to the chat `chat_id` (a user's Telegram id).
pub fn send(chat_id: i64, text: &str) -> Result<(), SendError> {
    send_message(chat_id, text)
}

impl SendError {
    /// A short description for logs and the outbox's `last_error`.
    pub fn describe(&self) -> String {
        match self {
            SendError::NotConfigured => "no bot token is configured".into(),
            SendError::RateLimited(secs) => format!("rate limited: retry after {secs} s"),
            SendError::Rejected(why) => format!("rejected: {why}"),
            SendError::Unavailable(why) => format!("unavailable: {why}"),
        }
    }
}
