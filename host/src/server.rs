//! HTTP: accepts connections with hyper, matches the route, authenticates, hands the request to
//! its component, and writes one log line and the metrics per request.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::IF_NONE_MATCH;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as AutoBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::Core;
use crate::auth::{self, NODE_KEY_HEADER};
use crate::bindings::{self, AuthLevel};
use crate::routes::Lookup;
use crate::runtime::CallError;
use crate::{cache, components, docs, health, input, metrics, openapi};

pub type Body = Full<Bytes>;
pub type Response = http::Response<Body>;

const REQUEST_ID: &str = "x-request-id";

/// Serves until `shutdown` resolves, then lets open requests finish (up to 30 s).
pub async fn serve(
    core: Arc<Core>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let cors = cors_layer(&core.config.cors_origins);
    let graceful = GracefulShutdown::new();
    let http = Arc::new(connection_builder());
    // Past the cap, connections wait in the kernel's listen queue rather than each holding
    // memory and a task here.
    let slots = Arc::new(tokio::sync::Semaphore::new(core.config.max_connections));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let tls = core.tls.as_ref().map(crate::tls::Tls::acceptor);
        let core = Arc::clone(&core);
        let service = ServiceBuilder::new()
            .layer(cors.clone())
            .service(tower::service_fn(move |req| {
                let core = Arc::clone(&core);
                async move { Ok::<_, Infallible>(handle(core, peer, req).await) }
            }));
        let service = TowerToHyperService::new(service);
        let http = Arc::clone(&http);
        let watcher = graceful.watcher();
        // The handshake runs in the connection's task so a slow client never stalls accepting.
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                Some(acceptor) => match handshake(&acceptor, stream).await {
                    Ok(stream) => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection closed with an error");
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: waiting for open requests");
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still open after 30 s");
    }
}

/// How long a client may take to finish the TLS handshake while holding a connection slot.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/1.1, and HTTP/2 when the client asks for it (ALPN over TLS, or the preface).
fn connection_builder() -> AutoBuilder<TokioExecutor> {
    let mut http = AutoBuilder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    http.http2().timer(TokioTimer::new());
    http
}

async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

fn cors_layer(origins: &Option<Vec<String>>) -> CorsLayer {
    let allow = match origins {
        None => AllowOrigin::any(),
        Some(list) => AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())),
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            HeaderName::from_static(REQUEST_ID),
        ])
        // Web apps that read a subscription (traffic, title, refresh interval, file name) need
        // to see its headers, not only its body.
        .expose_headers([
            HeaderName::from_static(REQUEST_ID),
            http::header::RETRY_AFTER,
            HeaderName::from_static("subscription-userinfo"),
            HeaderName::from_static("profile-title"),
            HeaderName::from_static("profile-update-interval"),
            http::header::CONTENT_DISPOSITION,
            http::header::ETAG,
        ])
        .max_age(Duration::from_secs(600))
}

/// `{"error": {"code", "message"}}` with the given status.
pub fn error(status: u16, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    json(status, &body)
}

pub fn json(status: u16, body: &serde_json::Value) -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A caller's id if sane, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// What the log line and metrics say about a request.
struct Outcome {
    response: Response,
    route: String,
    component: Option<String>,
    /// Answered from the response cache, without running the component.
    cached: bool,
}

