//! The load generator: a fixed number of HTTP/1.1 keep-alive connections, each sending one
//! request at a time (closed loop) for a warm-up and then a measured window.
//!
//! Only requests that complete inside the measured window count: their number gives the
//! throughput and their latencies the percentiles. A non-2xx answer, a transport error or a
//! request slower than [`REQUEST_TIMEOUT`] is an error; a broken connection is reopened.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::stats::{Latencies, Summary};

/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed connect, so a dead server is not hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// One route under load.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: String,
    pub bearer: Option<String>,
    /// A node agent's key, sent as `x-node-auth-key` (the private `/node/*` routes).
    pub node_key: Option<String>,
}

pub struct Plan {
    pub warmup: Duration,
    pub measure: Duration,
    pub connections: usize,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// Successful requests completed in the measured window, per second.
    pub per_sec: f64,
    pub latency: Summary,
    pub errors: u64,
    /// The first error seen in the measured window, to say what went wrong.
    pub first_error: Option<String>,
    /// TCP connections opened over the whole run (the plan's count when keep-alive held).
    pub connects: u64,
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

struct Tally {
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
    connects: u64,
}

impl Tally {
    fn error(&mut self, window: &Window, at: Instant, message: impl FnOnce() -> String) {
        if window.contains(at) {
            self.errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(message());
            }
        }
    }
}

/// Loads `target` per `plan`; returns once the measured window has closed.
pub async fn run(target: &Target, plan: &Plan) -> anyhow::Result<Outcome> {
    // Fail here, not silently in every connection, if the request cannot be built.
    build(target, Method::GET, None)?;
    let start = Instant::now() + plan.warmup;
    let window = Window {
        start,
        end: start + plan.measure,
    };
    let mut workers = JoinSet::new();
    for _ in 0..plan.connections {
        let target = target.clone();
        let latencies = Latencies::new()?;
        workers.spawn(async move { connection(target, window, latencies).await });
    }
    let mut latencies = Latencies::new()?;
    let (mut errors, mut connects, mut first_error) = (0, 0, None);
    while let Some(joined) = workers.join_next().await {
        let tally = joined.context("a load connection task panicked")?;
        latencies.merge(&tally.latencies)?;
        errors += tally.errors;
        connects += tally.connects;
        first_error = first_error.or(tally.first_error);
    }
    Ok(Outcome {
        per_sec: latencies.count() as f64 / plan.measure.as_secs_f64(),
        latency: latencies.summary(),
        errors,
        first_error,
        connects,
    })
}

/// One closed-loop connection until the window ends.
async fn connection(target: Target, window: Window, latencies: Latencies) -> Tally {
    let mut tally = Tally {
        latencies,
        errors: 0,
        first_error: None,
        connects: 0,
    };
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    while Instant::now() < window.end {
        let mut conn = match sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => {
                tally.connects += 1;
                match connect(target.addr).await {
                    Ok(s) => s,
                    Err(e) => {
                        tally.error(&window, Instant::now(), || format!("connect: {e:#}"));
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                        continue;
                    }
                }
            }
        };
        let request = match build(&target, Method::GET, None) {
            Ok(r) => r,
            Err(e) => {
                // The same request every time: it will not get better, so stop this connection.
                tally.error(&window, Instant::now(), || format!("{e:#}"));
                return tally;
            }
        };
        let sent = Instant::now();
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange(&mut conn, request)).await;
        let done = Instant::now();
        match result {
            Ok(Ok((status, _))) if status.is_success() => {
                if window.contains(done) {
                    tally.latencies.record(done - sent);
                }
                sender = Some(conn);
            }
            Ok(Ok((status, body))) => {
                tally.error(&window, done, || {
                    format!("{status}: {}", String::from_utf8_lossy(&body))
                });
                sender = Some(conn);
            }
            Ok(Err(e)) => tally.error(&window, done, || format!("{e:#}")),
            Err(_) => tally.error(&window, done, || {
                format!("no answer within {REQUEST_TIMEOUT:?}")
            }),
        }
    }
    tally
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the sender is dropped or the server closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A request to `target`; `json` is a JSON body already serialized.
fn build(
    target: &Target,
    method: Method,
    json: Option<Bytes>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(target.path.as_str())
        .header(HOST, HeaderValue::from_str(&target.addr.to_string())?);
    if let Some(token) = &target.bearer {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(key) = &target.node_key {
        builder = builder.header("x-node-auth-key", HeaderValue::from_str(key)?);
    }
    let body = match json {
        Some(bytes) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            bytes
        }
        None => Bytes::new(),
    };
    builder
        .body(Full::new(body))
        .with_context(|| format!("cannot build a request for {}", target.path))
}

async fn exchange(
    conn: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    conn.ready().await.context("connection closed")?;
    let response = conn.send_request(request).await?;
    let status = response.status();
    // Read the whole body, or the connection cannot carry the next request.
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// One request on a connection of its own (set-up calls, health polling).
pub async fn once(
    target: &Target,
    method: Method,
    json: Option<&serde_json::Value>,
    timeout: Duration,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let request = build(target, method, json.map(|v| Bytes::from(v.to_string())))?;
    tokio::time::timeout(timeout, async {
        let mut conn = connect(target.addr).await?;
        exchange(&mut conn, request).await
    })
    .await
    .map_err(|_| anyhow::anyhow!("{} did not answer within {timeout:?}", target.path))?
}

/// One request on a connection of its own, timed from send to the last body byte: the body is
/// serialized and the connection opened before the clock starts.
pub async fn timed(
    target: &Target,
    method: Method,
    json: Option<Bytes>,
    timeout: Duration,
) -> anyhow::Result<(StatusCode, Bytes, Duration)> {
    let request = build(target, method, json)?;
    let mut conn = tokio::time::timeout(timeout, connect(target.addr))
        .await
        .map_err(|_| anyhow::anyhow!("cannot connect within {timeout:?}"))??;
    let sent = Instant::now();
    let (status, body) = tokio::time::timeout(timeout, exchange(&mut conn, request))
        .await
        .map_err(|_| anyhow::anyhow!("{} did not answer within {timeout:?}", target.path))??;
    Ok((status, body, sent.elapsed()))
}
