//! `nexuma:core/http`: outbound HTTP(S) requests for components.
//!
//! The host owns the clients (reqwest on rustls with ring). A request carries only what the
//! component put in it: no cookies, no proxy from the environment, no redirects followed (a 3xx
//! comes back as it is). Without a pin the server is checked against the webpki roots and its
//! hostname; with `pin-sha256` the certificate is accepted iff SHA-256 of its DER equals the pin,
//! whatever its issuer or names, which is how self-signed node agents are reached.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cert_pin::PinMismatch;
use rustls::crypto::CryptoProvider;
use rustls::CertificateError;
use wasmtime::component::HasData;

use super::Call;
use crate::bindings::nexuma::core::http::{self as wit, HttpError, IncomingResponse};

/// Timeout of a request that names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time kept back from an instance's deadline for the component to handle an HTTP error.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// Longest timeout a request may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body handed to a component.
pub const MAX_BODY: usize = 8 << 20;
/// Pinned clients kept for reuse (one per pin); the cache is emptied when it is full.
const MAX_PINNED_CLIENTS: usize = 256;

/// Why the `Http` clients could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// rustls refused the client TLS configuration.
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
    /// reqwest could not build a client from that configuration.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The outbound HTTP capability: one client checked against the webpki roots, and one client
/// per certificate pin.
pub struct Http {
    provider: Arc<CryptoProvider>,
    roots: reqwest::Client,
    pinned: Mutex<HashMap<[u8; 32], reqwest::Client>>,
}

impl Http {
    /// Builds the webpki-roots client; fails only on a TLS or client setup error, at start.
    pub fn new() -> Result<Self, HttpSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Http {
            roots: client(tls)?,
            pinned: Mutex::new(HashMap::new()),
            provider,
        })
    }

    /// The client checked against the webpki roots, for the host's own calls (the Bot API).
    pub fn roots_client(&self) -> reqwest::Client {
        self.roots.clone()
    }

    fn pinned_client(&self, pin: [u8; 32]) -> Result<reqwest::Client, HttpSetupError> {
        let mut cache = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = cache.get(&pin) {
            return Ok(client.clone());
        }
        let client = client(cert_pin::client_config(pin, Arc::clone(&self.provider))?)?;
        if cache.len() >= MAX_PINNED_CLIENTS {
            cache.clear();
        }
        cache.insert(pin, client.clone());
        Ok(client)
    }

    /// Sends one request and reads the whole response (up to [`MAX_BODY`]).
    pub async fn send(&self, req: wit::OutgoingRequest) -> Result<IncomingResponse, HttpError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| invalid(format!("invalid method {:?}", req.method)))?;
        let url = url::Url::parse(&req.url).map_err(|e| invalid(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "unsupported URL scheme {:?}: only http and https are allowed",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host".into()));
        }
        let mut headers = reqwest::header::HeaderMap::with_capacity(req.headers.len());
        for (name, value) in &req.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("invalid value of header {name}")))?;
            headers.append(name, value);
        }
        let timeout = req
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms.max(1))).min(MAX_TIMEOUT))
            .unwrap_or(DEFAULT_TIMEOUT);
        let client = match req.pin_sha256.as_deref() {
            Some(pin) => {
                let pin = parse_pin(pin)?;
                self.pinned_client(pin)
                    .map_err(|e| HttpError::Other(e.to_string()))?
            }
            None => self.roots.clone(),
        };
        let request = client
            .request(method, url)
            .headers(headers)
            .body(req.body)
            .timeout(timeout);
        // The exchange, headers and body, all within the one timeout.
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = read_body(response).await?;
        Ok(IncomingResponse {
            status,
            headers,
            body,
        })
    }
}

fn client(tls: rustls::ClientConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nexuma/", env!("CARGO_PKG_VERSION")))
        .build()
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(HttpError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn invalid(message: String) -> HttpError {
    HttpError::InvalidRequest(message)
}

/// A pin as 64 hex digits, with or without `:` separators, in either case.
fn parse_pin(pin: &str) -> Result<[u8; 32], HttpError> {
    cert_pin::parse(pin).map_err(|e| invalid(format!("pin-sha256: {e}")))
}

/// The errors in `err`'s source chain, looking inside `io::Error`s (whose `source` skips the
/// error they wrap, which is where rustls puts its own).
fn chain<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        out.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// Turns a reqwest failure into the WIT error, with the innermost cause as its message (never
/// the URL, which may carry credentials in its path or query).
fn classify(err: reqwest::Error) -> HttpError {
    if err.is_timeout() {
        return HttpError::Timeout;
    }
    let err = err.without_url();
    let causes = chain(&err);
    let root = causes
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string());
    for cause in &causes {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            if let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = tls {
                if let Some(mismatch) = other.0.downcast_ref::<PinMismatch>() {
                    return HttpError::PinMismatch(mismatch.to_string());
                }
            }
            return HttpError::Tls(tls.to_string());
        }
    }
    if err.is_connect() {
        return HttpError::Connect(root);
    }
    HttpError::Other(root)
}