async fn handle(core: Arc<Core>, peer: SocketAddr, req: http::Request<Incoming>) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers());
    let method = req.method().as_str().to_string();
    let Outcome {
        mut response,
        route,
        component,
        cached,
    } = dispatch(&core, peer, &id, req).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    metrics::request(&method, &route, status, latency.as_secs_f64());
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let component = component.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::warn!(target: "nexuma::http", request_id = %id, %method, %route, status, latency_ms, component, cached, "request");
    } else {
        tracing::info!(target: "nexuma::http", request_id = %id, %method, %route, status, latency_ms, component, cached, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    // Something the request needed was unavailable: tell clients when to come back, whoever
    // answered (the host, a component, the stores) and unless they said so themselves.
    if status == 503 {
        response
            .headers_mut()
            .entry(http::header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static("1"));
    }
    response
}

async fn dispatch(
    core: &Core,
    peer: SocketAddr,
    id: &str,
    req: http::Request<Incoming>,
) -> Outcome {
    let path = req.uri().path().to_string();
    let host = |route: &str, response| Outcome {
        response,
        route: route.to_string(),
        component: None,
        cached: false,
    };
    let query = input::query_pairs(req.uri().query());
    if let Some(route) = components::api::pattern(&path) {
        let ip = client_ip(peer.ip(), req.headers(), &core.config.trusted_proxies);
        return host(route, components::api::handle(core, route, req, ip).await);
    }
    if let Some(route) = host_route(&path) {
        if let Some(field) = input::nul_field(&[], &query) {
            return host(route, nul_refusal(&field));
        }
        return host(
            route,
            host_answer(core, route, req.method(), req.headers()).await,
        );
    }

    // HEAD is a GET whose body is not sent: components only ever see GET.
    let head = req.method() == Method::HEAD;
    let method = if head {
        Method::GET
    } else {
        req.method().clone()
    };

    // Pin the loaded set for the whole request: a swap meanwhile does not affect it.
    let set = core.registry.current();
    let (entry, params) = match set.table.lookup(method.as_str(), &path) {
        Lookup::Found { entry, params } => (entry, params),
        Lookup::MethodNotAllowed(allowed) => {
            let mut resp = error(
                405,
                "method_not_allowed",
                &format!("{} is not allowed here", req.method()),
            );
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                resp.headers_mut().insert(http::header::ALLOW, v);
            }
            return host("<unmatched>", resp);
        }
        Lookup::NotFound => {
            return host(
                "<unmatched>",
                error(404, "not_found", &format!("no route for {path}")),
            )
        }
    };
    let route = entry.route.path.clone();
    // The version this request runs on, drawn once: a canary's share goes to the canary.
    let version = entry.pick();
    let component = Some(version.name.to_string());
    let out = |response| Outcome {
        response,
        route: route.clone(),
        component: component.clone(),
        cached: false,
    };
    // The answer as sent: conditional (GET and HEAD), and without a body for HEAD.
    let readonly = method == Method::GET;
    let finish = |response: Response, if_none_match: Option<&HeaderValue>| {
        let response = cache::conditional(if_none_match.filter(|_| readonly), response);
        if head {
            without_body(response)
        } else {
            response
        }
    };

    if let Some(field) = input::nul_field(&params, &query) {
        return out(nul_refusal(&field));
    }
    let caller =
        match auth::authenticate(entry.route.auth, &method, req.headers(), &core.caps).await {
            Ok(caller) => caller,
            Err((status, code, message)) => return out(refusal(status, code, message, entry)),
        };

    // Only anonymous GETs share answers: nothing a caller may see alone is ever kept.
    let shareable = readonly && caller.is_none();
    // Path and query as sent: part of a shared answer's key.
    let target = shareable.then(|| {
        req.uri()
            .path_and_query()
            .map_or(path.as_str(), |pq| pq.as_str())
            .to_string()
    });
    let cache_key = target
        .as_deref()
        .and_then(|t| core.responses.key(&route, t, req.headers()));
    if let Some(key) = &cache_key {
        if let Some(kept) = core
            .responses
            .find(key, &version.sha256, &core.caps.kv)
            .await
        {
            let response = finish(kept.response(), req.headers().get(IF_NONE_MATCH));
            return Outcome {
                cached: true,
                ..out(response)
            };
        }
    }

    let (parts, body) = req.into_parts();
    let body = match read_body(core, &parts.headers, body, core.config.body_limit).await {
        Ok(body) => body,
        Err(refusal) => return out(refusal),
    };
    if input::body_has_nul(&body, &parts.headers) {
        return out(error(
            400,
            "nul_character",
            "the request body contains a NUL character, which no field accepts",
        ));
    }

    let request = bindings::Request {
        request_id: id.to_string(),
        method: method.as_str().to_string(),
        route: entry.route.path.clone(),
        path: path.clone(),
        params,
        query,
        headers: visible_headers(&parts.headers),
        body: body.to_vec(),
        caller,
        remote_addr: client_ip(peer.ip(), &parts.headers, &core.config.trusted_proxies).to_string(),
    };
    let result = version.handle(&core.caps, id.into(), &request).await;
    let response = match result {
        Ok(mut answer) => {
            let body = Bytes::from(std::mem::take(&mut answer.response.body));
            let response = to_http(answer.response, body.clone(), &version.name);
            if response.status().is_server_error() {
                // A failure a canary is judged by; a trap's 500 below counts as a trap.
                version.stats.server_error();
            }
            if let (Some(target), Some(policy)) = (&target, answer.keep) {
                core.responses.keep(
                    &route,
                    target,
                    &parts.headers,
                    &version.sha256,
                    core.caps.kv.prefix(),
                    policy,
                    &response,
                    body,
                );
            }
            response
        }
        Err(e) => call_failure(e, id, &version.name),
    };
    out(finish(response, parts.headers.get(IF_NONE_MATCH)))
}

