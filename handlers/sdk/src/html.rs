//! Server-rendered HTML: escaping, figures as people read them, and the headers every page is
//! sent with.

use std::borrow::Cow;

/// The `content-type` every page is sent with.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The media type of a page, as the API document names it.
pub const MEDIA_TYPE: &str = "text/html";

/// The cookie the host takes an access token from on a page's requests (the host's
/// `auth::ACCESS_COOKIE`): the session of server-rendered pages.
pub const ACCESS_COOKIE: &str = "nexuma_access";

/// The `set-cookie` value that holds `token` for `max_age` seconds (0 clears it): HttpOnly,
/// SameSite=Strict, the whole site, and Secure when the Core's public address is `https://`.
pub fn access_cookie(token: &str, max_age: u64) -> String {
    let secure = if crate::settings::public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{ACCESS_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}")
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> Cow<'_, str> {
    html_escape::encode_quoted_attribute(s)
}

/// Bytes as people read them, in binary units.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let bytes = bytes.max(0);
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// The security headers of a page without scripts: nothing but its own inline style loads,
/// forms post only to this origin, no framing, no sniffing, no referrer.
pub fn security_headers() -> Vec<(String, String)> {
    vec![
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

/// `content-type` and [`security_headers`].
pub fn headers() -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), CONTENT_TYPE.to_string())];
    headers.extend(security_headers());
    headers
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

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(50_000_000_000), "46.57 GiB");
    }
}
