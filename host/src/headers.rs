//! Header work at the edge: the request id, the client's address, what a component may see of a
//! request's headers, and a component's answer turned into an HTTP response.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::Full;

use crate::auth::NODE_KEY_HEADER;
use crate::bindings;
use crate::response::{self, Response};

/// The header a request's id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// A caller's id if sane (1 to 64 of `[A-Za-z0-9_-]`), else a new UUID v4.
///
/// Not tower-http's `SetRequestId`: it keeps whatever id a caller sends, and ours must not reach
/// the log line or a component unchecked.
pub fn request_id(headers: &HeaderMap) -> String {
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

/// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
/// `X-Forwarded-For` hop that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
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
pub fn visible_headers(headers: &HeaderMap) -> Vec<(String, String)> {
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
pub fn to_http(resp: bindings::Response, body: Bytes, component: &str) -> Response {
    let Ok(status) = StatusCode::from_u16(resp.status) else {
        tracing::error!(
            component,
            status = resp.status,
            "component answered an invalid status"
        );
        return response::error(
            StatusCode::INTERNAL_SERVER_ERROR,
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

    #[test]
    fn only_a_sane_request_id_is_taken() {
        let with = |id: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(REQUEST_ID, HeaderValue::from_str(id).expect("header"));
            request_id(&headers)
        };
        assert_eq!(with("trace-42_A"), "trace-42_A");
        let long = "a".repeat(65);
        for insane in ["", "a b", "a.b", long.as_str()] {
            let made = with(insane);
            assert_ne!(made, insane);
            assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        }
    }

    #[test]
    fn credentials_stay_in_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, HeaderValue::from_static("x"));
        headers.insert(http::header::COOKIE, HeaderValue::from_static("x"));
        headers.insert(NODE_KEY_HEADER, HeaderValue::from_static("x"));
        headers.insert(http::header::USER_AGENT, HeaderValue::from_static("ua"));
        assert_eq!(
            visible_headers(&headers),
            vec![("user-agent".to_string(), "ua".to_string())]
        );
    }
}
