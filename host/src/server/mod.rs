//! HTTP: a request's way through the host, one named step at a time.
//!
//! `handle` gives the request its id, `dispatch` sends it to the components API, a host route
//! or a component's route, then `handle` writes the log line and metrics and stamps the answer
//! (request id, `Retry-After` on a 503). A component's route runs the pipeline of
//! `component_route`: lookup (404/405) → path and query checks → authentication → a kept
//! answer (the response cache) → body (limit, deadline, NUL) → the call → the answer as sent
//! (304, HEAD). Each step may answer in the component's place.

mod accept;
mod call;
mod host_routes;
mod nested;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::IF_NONE_MATCH;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;

pub use accept::serve;

use crate::app::Core;
use crate::bindings::Caller;
use crate::body::{self, Limits, RequestBody};
use crate::headers::{self, REQUEST_ID};
use crate::registry::Versions;
use crate::response::{self, Response};
use crate::routes::{Entry, Lookup, Params, RouteTable};
use crate::runtime::LoadedComponent;
use crate::{auth, cache, components, input, metrics};

/// The route a request no route matched is counted under.
const UNMATCHED: &str = "<unmatched>";

/// An answer, and what the log line and metrics say about it.
struct Outcome {
    response: Response,
    route: String,
    component: Option<String>,
    /// Answered from the response cache, without running the component.
    cached: bool,
}

impl Outcome {
    /// An answer of the host's own, counted under `route`.
    fn host(route: &str, response: Response) -> Self {
        Outcome {
            response,
            route: route.to_string(),
            component: None,
            cached: false,
        }
    }
}

async fn handle(core: Arc<Core>, peer: SocketAddr, req: Request<Incoming>) -> Response {
    let started = Instant::now();
    let id = headers::request_id(req.headers());
    let method = req.method().clone();
    let outcome = dispatch(&core, peer, &id, req, 0).await;
    log(&outcome, &id, &method, started.elapsed(), 0);
    stamp(outcome.response, &id)
}

/// The request's one log line (a warning for a 5xx) and its metrics; `depth` is 0 for a
/// request from a connection, 1 for one a component made through `api`, and so on.
fn log(outcome: &Outcome, id: &str, method: &Method, latency: Duration, depth: u8) {
    let status = outcome.response.status().as_u16();
    let route = &outcome.route;
    metrics::request(method.as_str(), route, status, latency.as_secs_f64());
    let latency_ms = latency.as_secs_f64() * 1000.0;
    let component = outcome.component.as_deref().unwrap_or("-");
    let cached = outcome.cached;
    if status >= 500 {
        tracing::warn!(target: "nexuma::http", request_id = %id, %method, %route, status, latency_ms, component, cached, depth, "request");
    } else {
        tracing::info!(target: "nexuma::http", request_id = %id, %method, %route, status, latency_ms, component, cached, depth, "request");
    }
}

/// What every answer carries, whoever gave it: the request id, and on a 503 (something the
/// request needed was unavailable) when to come back, unless the answer says so itself.
fn stamp(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(http::header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static("1"));
    }
    response
}

/// The host's routes first (they are reserved: no component declares them), then the table.
async fn dispatch<B: RequestBody>(
    core: &Core,
    peer: SocketAddr,
    id: &str,
    req: Request<B>,
    depth: u8,
) -> Outcome {
    let path = req.uri().path();
    if let Some(route) = components::api::pattern(path) {
        let ip = headers::client_ip(peer.ip(), req.headers(), &core.config.trusted_proxies);
        return Outcome::host(route, components::api::handle(core, route, req, ip).await);
    }
    if let Some(route) = host_routes::find(path) {
        return Outcome::host(route, host_routes::answer(core, route, &req).await);
    }
    component_route(core, peer, id, req, depth).await
}

/// The pipeline of a component's route.
async fn component_route<B: RequestBody>(
    core: &Core,
    peer: SocketAddr,
    id: &str,
    req: Request<B>,
    depth: u8,
) -> Outcome {
    let run = Run::of(req.method());
    // Pin the loaded set for the whole request: a swap meanwhile does not affect it.
    let set = core.registry.current();
    let (entry, params) = match find_route(&set.table, &run, &req) {
        Ok(found) => found,
        Err(response) => return Outcome::host(UNMATCHED, response),
    };
    let routed = Routed {
        core,
        // Resolved once: the guest request's address and whom its in-process calls act for.
        client: headers::client_ip(peer.ip(), req.headers(), &core.config.trusted_proxies),
        id,
        depth,
        run,
        entry,
        // Drawn once: a canary's share of requests goes to the canary.
        version: entry.target.pick(),
    };
    let (response, cached) = match routed.answer(params, req).await {
        Ok(Delivered { response, cached }) => (response, cached),
        Err(refusal) => (refusal, false),
    };
    Outcome {
        response,
        route: entry.route.path.clone(),
        component: Some(routed.version.name.to_string()),
        cached,
    }
}

