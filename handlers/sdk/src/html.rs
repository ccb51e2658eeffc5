//! Server-rendered HTML: escaping and the headers every page is sent with.

use std::borrow::Cow;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> Cow<'_, str> {
    html_escape::encode_quoted_attribute(s)
}

/// `content-type` and the security headers of a page without scripts: nothing but its own
/// inline style loads, forms post only to this origin, no framing, no sniffing, no referrer.
pub fn headers() -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "text/html; charset=utf-8".into()),
        (
            "content-security-policy".into(),
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'"
                .into(),
        ),
        ("x-content-type-options".into(), "nosniff".into()),
        ("referrer-policy".into(), "no-referrer".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#x27;Jerry&#x27;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