fn outcome(result: &Result<IncomingResponse, HttpError>) -> String {
    match result {
        Ok(r) => r.status.to_string(),
        Err(HttpError::InvalidRequest(_)) => "invalid-request".into(),
        Err(HttpError::Timeout) => "timeout".into(),
        Err(HttpError::Connect(_)) => "connect-error".into(),
        Err(HttpError::Tls(_)) => "tls-error".into(),
        Err(HttpError::PinMismatch(_)) => "pin-mismatch".into(),
        Err(HttpError::TooLarge) => "too-large".into(),
        Err(HttpError::Other(_)) => "error".into(),
    }
}

/// What `http` reaches of an instance's store: the clients, and the call whose deadline bounds
/// each request and whose names tag its log line.
pub struct HttpCtx<'a> {
    /// The Core's clients, shared by every instance.
    pub http: &'a Http,
    /// The call making the request: its deadline and names.
    pub call: &'a Call,
}

/// Links `http` to an [`HttpCtx`] view of the store.
pub struct HttpView;

impl HasData for HttpView {
    type Data<'a> = HttpCtx<'a>;
}

/// The host (and port) a request goes to, for the log: paths and queries may carry credentials.
fn log_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?;
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            })
        })
        .unwrap_or_default()
}

/// The timeout a request may have: its own, cut to what is left of the call's deadline less
/// the margin the component needs to answer.
fn bounded_timeout(asked_ms: Option<u32>, deadline: Instant) -> u32 {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(DEADLINE_MARGIN);
    let left_ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1);
    asked_ms.map_or(left_ms, |ms| ms.min(left_ms))
}

impl wit::Host for HttpCtx<'_> {
    async fn send(
        &mut self,
        req: wit::OutgoingRequest,
    ) -> wasmtime::Result<Result<IncomingResponse, HttpError>> {
        let started = Instant::now();
        let method = req.method.clone();
        let host = log_host(&req.url);
        let mut req = req;
        // Leave the instance time to answer: an upstream slower than the request's own deadline
        // ends as a clean timeout error, not as the whole request cut at its deadline.
        req.timeout_ms = Some(bounded_timeout(req.timeout_ms, self.call.deadline));
        let result = self.http.send(req).await;
        tracing::debug!(
            component = &*self.call.component,
            request_id = &*self.call.request_id,
            method,
            host,
            status = outcome(&result),
            ms = started.elapsed().as_millis() as u64,
            "outbound http"
        );
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pin_is_an_invalid_request() {
        assert_eq!(parse_pin(&"ab".repeat(32)).ok(), Some([0xab; 32]));
        for bad in ["", &"zz".repeat(32)] {
            assert!(
                matches!(parse_pin(bad), Err(HttpError::InvalidRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_log_names_the_host_only() {
        assert_eq!(
            log_host("https://user:pw@node.example:8443/secret?k=v"),
            "node.example:8443"
        );
        assert_eq!(log_host("http://node.example/path"), "node.example");
        assert_eq!(log_host("not a url"), "");
    }

    #[test]
    fn a_request_ends_before_its_call() {
        let deadline = Instant::now() + Duration::from_secs(2);
        let left = bounded_timeout(None, deadline);
        assert!(left <= 1900 && left > 1500, "{left}");
        assert_eq!(
            bounded_timeout(Some(300), deadline),
            300,
            "a shorter one is kept"
        );
        assert!(bounded_timeout(Some(60_000), deadline) <= 1900);
        assert_eq!(bounded_timeout(None, Instant::now()), 1, "never zero");
    }

    #[tokio::test]
    async fn refuses_other_schemes_before_sending() {
        let http = Http::new().expect("clients");
        let req = |url: &str| wit::OutgoingRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
            pin_sha256: None,
        };
        for url in ["file:///etc/passwd", "ftp://example.com/", "not a url"] {
            match http.send(req(url)).await {
                Err(HttpError::InvalidRequest(_)) => {}
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
