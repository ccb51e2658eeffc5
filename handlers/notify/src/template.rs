//! Message texts: the operator's template for a kind (`notification_templates`), else the
//! built-in one; `{name}` placeholders filled from the message's parameters.

use nexuma_sdk::db::Executor;
use nexuma_sdk::notify::Kind;
use nexuma_sdk::ApiError;

/// Longest template, in characters.
pub const TEXT_MAX: usize = 2000;
/// Telegram's limit for one message, in characters.
const MESSAGE_MAX: usize = 4096;

/// One piece of a template: literal text or a `{name}` placeholder.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits `text` into pieces. A `{` starts a placeholder only when a name (an ASCII letter, then
/// letters and digits) and a `}` follow; any other brace is text, so none needs escaping.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let closed = after[name_len..].starts_with('}');
        let is_name = name_len > 0 && after.as_bytes()[0].is_ascii_alphabetic();
        if closed && is_name {
            out.push(Piece::Text(&rest[..open]));
            out.push(Piece::Placeholder(&after[..name_len]));
            rest = &after[name_len + 1..];
        } else {
            out.push(Piece::Text(&rest[..=open]));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// Checks an operator's text for `kind`: not blank, not too long, and every placeholder one the
/// kind has (else 400 naming it).
pub fn validate(kind: &Kind, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.chars().count() > TEXT_MAX {
        return Err(ApiError::validation(
            "text",
            format!("must be 1 to {TEXT_MAX} characters"),
        ));
    }
    for piece in pieces(text) {
        if let Piece::Placeholder(name) = piece {
            if !kind.placeholders.contains(&name) {
                return Err(ApiError::validation(
                    "text",
                    format!(
                        "unknown placeholder {{{name}}}; {} messages have {}",
                        kind.name,
                        list(kind.placeholders)
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn list(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
    names.join(", ")
}

/// `text` with its placeholders filled from `params` (a JSON object of strings); one without a
/// value stays as written. Cut to Telegram's limit.
pub fn render(text: &str, params: &serde_json::Value) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(name) => match params.get(name) {
                Some(serde_json::Value::String(v)) => out.push_str(v),
                Some(other) => out.push_str(&other.to_string()),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    if out.chars().count() > MESSAGE_MAX {
        out = out.chars().take(MESSAGE_MAX - 1).collect();
        out.push('…');
    }
    out
}

/// The operator's text for `kind`, if one is stored.
pub fn custom(db: &impl Executor, kind: &str) -> Result<Option<(String, i64)>, ApiError> {
    db.query(
        "SELECT text, updated_at FROM notification_templates WHERE kind = $1",
        &[kind.into()],
    )?
    .first()
    .map(|row| Ok((row.string("text")?, row.i64("updated_at")?)))
    .transpose()
}

/// The text messages of `kind` are written with now.
pub fn current(db: &impl Executor, kind: &Kind) -> Result<String, ApiError> {
    Ok(custom(db, kind.name)?
        .map(|(text, _)| text)
        .unwrap_or_else(|| kind.default_text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexuma_sdk::notify::{kind, KINDS};
    use serde_json::json;

    #[test]
    fn fills_placeholders_and_leaves_other_braces() {
        let params = json!({ "tariff": "Month", "timeLeft": "3 days" });
        assert_eq!(
            render("{tariff} ends in {timeLeft} {x} {} {1a} {", &params),
            "Month ends in 3 days {x} {} {1a} {"
        );
    }

    #[test]
    fn an_unknown_placeholder_is_named() {
        let k = kind("balance.deposit").expect("kind");
        assert!(validate(k, "+{amount}, now {balance}").is_ok());
        let err = validate(k, "+{amount} for {tariff}").expect_err("unknown");
        assert_eq!(err.status, 400);
        assert!(err.message.contains("{tariff}"), "{}", err.message);
        assert!(validate(k, "   ").is_err());
    }

    #[test]
    fn every_default_text_is_valid_for_its_kind() {
        for k in KINDS {
            validate(k, k.default_text).unwrap_or_else(|e| panic!("{}: {e}", k.name));
        }
    }

    #[test]
    fn long_messages_are_cut_to_telegrams_limit() {
        let long = "x".repeat(5000);
        let out = render("{error}", &json!({ "error": long }));
        assert_eq!(out.chars().count(), MESSAGE_MAX);
    }
}
