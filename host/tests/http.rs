//! Outbound HTTP (`nexuma:core/http`) through the probe's `POST /test/fetch`, against a plain
//! HTTP server and an HTTPS server with a self-signed certificate, both started by the test.
//! The backend does not matter here, so only the embedded one runs.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Backend, Core, Options};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

/// Bytes `/big` answers with: over the host's 8 MiB cap.
const BIG: usize = 9 << 20;

async fn answer(req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text: Bytes = match path.as_str() {
        "/hello" => "hello".into(),
        "/echo" => format!("{method} {}", String::from_utf8_lossy(&body)).into(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late".into()
        }
        "/big" => vec![b'x'; BIG].into(),
        _ => {
            return Ok(hyper::Response::builder()
                .status(404)
                .body(Full::new("no such path".into()))
                .expect("response"))
        }
    };
    Ok(hyper::Response::builder()
        .header("x-test", "yes")
        .body(Full::new(text))
        .expect("response"))
}

/// Serves `answer` on a fresh loopback port, over TLS when an acceptor is given.
async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = service_fn(answer);
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        // A client refusing the certificate ends the handshake: not an error here.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    port
}

/// A self-signed certificate for a name the test never dials (so a pinned request that works
/// proves names are ignored): the acceptor and the certificate's SHA-256 as colon-separated
/// upper-case hex (the node agent's format).
fn self_signed() -> (tokio_rustls::TlsAcceptor, String) {
    let names = vec!["agent.invalid".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    let der = certified.cert.der().clone();
    let fingerprint = Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.key_pair.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server config");
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        fingerprint,
    )
}

async fn start() -> Core {
    let options = Options::default()
        .components(&["probe"])
        .env("RUST_LOG", "info,nexuma_host::iface::http=debug");
    Core::start_with(Backend::Embedded, options).await
}

async fn fetch(core: &Core, body: Value) -> common::Reply {
    core.post("/test/fetch", None, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_requests_and_their_failures() {
    let core = start().await;
    let port = serve(None).await;
    let base = format!("http://127.0.0.1:{port}");

    let r = fetch(&core, json!({ "url": format!("{base}/hello") })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "status": 200, "body": "hello" }));

    let r = fetch(
        &core,
        json!({ "url": format!("{base}/echo"), "method": "put", "body": "payload" }),
    )
    .await;
    assert_eq!(r.body["body"], "PUT payload", "{}", r.text);

    let r = fetch(&core, json!({ "url": format!("{base}/missing") })).await;
    assert_eq!(
        r.body,
        json!({ "status": 404, "body": "no such path" }),
        "an upstream 404 is a response, not an error"
    );

    let started = Instant::now();
    let r = fetch(
        &core,
        json!({ "url": format!("{base}/slow"), "timeoutMs": 300 }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (504, "upstream_timeout"),
        "{}",
        r.text
    );
    assert!(
        r.message().contains(&format!("127.0.0.1:{port}")),
        "{}",
        r.text
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout was not applied: {:?}",
        started.elapsed()
    );

    let r = fetch(&core, json!({ "url": format!("{base}/big") })).await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.text);
    assert!(r.message().contains("8 MiB"), "{}", r.text);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let r = fetch(
        &core,
        json!({ "url": format!("http://127.0.0.1:{closed}/") }),
    )
    .await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.text);
    assert!(
        r.message().contains("unreachable") && r.message().contains(&format!(":{closed}")),
        "{}",
        r.text
    );

    for url in ["file:///etc/passwd", "ftp://127.0.0.1/", "no url at all"] {
        let r = fetch(&core, json!({ "url": url })).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_upstream_request"),
            "{url}: {}",
            r.text
        );
    }
    let r = fetch(&core, json!({ "url": "file:///etc/passwd" })).await;
    assert!(r.message().contains("http"), "{}", r.text);
    let r = fetch(
        &core,
        json!({ "url": format!("{base}/hello"), "method": "GET GET" }),
    )
    .await;
    assert_eq!(r.code(), "invalid_upstream_request", "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_pinned_self_signed_certificate() {
    let core = start().await;
    let (acceptor, fingerprint) = self_signed();
    let port = serve(Some(acceptor)).await;
    let url = format!("https://127.0.0.1:{port}/hello");

    let r = fetch(&core, json!({ "url": url, "pin": fingerprint })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "status": 200, "body": "hello" }));

    // The same pin as plain lower-case hex.
    let plain = fingerprint.replace(':', "").to_lowercase();
    let r = fetch(&core, json!({ "url": url, "pin": plain })).await;
    assert_eq!(r.body["status"], 200, "{}", r.text);

    let wrong = "00:".repeat(31) + "00";
    let r = fetch(&core, json!({ "url": url, "pin": wrong })).await;
    assert_eq!(
        (r.status, r.code()),
        (502, "upstream_pin_mismatch"),
        "{}",
        r.text
    );
    assert!(
        r.message().contains("pin") && r.message().contains(&fingerprint),
        "the message says the pin failed and shows the certificate's: {}",
        r.text
    );

    let r = fetch(&core, json!({ "url": url })).await;
    assert_eq!((r.status, r.code()), (502, "upstream_error"), "{}", r.text);
    assert!(
        r.message().contains("TLS"),
        "without a pin the self-signed certificate is refused: {}",
        r.text
    );

    let r = fetch(&core, json!({ "url": url, "pin": "abc" })).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_upstream_request"),
        "{}",
        r.text
    );

    // Plain HTTP to the TLS port fails cleanly.
    let r = fetch(
        &core,
        json!({ "url": format!("http://127.0.0.1:{port}/hello") }),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_debug_line_per_call_without_path_or_query() {
    let core = start().await;
    let port = serve(None).await;
    let url = format!("http://127.0.0.1:{port}/hello?token=s3cr3t-value");
    let r = fetch(&core, json!({ "url": url })).await;
    assert_eq!(r.body["status"], 200, "{}", r.text);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = core.log();
        if let Some(line) = log.lines().find(|l| l.contains("outbound http")) {
            for field in ["127.0.0.1", "GET", "200", "component", "probe"] {
                assert!(line.contains(field), "{field} in {line}");
            }
            assert!(!log.contains("s3cr3t"), "the query reached the log: {log}");
            assert!(!log.contains("/hello"), "the path reached the log: {log}");
            break;
        }
        assert!(Instant::now() < deadline, "no outbound http line:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_slower_than_the_request_deadline_is_a_clean_504() {
    let options = Options::default()
        .components(&["probe"])
        .env("COMPONENT_TIMEOUT_MS", "1000");
    let core = Core::start_with(Backend::Embedded, options).await;
    let port = serve(None).await;
    // No timeout asked for (the default is 10 s): the request's own 1 s deadline bounds the call.
    let r = fetch(
        &core,
        json!({ "url": format!("http://127.0.0.1:{port}/slow") }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (504, "upstream_timeout"),
        "{}",
        r.text
    );
}
