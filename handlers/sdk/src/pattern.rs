//! JSON Schema `pattern`s for text checks schemars cannot state, written so that ECMA 262 (the
//! document's dialect), Python's `re` (Schemathesis) and Rust's regex read them alike: no `\s`
//! (whose set differs between them), only explicit classes.
//!
//! `#[schemars(regex(pattern = nexuma_sdk::pattern::NO_CONTROL))]`.

/// The characters `char::is_control` is true of (Unicode's `Cc`).
macro_rules! control {
    () => {
        r"\u0000-\u001f\u007f-\u009f"
    };
}

/// The characters `char::is_whitespace` is true of, which `str::trim` removes.
macro_rules! whitespace {
    () => {
        r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// No control characters (`char::is_control`).
pub const NO_CONTROL: &str = concat!("^[^", control!(), "]*$");

/// No control characters, and something besides whitespace: what is still there once trimmed.
pub const NOT_BLANK: &str = concat!(
    "^[^",
    control!(),
    "]*[^",
    control!(),
    whitespace!(),
    "][^",
    control!(),
    "]*$"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(pattern: &str) -> regex_lite::Regex {
        regex_lite::Regex::new(pattern).expect("pattern")
    }

    /// The classes are exactly `char::is_control` and `char::is_whitespace`, over every
    /// character below U+10000.
    #[test]
    fn the_classes_are_rusts() {
        let control = regex(concat!("^[", control!(), "]$"));
        let whitespace = regex(concat!("^[", whitespace!(), "]$"));
        for c in (0..0x1_0000).filter_map(char::from_u32) {
            let text = c.to_string();
            assert_eq!(control.is_match(&text), c.is_control(), "{c:?}");
            assert_eq!(whitespace.is_match(&text), c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn not_blank_is_what_a_trim_leaves() {
        let not_blank = regex(NOT_BLANK);
        let no_control = regex(NO_CONTROL);
        for (text, kept) in [
            ("a", true),
            (" a ", true),
            ("", false),
            (" \u{3000}", false),
        ] {
            assert_eq!(not_blank.is_match(text), kept, "{text:?}");
            assert_eq!(!text.trim().is_empty(), kept, "{text:?}");
        }
        assert!(!not_blank.is_match("a\u{7}") && !no_control.is_match("a\u{85}"));
        assert!(no_control.is_match("") && no_control.is_match("é ü"));
    }
}
