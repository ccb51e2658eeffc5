//! The access key check.

use subtle::ConstantTimeEq;

/// Compares the presented key with the node's in constant time (for keys of equal length;
/// a length mismatch is rejected without looking at the bytes).
pub fn key_matches(expected: &[u8], presented: Option<&[u8]>) -> bool {
    match presented {
        Some(p) => bool::from(expected.ct_eq(p)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_key() {
        assert!(key_matches(b"secret", Some(b"secret")));
        assert!(!key_matches(b"secret", Some(b"secreT")));
        assert!(!key_matches(b"secret", Some(b"secret2")));
        assert!(!key_matches(b"secret", None));
    }
}
