//! `nexuma:core/telegram`: Telegram Login Widget checks keyed with the host's bot token.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::bindings::nexuma::core::telegram as wit;
use crate::runtime::State;

pub struct Telegram {
    token: Option<String>,
}

impl Telegram {
    pub fn new(token: Option<String>) -> Self {
        Telegram { token }
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

impl wit::Host for State {
    async fn bot_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.caps.telegram.bot_id())
    }

    async fn check_login(
        &mut self,
        data_check_string: String,
        hash: String,
    ) -> wasmtime::Result<bool> {
        Ok(self.caps.telegram.check_login(&data_check_string, &hash))
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

    #[test]
    fn accepts_the_right_hash_only() {
        let t = Telegram::new(Some("123456:secret".into()));
        assert_eq!(t.bot_id().as_deref(), Some("123456"));
        let data = "auth_date=1700000000\nfirst_name=Ann\nid=42";
        assert!(t.check_login(data, &sign("123456:secret", data)));
        assert!(!t.check_login(data, &sign("123456:other", data)));
        assert!(!t.check_login("id=43", &sign("123456:secret", data)));
        assert!(!t.check_login(data, "zz"));
    }

    #[test]
    fn without_a_token_nothing_passes() {
        let t = Telegram::new(None);
        assert_eq!(t.bot_id(), None);
        assert!(!t.check_login("a=b", &sign("", "a=b")));
    }
}
