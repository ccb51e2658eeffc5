//! JSON Schema patterns of free-text body fields, as the handlers check them: the ends are
//! trimmed (`str::trim`, Unicode White_Space) and what is left has no control characters
//! (`char::is_control`, Unicode Cc). ECMA-262 and Python regex syntax alike (no `\p`), so
//! every client's validator and the fuzzer read them the same way.

/// One character `str::trim` takes off the ends.
macro_rules! space {
    () => {
        r"[\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    };
}
/// One character that is not a control character.
macro_rules! printable {
    () => {
        r"[^\x00-\x1F\x7F-\x9F]"
    };
}
/// One character that is neither a control character nor white space.
macro_rules! visible {
    () => {
        r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    };
}

/// Text that may be blank (a reason, a link's name: blank is none).
pub const TEXT: &str = concat!("^", space!(), "*", printable!(), "*", space!(), "*$");
/// Text with something left after trimming (an idempotency key, a tariff's name).
pub const FILLED: &str = concat!(
    "^",
    space!(),
    "*",
    printable!(),
    "*",
    visible!(),
    printable!(),
    "*",
    space!(),
    "*$"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance;

    /// Each pattern matches exactly what the handlers' checks take, around every character of
    /// the first planes (where every control and white-space character is).
    #[test]
    fn the_patterns_take_what_the_checks_take() {
        let text = regex_lite::Regex::new(TEXT).expect("TEXT");
        let filled = regex_lite::Regex::new(FILLED).expect("FILLED");
        let req = nexuma_sdk::Request::with_query(&[]);
        let chars = (0..0x3100u32)
            .chain([0xFEFF, 0x1F600])
            .filter_map(char::from_u32);
        for c in chars {
            for sample in [
                c.to_string(),
                format!("a{c}"),
                format!("{c}a"),
                format!("a{c}b"),
                format!(" {c} "),
            ] {
                let reason_taken = balance::reason(Some(sample.clone())).is_ok();
                assert_eq!(text.is_match(&sample), reason_taken, "TEXT {sample:?}");
                let key_taken = balance::idempotency_key(&req, Some(sample.clone())).is_ok();
                assert_eq!(filled.is_match(&sample), key_taken, "FILLED {sample:?}");
            }
        }
    }
}
