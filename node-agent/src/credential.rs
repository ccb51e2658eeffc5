//! How a user's `{name, key}` becomes what the core needs: a stable email and a credential.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::grpc::client::xray_cipher;
use crate::grpc::Account;
use crate::proxy::{Flavor, Inbound, Protocol};

/// The email the core knows a user by, in every inbound. Derived from the name alone so that it
/// is stable across agent and core restarts, ASCII, lowercase (the core compares emails
/// case-insensitively) and free of the `>>>` separator of stats counter names.
pub fn email_for(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("n{}", &hex::encode(digest)[..24])
}

/// The VLESS/VMess id for a key: the key itself when it is a UUID, else its UUIDv5 in the nil
/// namespace — the mapping Xray applies to custom ids, so a subscription built elsewhere can
/// compute the same id.
pub fn uuid_for(key: &str) -> Uuid {
    let looks_like_uuid = key.len() == 36 || key.len() == 32;
    match Uuid::try_parse(key) {
        Ok(id) if looks_like_uuid => id,
        _ => Uuid::new_v5(&Uuid::nil(), key.as_bytes()),
    }
}

/// The account a user with `key` gets in `inbound`, or why the inbound takes no users.
pub fn account_for(inbound: &Inbound, key: &str, flavor: Flavor) -> Result<Account, String> {
    inbound.takes_users(flavor).map_err(str::to_owned)?;
    match &inbound.protocol {
        Protocol::Vless => Ok(Account::Vless {
            id: uuid_for(key).to_string(),
            flow: inbound.flow.clone(),
        }),
        Protocol::Vmess => Ok(Account::Vmess {
            id: uuid_for(key).to_string(),
        }),
        Protocol::Trojan => Ok(Account::Trojan {
            password: key.to_owned(),
        }),
        Protocol::Shadowsocks if inbound.method.starts_with("2022-") => {
            Ok(Account::Shadowsocks2022 {
                key: key.to_owned(),
            })
        }
        Protocol::Shadowsocks => match xray_cipher(&inbound.method) {
            Some(cipher) => Ok(Account::Shadowsocks {
                password: key.to_owned(),
                cipher,
            }),
            None => Err(format!(
                "unsupported Shadowsocks method `{}`",
                inbound.method
            )),
        },
        Protocol::Other(p) => Err(format!("protocol `{p}` takes no users")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_keys_pass_through() {
        let id = "3f0c2a4e-8a57-4a52-9b54-2d3c1e7f9a10";
        assert_eq!(uuid_for(id).to_string(), id);
    }

    #[test]
    fn other_keys_map_to_uuidv5_in_nil_namespace() {
        // Same value as Xray's `uuid.NewV5(uuid.Nil, "example")` (the custom-id mapping).
        assert_eq!(
            uuid_for("example").to_string(),
            Uuid::new_v5(&Uuid::nil(), b"example").to_string()
        );
        assert_eq!(uuid_for("example").get_version_num(), 5);
    }

    #[test]
    fn emails_are_stable_and_distinct() {
        assert_eq!(email_for("User1"), email_for("User1"));
        assert_ne!(email_for("User1"), email_for("user1"));
        assert!(!email_for("a>>>b").contains(">>>"));
        assert_eq!(email_for("x").len(), 25);
    }
}
