//! The load generator: a fixed number of HTTP/1.1 keep-alive connections, each sending one
//! request at a time (closed loop) for a warm-up and then a measured window.
//!
//! Only requests that complete inside the measured window count: their number gives the
//! throughput and their latencies the percentiles. A non-2xx answer, a transport error or a
//! request slower than [`REQUEST_TIMEOUT`] is an error; a broken connection is reopened.
//!
//! A target sends one fixed path, or — with a [`Vary`] — a path and User-Agent of its own per
//! request, for routes whose answer (or cache entry) depends on them. It may spread its
//! connections over several servers (replicas), and check each answer beyond its status.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
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
    /// The path of every request, unless `vary` picks one per request (then it names the
    /// route in messages).
    pub path: String,
    pub bearer: Option<String>,
    /// A node agent's key, sent as `x-node-auth-key` (the private `/node/*` routes).
    pub node_key: Option<String>,
    pub vary: Option<Vary>,
    /// Servers to spread the connections over, in turn (connection i on `spread[i % len]`);
    /// empty: every connection on `addr`.
    pub spread: Vec<SocketAddr>,
    /// A check of each 2xx answer (status and body): an `Err` counts as an error, with its
    /// message.
    pub check: Option<Check>,
}

/// See [`Target::check`].
pub type Check = Arc<dyn Fn(StatusCode, &[u8]) -> Result<(), String> + Send + Sync>;

/// What one request of a [`Vary`] target carries.
pub struct Varied {
    pub path: String,
    /// Sent as `User-Agent`; none is sent otherwise.
    pub user_agent: Option<String>,
    /// A Bearer token for this request, in place of the target's (many users' own routes).
    pub bearer: Option<String>,
}

/// Picks each request's path and User-Agent from its number: 0, 1, 2, … over every request
/// built from the target and its clones (all connections of a run share the count), so a
/// rotation covers its list evenly and a per-request value is never repeated.
#[derive(Clone)]
pub struct Vary {
    next: Arc<AtomicU64>,
    pick: Arc<dyn Fn(u64) -> Varied + Send + Sync>,
}

impl Vary {
    pub fn new(pick: impl Fn(u64) -> Varied + Send + Sync + 'static) -> Vary {
        Vary {
            next: Arc::new(AtomicU64::new(0)),
            pick: Arc::new(pick),
        }
    }

