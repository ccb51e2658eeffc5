//! `nexuma:core/api`: the Core's own HTTP API, called in-process by a component (the console
//! serves its pages over the other components' routes this way).
//!
//! The request takes the way a request from a connection takes — the host hands it to a
//! [`Dispatch`] the server implements, so this module knows nothing of routes or components —
//! with the calling request's id and client address, one level deeper. It grants nothing: the
//! credentials are the ones the component puts in the request. Nesting is bounded
//! ([`MAX_DEPTH`]) so a route that calls itself ends with an error, not with every instance slot
//! taken; and the call is bounded by the calling instance's deadline.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};
use http_body_util::Full;
use wasmtime::component::HasData;

use super::Call;
use crate::bindings::nexuma::core::api::{self as wit, ApiError, ApiRequest, ApiResponse};

/// Deepest nesting of in-process calls: a request from a connection is depth 0, a call it makes
/// depth 1, one that call makes depth 2.
pub const MAX_DEPTH: u8 = 2;

/// Headers a caller may not set on an in-process request: the host sets the request id, and
/// the client address is the calling request's, not one a component claims.
const HOST_HEADERS: [&str; 3] = ["x-request-id", "x-forwarded-for", "host"];

/// Where a call comes from, as far as the in-process calls it makes are concerned: the client
/// they act for and how deep the call already is.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// The client address the calling request came from.
    pub client: IpAddr,
    /// 0 for a request from a connection or the host's own call, 1 for one made through
    /// `api`, and so on.
    pub depth: u8,
}

impl Source {
    /// The host's own calls (loading a component, a job tick): from the loopback, at the top.
    pub const HOST: Source = Source {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        depth: 0,
    };
}

/// A request handed to the server in-process: what it carries beyond the HTTP request.
pub struct Nested {
    /// The calling request's id, which the nested request's log line carries too.
    pub request_id: Arc<str>,
    /// The client the calling request came from.
    pub client: IpAddr,
    /// The nested request's depth (at least 1).
    pub depth: u8,
}

/// An answer, its body whole.
pub type Answer = http::Response<Bytes>;

/// What serves an in-process request: the server, which runs it through its pipeline.
pub trait Dispatch: Send + Sync {
    /// Serves `req` as if it came from `nested.client` and answers with the body whole.
    fn dispatch(
        &self,
        req: http::Request<Full<Bytes>>,
        nested: Nested,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + '_>>;
}

/// The `api` capability: the server, once it exists (it is built after the capabilities).
#[derive(Default)]
pub struct Api {
    server: OnceLock<Weak<dyn Dispatch>>,
}

impl Api {
    /// Names the server that serves in-process requests; the first one named stays.
    pub fn serve_with(&self, server: Weak<dyn Dispatch>) {
        let _ = self.server.set(server);
    }

    async fn call(&self, req: ApiRequest, call: &Call) -> Result<ApiResponse, ApiError> {
        let depth = call.source.depth + 1;
        if depth > MAX_DEPTH {
            return Err(ApiError::TooDeep);
        }
        let request = http_request(req)?;
        let server = self
            .server
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| ApiError::InvalidRequest("the server is not running".into()))?;
        let nested = Nested {
            request_id: Arc::clone(&call.request_id),
            client: call.source.client,
            depth,
        };
        let left = call.deadline.saturating_duration_since(Instant::now());
        let answer = tokio::time::timeout(left, server.dispatch(request, nested))
            .await
            .map_err(|_| ApiError::Timeout)?;
        Ok(api_response(answer))
    }
}

/// The component's request as HTTP, or what is wrong with it.
fn http_request(req: ApiRequest) -> Result<http::Request<Full<Bytes>>, ApiError> {
    let invalid = |what: String| ApiError::InvalidRequest(what);
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| invalid(format!("{:?} is not an HTTP method", req.method)))?;
    if !req.target.starts_with('/') {
        return Err(invalid(format!(
            "the target {:?} must be a path starting with /",
            req.target
        )));
    }
    let uri: Uri = req
        .target
        .parse()
        .map_err(|_| invalid(format!("{:?} is not a valid path and query", req.target)))?;
    let mut request = http::Request::new(Full::new(Bytes::from(req.body)));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    for (name, value) in req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("{name:?} is not a header name")))?;
        if HOST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| invalid(format!("the value of {name} is not a valid header value")))?;
        request.headers_mut().append(name, value);
    }
    Ok(request)
}

fn api_response(answer: Answer) -> ApiResponse {
    let (parts, body) = answer.into_parts();
    ApiResponse {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect(),
        body: body.to_vec(),
    }
}

/// What the `api` interface sees of an instance: the capability and the call it serves.
pub struct ApiCtx<'a> {
    /// The capability: the server to hand requests to.
    pub api: &'a Api,
    /// The call the instance serves: its request id, client, depth and deadline.
    pub call: &'a Call,
}

/// Links `api` to an instance's [`ApiCtx`].
pub struct ApiView;

impl HasData for ApiView {
    type Data<'a> = ApiCtx<'a>;
}

impl wit::Host for ApiCtx<'_> {
    async fn call(&mut self, req: ApiRequest) -> wasmtime::Result<Result<ApiResponse, ApiError>> {
        Ok(self.api.call(req, self.call).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_sound_request_keeps_its_credentials_but_not_the_hosts_headers() {
        let req = http_request(request(
            "POST",
            "/admin/tariffs?x=1",
            &[
                ("authorization", "Bearer t"),
                ("x-request-id", "forged"),
                ("x-forwarded-for", "1.2.3.4"),
            ],
        ))
        .expect("sound");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/admin/tariffs");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(req.headers()["authorization"], "Bearer t");
        assert!(!req.headers().contains_key("x-request-id"));
        assert!(!req.headers().contains_key("x-forwarded-for"));
    }

    #[test]
    fn a_bad_method_target_or_header_is_refused_with_what_is_wrong() {
        let refused = |req| match http_request(req) {
            Err(ApiError::InvalidRequest(why)) => why,
            other => panic!("not refused: {other:?}"),
        };
        assert!(refused(request("GE T", "/x", &[])).contains("method"));
        assert!(refused(request("GET", "http://evil/x", &[])).contains("path"));
        assert!(refused(request("GET", "/x", &[("bad name", "v")])).contains("header"));
        assert!(refused(request("GET", "/x", &[("x-a", "line\nbreak")])).contains("x-a"));
    }

    #[tokio::test]
    async fn a_call_past_the_deepest_nesting_is_refused() {
        let api = Api::default();
        let call = Call {
            component: "console".into(),
            request_id: "r".into(),
            deadline: Instant::now() + std::time::Duration::from_secs(1),
            source: Source {
                client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                depth: MAX_DEPTH,
            },
        };
        let err = api.call(request("GET", "/x", &[]), &call).await;
        assert!(matches!(err, Err(ApiError::TooDeep)), "{err:?}");
    }
}
