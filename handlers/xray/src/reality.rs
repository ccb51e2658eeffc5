//! REALITY keys: X25519, base64url without padding (what `xray x25519` prints).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use x25519_dalek::{PublicKey, StaticSecret};

#[derive(Debug, PartialEq, Eq)]
pub struct KeyError;

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("must be an X25519 private key: 32 bytes in base64url without padding (43 characters), as `xray x25519` prints")
    }
}

/// The public key of a private key, both in base64url without padding.
pub fn public_key(private: &str) -> Result<String, KeyError> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(private.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(KeyError)?;
    let public = PublicKey::from(&StaticSecret::from(bytes));
    Ok(URL_SAFE_NO_PAD.encode(public.as_bytes()))
}

/// A key pair (private, public) from 32 random bytes.
pub fn key_pair(random: [u8; 32]) -> (String, String) {
    let secret = StaticSecret::from(random);
    let public = PublicKey::from(&secret);
    (
        URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        URL_SAFE_NO_PAD.encode(public.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_follow_from_private_keys() {
        // RFC 7748 section 6.1: Alice's private and public key.
        let private = URL_SAFE_NO_PAD.encode(
            (0..32)
                .map(|i| {
                    u8::from_str_radix(
                        &"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
                            [i * 2..i * 2 + 2],
                        16,
                    )
                    .unwrap()
                })
                .collect::<Vec<u8>>(),
        );
        let expected = URL_SAFE_NO_PAD.encode(
            (0..32)
                .map(|i| {
                    u8::from_str_radix(
                        &"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
                            [i * 2..i * 2 + 2],
                        16,
                    )
                    .unwrap()
                })
                .collect::<Vec<u8>>(),
        );
        assert_eq!(public_key(&private), Ok(expected));
        assert_eq!(public_key("short"), Err(KeyError));
        let (private, public) = key_pair([7; 32]);
        assert_eq!(public_key(&private), Ok(public));
    }
}
