//! Node secrets: registration codes and keys are random, and only their SHA-256 is stored (the
//! host looks node keys up the same way: `node_credentials.key_hash`).

use std::fmt::Write as _;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nexuma_sdk::ApiError;
use sha2::{Digest, Sha256};

/// `n` random bytes from the host (`wasi:random`).
pub fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// A new secret: `N` random bytes in base64url without padding.
pub fn token<const N: usize>() -> Result<String, ApiError> {
    Ok(URL_SAFE_NO_PAD.encode(random::<N>()?))
}

/// SHA-256 as lower-case hex.
pub fn sha256_hex(secret: &str) -> String {
    let mut out = String::with_capacity(64);
    for byte in Sha256::digest(secret.as_bytes()) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
