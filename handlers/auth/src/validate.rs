//! Field validation shared by registration, profile and admin updates.

use nexuma_sdk::ApiError;
use schemars::JsonSchema;
use serde::Deserialize;

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

/// Control characters (what `char::is_control` finds), as a JSON Schema pattern.
const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

// The body fields below are checked by the functions after them; their doc comments are what
// the OpenAPI document says of them.

/// An email address: surrounding whitespace is trimmed and the address lower-cased before it is
/// checked and stored, and `maxLength` counts the characters of that address; it must look like
/// `local@domain.tld`, with a local part of at most 64 bytes.
#[derive(Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Email(#[schemars(email, length(max = EMAIL_MAX))] pub String);

/// A new password, taken as it is (not trimmed); its length counts characters.
#[derive(Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Password(#[schemars(length(min = PASSWORD_MIN, max = PASSWORD_MAX))] pub String);

/// A display name: surrounding whitespace is trimmed, and `maxLength` counts the characters
/// left; no control characters; empty (after trimming) means no name.
#[derive(Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Name(#[schemars(length(max = NAME_MAX), regex(pattern = NO_CONTROL))] pub String);

/// Trims and lower-cases an email and checks it looks like `local@domain.tld` and has at most
/// [`EMAIL_MAX`] characters (characters, as the schema's `maxLength` counts). Deliberately loose:
/// the only real check of an address is mail reaching it.
pub fn email(field: &str, raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    if email.chars().count() > EMAIL_MAX || !looks_like_email(&email) {
        return Err(ApiError::validation(field, "must be a valid email address"));
    }
    Ok(email)
}

/// The local part's limit, in bytes (RFC 5321 counts octets).
pub const EMAIL_LOCAL_MAX_BYTES: usize = 64;

fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let no_bad_chars = |s: &str| {
        !s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    };
    !local.is_empty()
        && local.len() <= EMAIL_LOCAL_MAX_BYTES
        && no_bad_chars(local)
        && no_bad_chars(domain)
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

pub fn password(field: &str, password: &str) -> Result<(), ApiError> {
    let len = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&len) {
        return Err(ApiError::validation(
            field,
            format!("must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"),
        ));
    }
    Ok(())
}

/// A display name: trimmed, at most 100 characters; empty means "no name" (`None`).
pub fn name(field: &str, raw: &str) -> Result<Option<String>, ApiError> {
    let name = raw.trim();
    if name.chars().count() > NAME_MAX {
        return Err(ApiError::validation(
            field,
            format!("must be at most {NAME_MAX} characters long"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

/// JSON Schema of a PATCH body whose nulls mean "leave it": at least one of `fields` is there
/// and not null.
pub fn one_given(fields: &[&str]) -> serde_json::Value {
    fields
        .iter()
        .map(|field| {
            serde_json::json!({
                "required": [field],
                "properties": { *field: { "not": { "type": "null" } } },
            })
        })
        .collect()
}

/// For the PATCH types' tests: `T`'s schema asks for one of exactly `fields` ([`one_given`]),
/// and `given` (the handler's check) counts each of them when it is sent (`sample` gives a
/// value), never when it is null.
#[cfg(test)]
pub fn assert_one_given<T: serde::de::DeserializeOwned + JsonSchema>(
    fields: &[&str],
    sample: impl Fn(&str) -> serde_json::Value,
    given: impl Fn(&T) -> bool,
) {
    use serde_json::json;
    let schema = nexuma_sdk::schema_of::<T>();
    let names: Vec<_> = schema["anyOf"]
        .as_array()
        .expect("anyOf")
        .iter()
        .map(|one| one["required"][0].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, fields);
    for field in fields {
        assert!(schema["properties"].get(field).is_some(), "{field}");
        let only: T = serde_json::from_value(json!({ *field: sample(field) })).expect(field);
        assert!(given(&only), "{field}");
        let null: T = serde_json::from_value(json!({ *field: null })).expect(field);
        assert!(!given(&null), "{field}: null is left out");
    }
}

/// `value` must be one of `allowed`.
pub fn one_of<'a>(field: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .ok_or_else(|| {
            ApiError::validation(field, format!("must be one of {}", allowed.join(", ")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email("email", " Bob@Example.COM ").ok().as_deref(),
            Some("bob@example.com")
        );
        for bad in [
            "",
            "bob",
            "bob@",
            "@x.io",
            "bob@localhost",
            "a b@x.io",
            "a@b@x.io",
            "a@x..io",
            "a@.x.io",
            "a@x.io.",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
        // At most EMAIL_MAX characters, not bytes; counted after trimming.
        let long = |n: usize| format!("{}@{}.io", "é".repeat(32), "é".repeat(n - 36));
        assert!(email("email", &format!("  {}  ", long(EMAIL_MAX))).is_ok());
        assert!(email("email", &long(EMAIL_MAX + 1)).is_err());
    }

    /// The schema's pattern excludes exactly the characters `name` refuses.
    #[test]
    fn the_control_pattern_is_char_is_control() {
        assert_eq!(NO_CONTROL, r"^[^\u0000-\u001F\u007F-\u009F]*$");
        let in_pattern = |c: char| c <= '\u{1f}' || ('\u{7f}'..='\u{9f}').contains(&c);
        assert!((char::MIN..=char::MAX).all(|c| c.is_control() == in_pattern(c)));
    }

    #[test]
    fn passwords_and_names() {
        assert!(password("password", "1234567").is_err());
        assert!(password("password", "12345678").is_ok());
        assert!(password("password", &"x".repeat(128)).is_ok());
        assert!(password("password", &"x".repeat(129)).is_err());
        assert_eq!(name("name", "  ").ok(), Some(None));
        assert_eq!(name("name", " Ann ").ok(), Some(Some("Ann".to_string())));
        assert!(name("name", &"x".repeat(101)).is_err());
        // Lengths count characters, as JSON Schema's maxLength does.
        assert!(name("name", &"é".repeat(100)).is_ok());
        assert_eq!(
            one_of("role", "admin", &["user", "admin"]).ok(),
            Some("admin")
        );
        assert!(one_of("role", "root", &["user", "admin"]).is_err());
    }
}
