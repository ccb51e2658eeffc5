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