/// The method a route runs under: HEAD is a GET whose body is not sent, so components only
/// ever see GET.
struct Run {
    method: Method,
    head: bool,
}

impl Run {
    fn of(method: &Method) -> Self {
        let head = method == Method::HEAD;
        let method = if head { Method::GET } else { method.clone() };
        Run { method, head }
    }

    /// GET or HEAD: what may be answered conditionally, and shared.
    fn reads(&self) -> bool {
        self.method == Method::GET
    }

    /// The answer as sent: conditional for GET and HEAD (`If-None-Match` → 304), and without
    /// a body for HEAD.
    fn deliver(&self, response: Response, request_headers: &HeaderMap) -> Response {
        let if_none_match = request_headers.get(IF_NONE_MATCH).filter(|_| self.reads());
        let response = cache::conditional(if_none_match, response);
        if self.head {
            response::without_body(response)
        } else {
            response
        }
    }
}

/// The route the request reaches and its path parameters; else a 404, or a 405 naming the
/// methods the path has.
// The refusal is the answer as sent, moved once: boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn find_route<'t, B>(
    table: &'t RouteTable<Versions>,
    run: &Run,
    req: &Request<B>,
) -> Result<(&'t Entry<Versions>, Params), Response> {
    let path = req.uri().path();
    match table.lookup(run.method.as_str(), path) {
        Lookup::Found { entry, params } => Ok((entry, params)),
        Lookup::MethodNotAllowed(allowed) => {
            Err(response::not_allowed(req.method(), &allowed.join(", ")))
        }
        Lookup::NotFound => Err(response::error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no route for {path}"),
        )),
    }
}

/// A component's answer on its way out, and whether the response cache gave it.
struct Delivered {
    response: Response,
    cached: bool,
}

/// A request whose route is known, on its way to the component's version that serves it.
struct Routed<'a> {
    core: &'a Core,
    /// The client's address (`X-Forwarded-For` read from trusted proxies only).
    client: IpAddr,
    id: &'a str,
    /// How deep in in-process calls this request is (0: from a connection).
    depth: u8,
    run: Run,
    entry: &'a Entry<Versions>,
    version: &'a Arc<LoadedComponent>,
}

impl Routed<'_> {
    /// The steps after the lookup, in order. A refusal (`Err`) is sent as it is.
    async fn answer<B: RequestBody>(
        &self,
        params: Params,
        req: Request<B>,
    ) -> Result<Delivered, Response> {
        let query = input::query_pairs(req.uri().query());
        if let Some(refusal) = input::nul_refusal(&params, &query) {
            return Err(refusal);
        }
        let caller = self.authenticate(req.headers()).await?;
        let target = shared_target(&self.run, caller.as_ref(), req.uri());
        if let Some(kept) = self.kept(target.as_deref(), req.headers()).await {
            return Ok(Delivered {
                response: self.run.deliver(kept.response(), req.headers()),
                cached: true,
            });
        }
        let (parts, body) = req.into_parts();
        let body = read_checked(self.core, &parts.headers, body).await?;
        let request = self.guest_request(&parts, params, query, body, caller);
        let response = self.call(&request, target.as_deref(), &parts.headers).await;
        Ok(Delivered {
            response: self.run.deliver(response, &parts.headers),
            cached: false,
        })
    }

    /// The caller at the route's level (`auth.rs`), or the refusal as an answer.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Caller>, Response> {
        let level = self.entry.route.auth;
        auth::authenticate(level, &self.run.method, headers, &self.core.caps)
            .await
            .map_err(|refusal| refusal.response(level))
    }

    /// A fresh answer the response cache keeps for this request, made by this version.
    async fn kept(
        &self,
        target: Option<&str>,
        headers: &HeaderMap,
    ) -> Option<Arc<cache::KeptAnswer>> {
        let responses = &self.core.responses;
        let key = responses.key(&self.entry.route.path, target?, headers)?;
        responses
            .find(&key, &self.version.sha256, &self.core.caps.kv)
            .await
    }
}

/// Path and query as sent, for an anonymous GET or HEAD: part of a shared answer's key. Only
/// those share answers: nothing a caller may see alone is ever kept.
fn shared_target(run: &Run, caller: Option<&Caller>, uri: &http::Uri) -> Option<String> {
    (run.reads() && caller.is_none()).then(|| {
        uri.path_and_query()
            .map_or(uri.path(), |pq| pq.as_str())
            .to_string()
    })
}

/// The body within the request limits (`BODY_LIMIT_BYTES`, `BODY_READ_TIMEOUT_MS`), free of NUL.
async fn read_checked<B: RequestBody>(
    core: &Core,
    headers: &HeaderMap,
    body: B,
) -> Result<Bytes, Response> {
    let body = body::read(headers, body, Limits::request(&core.config)).await?;
    if let Some(refusal) = input::body_nul_refusal(&body, headers) {
        return Err(refusal);
    }
    Ok(body)
}