    fn next(&self) -> Varied {
        // Only uniqueness matters, not ordering with other memory: relaxed is enough.
        (self.pick)(self.next.fetch_add(1, Ordering::Relaxed))
    }
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
    /// Answers of any status over the whole run, warm-up included: what the server did in
    /// all, to set against counters read around the run (e.g. the Core's response cache).
    pub answered: u64,
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
    answered: u64,
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

/// One line for the terminal: rate, p50, p99, errors and the first error.
pub fn print_outcome(o: &Outcome) {
    eprintln!(
        "     {:>8.0} req/s  p50 {:>9}  p99 {:>9}  errors {}",
        o.per_sec,
        crate::stats::format_us(o.latency.p50_us),
        crate::stats::format_us(o.latency.p99_us),
        o.errors,
    );
    if let Some(e) = &o.first_error {
        eprintln!("       first error: {e}");
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
    for i in 0..plan.connections {
        let mut target = target.clone();
        if !target.spread.is_empty() {
            target.addr = target.spread[i % target.spread.len()];
        }
        let latencies = Latencies::new()?;
        workers.spawn(async move { connection(target, window, latencies).await });
    }
    let mut latencies = Latencies::new()?;
    let (mut errors, mut connects, mut answered, mut first_error) = (0, 0, 0, None);
    while let Some(joined) = workers.join_next().await {
        let tally = joined.context("a load connection task panicked")?;
        latencies.merge(&tally.latencies)?;
        errors += tally.errors;
        connects += tally.connects;
        answered += tally.answered;
        first_error = first_error.or(tally.first_error);
    }
    Ok(Outcome {
        per_sec: latencies.count() as f64 / plan.measure.as_secs_f64(),
        latency: latencies.summary(),
        errors,
        first_error,
        connects,
        answered,
    })
}

/// One closed-loop connection until the window ends.
async fn connection(target: Target, window: Window, latencies: Latencies) -> Tally {
    let mut tally = Tally {
        latencies,
        errors: 0,
        first_error: None,
        connects: 0,
        answered: 0,
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
                // A path or header the bench made that HTTP refuses: a bug of the bench, which
                // retrying will not fix, so stop this connection.
                tally.error(&window, Instant::now(), || format!("{e:#}"));
                return tally;
            }
        };
        let sent = Instant::now();
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange(&mut conn, request)).await;
        let done = Instant::now();
        if matches!(result, Ok(Ok(_))) {
            tally.answered += 1;
        }
        match result {
            Ok(Ok(response)) if response.status().is_success() => {
                let checked = target
                    .check
                    .as_ref()
                    .map_or(Ok(()), |check| check(response.status(), response.body()));
                match checked {
                    Ok(()) if window.contains(done) => tally.latencies.record(done - sent),
                    Ok(()) => {}
                    Err(e) => tally.error(&window, done, || e),
                }
                sender = Some(conn);
            }
            Ok(Ok(response)) => {
                tally.error(&window, done, || {
                    format!(
                        "{}: {}",
                        response.status(),
                        String::from_utf8_lossy(response.body())
                    )
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

pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
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

/// A request to `target` (its next path and User-Agent when it varies); `json` is a JSON body
/// already serialized.
pub fn build(
    target: &Target,
    method: Method,
    json: Option<Bytes>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let varied = target.vary.as_ref().map(Vary::next);
    let path = varied
        .as_ref()
        .map_or(target.path.as_str(), |v| v.path.as_str());
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, HeaderValue::from_str(&target.addr.to_string())?);
    if let Some(agent) = varied.as_ref().and_then(|v| v.user_agent.as_deref()) {
        builder = builder.header(USER_AGENT, HeaderValue::from_str(agent)?);
    }
    let bearer = varied
        .as_ref()
        .and_then(|v| v.bearer.as_ref())
        .or(target.bearer.as_ref());
    if let Some(token) = bearer {
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
        .with_context(|| format!("cannot build a request for {path}"))
}

pub async fn exchange(
    conn: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<Response<Bytes>> {
    conn.ready().await.context("connection closed")?;
    let (parts, body) = conn.send_request(request).await?.into_parts();
    // Read the whole body, or the connection cannot carry the next request.
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// One request on a connection of its own (set-up calls, health polling).
pub async fn once(
    target: &Target,
    method: Method,
    json: Option<&serde_json::Value>,
    timeout: Duration,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let response = fetch(target, method, json, timeout).await?;
    let status = response.status();
    Ok((status, response.into_body()))
}

/// [`once`] with the answer's headers.
pub async fn fetch(
    target: &Target,
    method: Method,
    json: Option<&serde_json::Value>,
    timeout: Duration,
) -> anyhow::Result<Response<Bytes>> {
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
    let response = tokio::time::timeout(timeout, exchange(&mut conn, request))
        .await
        .map_err(|_| anyhow::anyhow!("{} did not answer within {timeout:?}", target.path))??;
    let took = sent.elapsed();
    let status = response.status();
    Ok((status, response.into_body(), took))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(vary: Option<Vary>) -> Target {
        Target {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            path: "/sub/:uuid".into(),
            bearer: None,
            node_key: None,
            vary,
            spread: Vec::new(),
            check: None,
        }
    }

    fn sent(request: &Request<Full<Bytes>>) -> (String, Option<&str>) {
        let agent = request
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok());
        (request.uri().to_string(), agent)
    }

    #[test]
    fn a_varying_target_numbers_requests_across_its_clones() {
        let varying = target(Some(Vary::new(|n| Varied {
            path: format!("/sub/{}", n % 2),
            user_agent: Some(format!("ua-{n}")),
            bearer: None,
        })));
        let clone = varying.clone();
        let first = build(&varying, Method::GET, None).unwrap();
        let second = build(&clone, Method::GET, None).unwrap();
        let third = build(&varying, Method::GET, None).unwrap();
        assert_eq!(sent(&first), ("/sub/0".into(), Some("ua-0")));
        assert_eq!(sent(&second), ("/sub/1".into(), Some("ua-1")));
        assert_eq!(sent(&third), ("/sub/0".into(), Some("ua-2")));
    }

    #[test]
    fn a_fixed_target_sends_its_path_and_no_agent() {
        let fixed = build(&target(None), Method::GET, None).unwrap();
        assert_eq!(sent(&fixed), ("/sub/:uuid".into(), None));
    }
}
