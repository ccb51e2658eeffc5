//! `nexuma:core/passwords`: argon2id at native speed, off the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use wasmtime::component::HasData;

use crate::bindings::nexuma::core::passwords as wit;

/// Hashes with argon2id's default parameters (19 MiB, 2 passes) into a PHC string.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
}

/// False for a wrong password and for a hash that cannot be read.
pub async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// `passwords` reaches nothing of an instance's store; this is both its view and its link.
pub struct Passwords;

impl HasData for Passwords {
    type Data<'a> = Passwords;
}

impl wit::Host for Passwords {
    async fn hash(&mut self, password: String) -> wasmtime::Result<String> {
        hash(password).await.map_err(wasmtime::Error::from_anyhow)
    }

    async fn verify(&mut self, password: String, hash: String) -> wasmtime::Result<bool> {
        Ok(verify(password, hash).await)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_verifies_only_the_same_password() {
        let h = super::hash("correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse".into(), h.clone()).await);
        assert!(!super::verify("wrong horse".into(), h).await);
        assert!(!super::verify("x".into(), "not a hash".into()).await);
    }
}
