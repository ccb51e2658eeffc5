//! `nexuma:core/telegram`: Telegram Login Widget checks and Bot API messages, keyed with the
//! host's bot token (which no component ever sees).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasmtime::component::HasData;

use crate::bindings::nexuma::core::telegram::{self as wit, SendError};
use crate::config::TelegramSettings;

/// Longest wait for the Bot API's answer to one message: well inside a job tick's deadline
/// (10 s), so a stuck send ends as `unavailable` and is retried, not cut off mid-tick.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The Telegram capability: checks login widget data and sends messages as the host's bot.
pub struct Telegram {
    token: Option<String>,
    /// The Bot API's base URL (`TELEGRAM_API_URL`), without a trailing slash.
    api_url: String,
    client: reqwest::Client,
}

/// The Bot API's answer: `{"ok": false, "error_code": 429, "description": "...",
/// "parameters": {"retry_after": 5}}` when it refuses.
#[derive(Deserialize)]
struct BotAnswer {
    ok: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<BotParameters>,
}

#[derive(Deserialize)]
struct BotParameters {
    #[serde(default)]
    retry_after: Option<u32>,
}

impl Telegram {
    /// `client` is the host's own, checked against the webpki roots (`Http::roots_client`).
    pub fn new(settings: &TelegramSettings, client: reqwest::Client) -> Self {
        Telegram {
            token: settings.bot_token.clone(),
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            client,
        }
    }

    /// `sendMessage` to one chat. The URL carries the token, so no error message names it.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<(), SendError> {
        let Some(token) = self.token.as_deref() else {
            return Err(SendError::NotConfigured);
        };
        let url = format!("{}/bot{token}/sendMessage", self.api_url);
        let body = serde_json::json!({
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": { "is_disabled": true },
        });
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(SEND_TIMEOUT)
            .send()
            .await
            .map_err(|e| SendError::Unavailable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendError::Unavailable(e.without_url().to_string()))?;
        judge(status, &bytes)
    }

    /// The numeric bot id that prefixes the bot token (`123456:ABC...`).
    pub fn bot_id(&self) -> Option<String> {
        let token = self.token.as_deref()?;
        let id = token.split(':').next()?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
    }

    /// HMAC-SHA256 over the data-check string, keyed with SHA-256 of the bot token,
    /// compared in constant time.
    pub fn check_login(&self, data_check_string: &str, hash_hex: &str) -> bool {
        let Some(token) = self.token.as_deref() else {
            return false;
        };
        let Ok(expected) = hex::decode(hash_hex.trim()) else {
            return false;
        };
        let key = Sha256::digest(token.as_bytes());
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(data_check_string.as_bytes());
        mac.verify_slice(&expected).is_ok()
    }
}

/// What the Bot API's status and answer mean for the message.
fn judge(status: u16, body: &[u8]) -> Result<(), SendError> {
    let answer: Option<BotAnswer> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) && answer.as_ref().is_some_and(|a| a.ok) {
        return Ok(());
    }
    let description = answer
        .as_ref()
        .and_then(|a| a.description.clone())
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        429 => {
            let after = answer
                .and_then(|a| a.parameters)
                .and_then(|p| p.retry_after)
                .unwrap_or(1);
            Err(SendError::RateLimited(after.max(1)))
        }
        400..=499 => Err(SendError::Rejected(description)),
        _ => Err(SendError::Unavailable(description)),
    }
}

/// What `telegram` reaches of an instance's store: the bot behind the host's token.
pub struct TelegramCtx<'a> {
    /// The Core's bot client, shared by every instance.
    pub telegram: &'a Telegram,
}

/// Links `telegram` to a [`TelegramCtx`] view of the store.
pub struct TelegramView;

impl HasData for TelegramView {
    type Data<'a> = TelegramCtx<'a>;
}

impl wit::Host for TelegramCtx<'_> {
    async fn bot_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.telegram.bot_id())
    }

    async fn check_login(
        &mut self,
        data_check_string: String,
        hash: String,
    ) -> wasmtime::Result<bool> {
        Ok(self.telegram.check_login(&data_check_string, &hash))
    }

    async fn send_message(
        &mut self,
        chat_id: i64,
        text: String,
    ) -> wasmtime::Result<Result<(), SendError>> {
        Ok(self.telegram.send_message(chat_id, &text).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(token: &str, data: &str) -> String {
        let key = Sha256::digest(token.as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
        mac.update(data.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn with_token(token: Option<&str>) -> Telegram {
        let settings = TelegramSettings {
            bot_token: token.map(str::to_string),
            api_url: "http://127.0.0.1:9".into(),
        };
        Telegram::new(&settings, reqwest::Client::new())
    }

    #[test]
    fn accepts_the_right_hash_only() {
        let t = with_token(Some("123456:secret"));
        assert_eq!(t.bot_id().as_deref(), Some("123456"));
        let data = "auth_date=1700000000\nfirst_name=Ann\nid=42";
        assert!(t.check_login(data, &sign("123456:secret", data)));
        assert!(!t.check_login(data, &sign("123456:other", data)));
        assert!(!t.check_login("id=43", &sign("123456:secret", data)));
        assert!(!t.check_login(data, "zz"));
    }

    #[tokio::test]
    async fn without_a_token_nothing_is_sent() {
        use wit::Host as _;
        let t = with_token(None);
        let mut ctx = TelegramCtx { telegram: &t };
        let sent = ctx.send_message(42, "hi".into()).await.expect("call");
        assert!(matches!(sent, Err(SendError::NotConfigured)));
        assert_eq!(ctx.bot_id().await.expect("call"), None);
    }

    #[test]
    fn without_a_token_nothing_passes() {
        let t = with_token(None);
        assert_eq!(t.bot_id(), None);
        assert!(!t.check_login("a=b", &sign("", "a=b")));
    }

    #[test]
    fn reads_the_bot_api_verdict() {
        assert!(judge(200, br#"{"ok":true,"result":{}}"#).is_ok());
        let limited = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert!(matches!(
            judge(429, limited),
            Err(SendError::RateLimited(7))
        ));
        let blocked = br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert!(
            matches!(judge(403, blocked), Err(SendError::Rejected(d)) if d.contains("blocked"))
        );
        assert!(matches!(
            judge(502, b"Bad Gateway"),
            Err(SendError::Unavailable(_))
        ));
        // A 200 that is not the Bot API's answer is no delivery.
        assert!(matches!(
            judge(200, b"<html>"),
            Err(SendError::Unavailable(_))
        ));
    }
}
