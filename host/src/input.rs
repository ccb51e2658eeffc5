//! Checks on raw request input that hold for every route, before any component runs.
//!
//! NUL is refused everywhere at the edge: no field of the API means to accept one, PostgreSQL
//! rejects it in text (a 500 deep inside a component otherwise), and SQLite would store a
//! string that C-based tools cut short.

use http::{HeaderMap, StatusCode};

use crate::response::{error, Response};

/// The query's name/value pairs, decoded once: checked here, then handed to the component.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The path parameter or query field holding a NUL, described for an error message.
pub fn nul_field(params: &[(String, String)], query: &[(String, String)]) -> Option<String> {
    if let Some((name, _)) = params.iter().find(|(_, v)| v.contains('\0')) {
        return Some(format!("the path parameter {name}"));
    }
    let (name, _) = query
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))?;
    Some(format!("the query parameter {:?}", name.replace('\0', "")))
}

/// 400 naming the path parameter or query field that holds a NUL, if one does.
pub fn nul_refusal(params: &[(String, String)], query: &[(String, String)]) -> Option<Response> {
    let field = nul_field(params, query)?;
    Some(error(
        StatusCode::BAD_REQUEST,
        "nul_character",
        &format!("{field} contains a NUL character"),
    ))
}

/// 400 when the body holds a NUL (`body_has_nul`).
pub fn body_nul_refusal(body: &[u8], headers: &HeaderMap) -> Option<Response> {
    body_has_nul(body, headers).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "nul_character",
            "the request body contains a NUL character, which no field accepts",
        )
    })
}

/// Whether a body carries a NUL: a raw 0 byte, a JSON `\u0000` escape, or `%00` in a form.
pub fn body_has_nul(body: &[u8], headers: &HeaderMap) -> bool {
    if body.contains(&0) {
        return true;
    }
    json_escape_has_nul(body) || (is_form(headers) && form_has_nul(body))
}

/// A `\u0000` escape that is one (preceded by an odd run of backslashes), not the text
/// `\\u0000` (an escaped backslash followed by `u0000`).
fn json_escape_has_nul(body: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"u0000";
    body.windows(ESCAPE.len())
        .enumerate()
        .filter(|(_, w)| w.eq_ignore_ascii_case(ESCAPE))
        .any(|(at, _)| {
            let backslashes = body[..at].iter().rev().take_while(|&&b| b == b'\\').count();
            backslashes % 2 == 1
        })
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

fn form_has_nul(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(k, v)| k.contains('\0') || v.contains('\0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> bool {
        body_has_nul(body.as_bytes(), &HeaderMap::new())
    }

    #[test]
    fn json_nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(json(r#"{"email":"a\u0000@x.io"}"#));
        assert!(json(r#"{"email":"a\U0000"}"#));
        assert!(json(r#"{"a":"\\\u0000"}"#), "backslash, then a NUL");
        assert!(!json(r#"{"a":"\\u0000"}"#), "the six characters \\u0000");
        assert!(!json(r#"{"a":"u0000"}"#), "no backslash");
        assert!(json("raw\0byte"));
    }

    #[test]
    fn the_field_holding_a_nul_is_named() {
        let params = vec![("id".to_string(), "a\0".to_string())];
        assert_eq!(
            nul_field(&params, &[]).as_deref(),
            Some("the path parameter id")
        );
        let query = query_pairs(Some("status=a%00&x=1"));
        assert_eq!(
            nul_field(&[], &query).as_deref(),
            Some("the query parameter \"status\"")
        );
        assert_eq!(nul_field(&[], &query_pairs(Some("a=b"))), None);
    }

    #[test]
    fn forms_are_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().expect("header"),
        );
        assert!(body_has_nul(b"email=a%00b&password=x", &headers));
        assert!(!body_has_nul(b"email=a%20b&password=x", &headers));
        assert!(
            !body_has_nul(b"email=a%00b", &HeaderMap::new()),
            "not a form: %00 is text"
        );
    }
}
