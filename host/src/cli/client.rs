//! The admin API client of the CLI: one Core's base URL, an admin Bearer token, reqwest on
//! rustls (ring). Every non-2xx answer becomes [`CliError::Refused`] with the API's own message.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::CliError;

/// Connecting to the Core: it is one host the operator names, so a long wait means it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole exchange: an upload is compiled and checked by the Core before it answers, which for
/// a large component takes seconds on a small machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The most of a non-JSON error body shown to the operator (a proxy's HTML page, say).
const SNIPPET_CHARS: usize = 200;

/// The Core's port when neither `--url` nor `NEXUMA_URL` says otherwise (the Core's own default).
pub const DEFAULT_PORT: &str = "3000";

pub struct AdminClient {
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the Core at `base`; with `pin`, its certificate is trusted iff its SHA-256 is
    /// the pin (a Core serving a self-signed certificate), else the webpki roots apply.
    pub fn new(base: Url, token: String, pin: Option<[u8; 32]>) -> Result<Self, CliError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = match pin {
            Some(pin) => cert_pin::client_config(pin, provider),
            None => rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|builder| {
                    builder
                        .with_root_certificates(rustls::RootCertStore {
                            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                        })
                        .with_no_client_auth()
                }),
        }
        .map_err(|e| CliError::Failed(format!("TLS setup: {e}")))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            // A redirect would drop the Authorization header anyway; say where it pointed instead.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("nexuma-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Failed(format!("HTTP client: {e}")))?;
        Ok(AdminClient { base, token, http })
    }

    /// The URL of an API path given as segments, each percent-encoded (a name or hash typed by
    /// the operator cannot reach another path), below the base URL's own path.
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        endpoint(&self.base, segments)
    }

    pub async fn get(&self, url: Url) -> Result<(u16, Value), CliError> {
        self.send(self.http.get(url)).await
    }

    pub async fn post_json(&self, url: Url, body: &Value) -> Result<(u16, Value), CliError> {
        let request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request).await
    }

    /// An empty POST (an action without parameters, e.g. rollback).
    pub async fn post_empty(&self, url: Url) -> Result<(u16, Value), CliError> {
        self.send(self.http.post(url)).await
    }

    pub async fn post_wasm(&self, url: Url, body: Vec<u8>) -> Result<(u16, Value), CliError> {
        let request = self
            .http
            .post(url)
            .header("content-type", "application/wasm")
            .body(body);
        self.send(request).await
    }

    /// Sends with the token; a 2xx gives its status and JSON body (null when empty).
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), CliError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(refused(status, &text, location.as_deref()));
        }
        if text.trim().is_empty() {
            return Ok((status, Value::Null));
        }
        serde_json::from_str(&text)
            .map(|v| (status, v))
            .map_err(|_| {
                CliError::Failed(format!(
                    "the answer from {} is not the Core's JSON: {}",
                    self.base,
                    snippet(&text)
                ))
            })
    }

    fn unreachable(&self, err: &reqwest::Error) -> CliError {
        let what = if err.is_timeout() {
            "did not answer in time"
        } else {
            "cannot be reached"
        };
        CliError::Failed(format!(
            "the Core at {} {what}: {}",
            self.base,
            error_chain(err)
        ))
    }
}

/// The base URL: `--url`/`NEXUMA_URL`, else `http://127.0.0.1:$PORT` (PORT as the Core reads it,
/// default 3000). Only http and https make sense; anything else is a usage error.
pub fn base_url(flag: Option<&str>, port: Option<&str>) -> Result<Url, CliError> {
    let raw = match flag.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) => url.to_string(),
        None => {
            let port = port.map(str::trim).filter(|p| !p.is_empty());
            format!("http://127.0.0.1:{}", port.unwrap_or(DEFAULT_PORT))
        }
    };
    let url = Url::parse(&raw)
        .map_err(|e| CliError::Usage(format!("the Core's URL {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CliError::Usage(format!(
            "the Core's URL {raw:?} must be http:// or https:// with a host"
        )));
    }
    Ok(url)
}

fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The error of a non-2xx answer: the API's `{"error": {"code", "message"}}`, or for anything
/// else (a proxy in the way, an older Core without the route) the status and a short excerpt.
fn refused(status: u16, text: &str, location: Option<&str>) -> CliError {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let field = |name: &str| {
        error
            .and_then(|e| e[name].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let message =
        field("message")
            .map(|m| one_line(&m))
            .unwrap_or_else(|| match (status, location) {
                (300..=399, Some(to)) => format!("the Core redirects to {to}; use that as --url"),
                (413, _) => "the file is larger than the Core accepts".to_string(),
                _ if text.trim().is_empty() => format!("the Core answered {status} {reason}"),
                _ => format!("the Core answered {status} {reason}: {}", snippet(text)),
            });
    CliError::Refused {
        status,
        code: field("code").unwrap_or_else(|| reason.to_ascii_lowercase().replace(' ', "_")),
        message,
    }
}

/// A message on one line: a compiler's error may carry an indented, multi-line dump that reads
/// as noise in a terminal once the line breaks are gone from around it.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first line of `text`, cut to [`SNIPPET_CHARS`].
fn snippet(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("");
    let mut out: String = line.chars().take(SNIPPET_CHARS).collect();
    if line.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    out
}

/// reqwest's own message only says a request failed (and repeats the URL); the cause that helps
/// (connection refused, certificate unknown, DNS) is further down the chain.
fn error_chain(err: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = err.source();
    if source.is_none() {
        return err.to_string();
    }
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_defaults_to_the_local_core_on_port() {
        let url = base_url(None, None).expect("default");
        assert_eq!(url.as_str(), "http://127.0.0.1:3000/");
        let url = base_url(None, Some("8080")).expect("port");
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/");
        let url = base_url(Some("https://vpn.example.com"), Some("8080")).expect("flag wins");
        assert_eq!(url.as_str(), "https://vpn.example.com/");
    }

    #[test]
    fn a_url_that_is_not_http_is_a_usage_error() {
        for bad in ["vpn.example.com", "ftp://x", "http://127.0.0.1:notaport"] {
            let err = base_url(Some(bad), None).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}: {err}");
        }
    }

    #[test]
    fn endpoints_encode_segments_below_the_base_path() {
        let base = Url::parse("https://vpn.example.com/core/").expect("url");
        let url = endpoint(&base, &["admin", "components", "a/b c", "activate"]);
        assert_eq!(
            url.as_str(),
            "https://vpn.example.com/core/admin/components/a%2Fb%20c/activate"
        );
        let base = Url::parse("http://127.0.0.1:3000").expect("url");
        assert_eq!(
            endpoint(&base, &["admin", "components"]).as_str(),
            "http://127.0.0.1:3000/admin/components"
        );
    }

    #[test]
    fn an_api_error_keeps_its_message_and_code() {
        let body = r#"{"error":{"code":"invalid_token","message":"the access token is invalid"}}"#;
        let err = refused(401, body, None);
        assert_eq!(
            err.to_string(),
            "the access token is invalid (401 invalid_token)"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn a_multi_line_message_is_shown_on_one_line() {
        let body = serde_json::json!({ "error": {
            "code": "invalid_component",
            "message": "bad magic: expected=[\n    0x0,\n    0x61,\n]",
        }})
        .to_string();
        assert_eq!(
            refused(400, &body, None).to_string(),
            "bad magic: expected=[ 0x0, 0x61, ] (400 invalid_component)"
        );
    }

    #[test]
    fn a_foreign_error_page_is_cut_to_one_line() {
        let page = format!("<html>{}\n<body>more</body>", "x".repeat(500));
        let err = refused(502, &page, None);
        let text = err.to_string();
        assert!(
            text.starts_with("the Core answered 502 Bad Gateway: <html>"),
            "{text}"
        );
        assert!(!text.contains("more"), "{text}");
        assert!(text.chars().count() < 300, "{text}");
        assert!(text.ends_with("(502 bad_gateway)"), "{text}");
    }

    #[test]
    fn a_redirect_names_where_it_points() {
        let err = refused(308, "", Some("https://vpn.example.com/"));
        assert!(err.to_string().contains("use that as --url"), "{err}");
    }
}
