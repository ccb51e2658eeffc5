//! The HTTP client of the Core's `/node/*` API: one method per route, the key header on
//! every call but `register`, JSON both ways, and the Core's errors as [`ControlError`]s.
//! Neither the key nor the registration code ever appears in an error or a log line.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::protocol::*;

/// Largest answer read from the Core (a config of many thousand clients fits easily).
const MAX_ANSWER: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "the Core refused the node key (401 invalid_node_key): it was revoked, or the node deleted"
    )]
    InvalidKey,
    #[error("the Core refused the registration code (401 invalid_code): unknown, used or expired")]
    InvalidCode,
    #[error("the Core does not speak protocol {PROTOCOL}: {0}")]
    UnsupportedProtocol(String),
    #[error("the Core answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the Core: {0}")]
    Transport(String),
    #[error("unexpected answer from the Core: {0}")]
    Answer(String),
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// What `GET /node/config/latest` gave.
pub enum Latest {
    /// 304: the revision the agent has is still the latest.
    Unchanged,
    Config(Box<ConfigDoc>),
}

/// The Core's private API, as one node reaches it.
#[derive(Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    /// The Core's base URL without a trailing `/`.
    base: String,
}

impl ControlClient {
    /// A client of the Core at `url` (`http://` or `https://`); with `pin`, an `https://` Core
    /// must present exactly the pinned certificate, else the webpki roots decide.
    pub fn new(url: &str, pin: Option<[u8; 32]>) -> Result<ControlClient, ControlError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ControlError::Setup(format!("--core-url `{url}`: {e}")))?;
        match (parsed.scheme(), pin) {
            ("https", _) | ("http", None) => {}
            ("http", Some(_)) => {
                return Err(ControlError::Setup(
                    "--core-pin needs an https:// --core-url".into(),
                ))
            }
            (other, _) => {
                return Err(ControlError::Setup(format!(
                    "--core-url must be http:// or https://, not {other}://"
                )))
            }
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(ControlError::Setup("--core-url has no host".into()));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("nexuma-node/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pin) = pin {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let tls = cert_pin::client_config(pin, provider)
                .map_err(|e| ControlError::Setup(e.to_string()))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder
            .build()
            .map_err(|e| ControlError::Setup(chain(&e)))?;
        Ok(ControlClient {
            http,
            base: url.trim_end_matches('/').to_owned(),
        })
    }

    pub async fn register(&self, body: &Register<'_>) -> Result<Registered, ControlError> {
        let resp = self
            .send(Method::POST, "/node/register", None, Some(body), None)
            .await?;
        match resp.status() {
            StatusCode::OK | StatusCode::CREATED => read_json(resp).await,
            _ => Err(refusal(resp).await),
        }
    }

    pub async fn heartbeat(
        &self,
        key: &str,
        body: &Heartbeat<'_>,
    ) -> Result<HeartbeatReply, ControlError> {
        let resp = self
            .send(Method::POST, "/node/heartbeat", Some(key), Some(body), None)
            .await?;
        match resp.status() {
            StatusCode::OK => read_json(resp).await,
            _ => Err(refusal(resp).await),
        }
    }

    /// The latest config; with `have`, a 304 when that is still the latest.
    pub async fn latest_config(
        &self,
        key: &str,
        have: Option<u64>,
    ) -> Result<Latest, ControlError> {
        let etag = have.map(|r| format!("\"{r}\""));
        let resp = self
            .send::<()>(
                Method::GET,
                "/node/config/latest",
                Some(key),
                None,
                etag.as_deref(),
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_MODIFIED => Ok(Latest::Unchanged),
            StatusCode::OK => Ok(Latest::Config(Box::new(read_json(resp).await?))),
            _ => Err(refusal(resp).await),
        }
    }

    pub async fn applied(&self, key: &str, body: &Applied<'_>) -> Result<(), ControlError> {
        self.post_done("/node/config/applied", key, body).await
    }

    pub async fn usage(&self, key: &str, body: &UsageReport<'_>) -> Result<UsageAck, ControlError> {
        let resp = self
            .send(Method::POST, "/node/usage", Some(key), Some(body), None)
            .await?;
        match resp.status() {
            StatusCode::OK => read_json(resp).await,
            _ => Err(refusal(resp).await),
        }
    }

    pub async fn outbound_usage(
        &self,
        key: &str,
        body: &OutboundUsageReport<'_>,
    ) -> Result<UsageAck, ControlError> {
        let resp = self
            .send(
                Method::POST,
                "/node/outbound-usage",
                Some(key),
                Some(body),
                None,
            )
            .await?;
        match resp.status() {
            StatusCode::OK => read_json(resp).await,
            _ => Err(refusal(resp).await),
        }
    }

    pub async fn session_events(
        &self,
        key: &str,
        events: &[SessionEvent],
    ) -> Result<(), ControlError> {
        self.post_done("/node/session-events", key, &SessionEvents { events })
            .await
    }

    pub async fn error(&self, key: &str, report: &ErrorReport) -> Result<(), ControlError> {
        self.post_done("/node/error", key, report).await
    }

    /// A POST answered by any 2xx without a body that matters.
    async fn post_done(
        &self,
        path: &str,
        key: &str,
        body: &impl Serialize,
    ) -> Result<(), ControlError> {
        let resp = self
            .send(Method::POST, path, Some(key), Some(body), None)
            .await?;
        match resp.status().is_success() {
            true => Ok(()),
            false => Err(refusal(resp).await),
        }
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&B>,
        if_none_match: Option<&str>,
    ) -> Result<reqwest::Response, ControlError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.header("x-node-auth-key", key);
        }
        if let Some(etag) = if_none_match {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send()
            .await
            .map_err(|e| ControlError::Transport(chain(&e)))
    }
}

/// Reads a JSON answer of at most [`MAX_ANSWER`] bytes.
async fn read_json<T: DeserializeOwned>(mut resp: reqwest::Response) -> Result<T, ControlError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ControlError::Transport(chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(ControlError::Answer(format!(
                "answer over {MAX_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| ControlError::Answer(e.to_string()))
}

/// The Core's error answer as a [`ControlError`].
async fn refusal(resp: reqwest::Response) -> ControlError {
    let status = resp.status().as_u16();
    let body: Option<ErrorBody> = read_json(resp).await.ok();
    let (code, message) = body
        .map(|b| (b.error.code, b.error.message))
        .unwrap_or_default();
    match (status, code.as_str()) {
        (401, "invalid_code") => ControlError::InvalidCode,
        // `invalid_node_key`, or a Core's generic 401: either way the key does not work.
        (401, _) => ControlError::InvalidKey,
        (400, "unsupported_protocol") => ControlError::UnsupportedProtocol(message),
        _ => ControlError::Refused {
            status,
            code,
            message,
        },
    }
}

/// An error with its sources (reqwest puts the cause — refused, timed out, TLS — in them).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