/// The request body, read within `limit` bytes and `BODY_READ_TIMEOUT_MS`; the answer to
/// send instead (413, 408, 400) when it cannot be.
pub(crate) async fn read_body(
    core: &Core,
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, Response> {
    let too_large = || {
        closing(error(
            413,
            "payload_too_large",
            &format!("the request body is larger than {limit} bytes"),
        ))
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(
        core.config.body_read_timeout,
        Limited::new(body, limit).collect(),
    );
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(error(
            400,
            "bad_request",
            "the request body could not be read",
        )),
        Err(_) => Err(closing(error(
            408,
            "request_timeout",
            &format!(
                "the request body did not arrive within {} s",
                core.config.body_read_timeout.as_secs()
            ),
        ))),
    }
}

/// An answer sent with the body left unread: the connection cannot carry another request, so
/// the client is told not to reuse it (else its next request on it fails mid-flight).
pub(crate) fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A refusal from authentication as an answer: `WWW-Authenticate` on a 401 for a token route.
fn refusal(status: u16, code: &str, message: &str, entry: &crate::routes::Entry) -> Response {
    let mut resp = error(status, code, message);
    if status == 401 && entry.route.auth != AuthLevel::Node {
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// 400 naming the path or query field that holds a NUL.
fn nul_refusal(field: &str) -> Response {
    error(
        400,
        "nul_character",
        &format!("{field} contains a NUL character"),
    )
}

/// The host's own routes (GET and HEAD only).
fn host_route(path: &str) -> Option<&'static str> {
    crate::routes::HOST_ROUTES
        .iter()
        .map(|(_, p)| *p)
        .find(|p| *p == path)
}

async fn host_answer(
    core: &Core,
    route: &str,
    method: &Method,
    headers: &http::HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = error(
            405,
            "method_not_allowed",
            &format!("{method} is not allowed here"),
        );
        resp.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let resp = match route {
        "/health" => health::respond(core).await,
        "/metrics" => match metrics::gate(&core.config.metrics, headers) {
            metrics::Gate::Serve => metrics_text(),
            metrics::Gate::Hidden => error(404, "not_found", "no route for /metrics"),
            metrics::Gate::Unauthorized => {
                let mut resp = error(401, "unauthorized", "a valid metrics token is required");
                resp.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
                resp
            }
        },
        "/docs" => html(&docs::page(&openapi::document(&core.registry.current()))),
        _ => json(200, &openapi::document(&core.registry.current())),
    };
    if method == Method::HEAD {
        without_body(resp)
    } else {
        resp
    }
}

/// A page of the host's own (`/docs`): no script or asset from elsewhere may run on it.
fn html(page: &str) -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::from(page.to_string())));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    resp
}

fn metrics_text() -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::from(metrics::render())));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// A HEAD answer: the GET's status and headers, its length, no body.
pub(crate) fn without_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let length = body.size_hint().exact().unwrap_or(0);
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    http::Response::from_parts(parts, Full::new(Bytes::new()))
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
/// `X-Forwarded-For` hop that is not itself a trusted proxy.
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Request headers a component may see: credentials stay in the host.
fn visible_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            *name != http::header::AUTHORIZATION
                && *name != http::header::COOKIE
                && name.as_str() != NODE_KEY_HEADER
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

/// The component's answer (its body already taken out) as an HTTP response.
fn to_http(resp: bindings::Response, body: Bytes, component: &str) -> Response {
    let Ok(status) = StatusCode::from_u16(resp.status) else {
        tracing::error!(
            component,
            status = resp.status,
            "component answered an invalid status"
        );
        return error(
            500,
            "component_error",
            "the component answered an invalid status",
        );
    };
    let mut out = http::Response::new(Full::new(body));
    *out.status_mut() = status;
    for (name, value) in resp.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            tracing::warn!(component, header = %name, "component sent an invalid header; dropped");
            continue;
        };
        // hyper frames the body itself.
        if name == http::header::CONTENT_LENGTH
            || name == http::header::TRANSFER_ENCODING
            || name == http::header::CONNECTION
        {
            continue;
        }
        out.headers_mut().append(name, value);
    }
    out
}

fn call_failure(err: CallError, id: &str, component: &str) -> Response {
    match &err {
        CallError::Deadline(limit) => {
            tracing::warn!(request_id = %id, component, error = %err, "component cut at its deadline");
            error(
                503,
                "deadline_exceeded",
                &format!(
                    "the request took longer than {} ms and was stopped",
                    limit.as_millis()
                ),
            )
        }
        CallError::Memory(_) => {
            tracing::error!(request_id = %id, component, error = %err, "component exceeded its memory cap");
            error(
                500,
                "memory_limit_exceeded",
                &format!("the request needed more memory than allowed (request id {id})"),
            )
        }
        CallError::Busy => {
            tracing::warn!(request_id = %id, component, "no free instance slot (COMPONENT_MAX_INSTANCES)");
            error(503, "busy", "the server is at capacity; retry shortly")
        }
        CallError::Trap(_) => {
            tracing::error!(request_id = %id, component, error = %err, "component trapped");
            error(
                500,
                "component_trap",
                &format!("the request failed inside the {component} component (request id {id})"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 5.6.7.8, 10.0.0.1"),
        );
        let stranger: IpAddr = "9.9.9.9".parse().expect("ip");
        assert_eq!(
            client_ip(stranger, &headers, &[proxy]),
            stranger,
            "untrusted peers cannot spoof"
        );
        let expected: IpAddr = "5.6.7.8".parse().expect("ip");
        assert_eq!(
            client_ip(proxy, &headers, &[proxy]),
            expected,
            "the nearest untrusted hop"
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }
}
