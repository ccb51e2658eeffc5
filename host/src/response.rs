//! The host's own answers: JSON errors and bodies, its HTML page, and the changes every answer
//! may need on its way out (a closing connection, HEAD's missing body, a Bearer challenge).

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::Full;
use hyper::body::Body as _;

/// Every answer's body: whole in memory, as components give it.
pub type Body = Full<Bytes>;
/// An answer as the server sends it.
pub type Response = http::Response<Body>;

/// `{"error": {"code", "message"}}` with the given status.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    json(status, &body)
}

/// `body` as `application/json` with the given status.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// 405 for `method`, with `Allow` naming what the path does serve (`allow` as the header says it).
pub fn not_allowed(method: &Method, allow: &str) -> Response {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{method} is not allowed here"),
    );
    if let Ok(v) = HeaderValue::from_str(allow) {
        resp.headers_mut().insert(http::header::ALLOW, v);
    }
    resp
}

/// A 401 that names the scheme a client should retry with (`WWW-Authenticate: Bearer`).
pub fn bearer_challenge(mut response: Response) -> Response {
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer"),
    );
    response
}

/// An answer sent with the body left unread: the connection cannot carry another request, so
/// the client is told not to reuse it (else its next request on it fails mid-flight).
pub fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A HEAD answer: the GET's status and headers, its length, no body.
pub fn without_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let length = body.size_hint().exact().unwrap_or(0);
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    http::Response::from_parts(parts, Full::new(Bytes::new()))
}

/// A page of the host's own (`/docs`): no script or asset from elsewhere may run on it.
pub fn html(page: &str) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_keeps_the_length_and_drops_the_body() {
        let head = without_body(error(StatusCode::NOT_FOUND, "not_found", "no route for /x"));
        assert_eq!(head.status(), StatusCode::NOT_FOUND);
        let length = head.headers()[http::header::CONTENT_LENGTH]
            .to_str()
            .expect("length");
        assert_eq!(
            length,
            r#"{"error":{"code":"not_found","message":"no route for /x"}}"#
                .len()
                .to_string()
        );
        assert_eq!(head.body().size_hint().exact(), Some(0));
    }

    #[test]
    fn a_405_names_what_is_allowed() {
        let resp = not_allowed(&Method::PUT, "GET, HEAD");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[http::header::ALLOW], "GET, HEAD");
    }
}
