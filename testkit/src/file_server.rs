//! A local HTTP server with a known file, the far end of traffic through a proxy.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{channel::Channel, BodyExt, Either, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// Bytes the file server hands out per request.
pub const BLOB: usize = 200_000;

type Body = Either<Full<Bytes>, Channel<Bytes, Infallible>>;

/// Starts a server on loopback that answers any request with `BLOB` known bytes (after reading
/// the request body); on `/slow` it trickles them out over about 1.5 s. Returns its port.
pub async fn file_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the file server");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(answer))
                    .await;
            });
        }
    });
    port
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let slow = req.uri().path() == "/slow";
    let _ = req.into_body().collect().await;
    let blob: Vec<u8> = (0..BLOB).map(|i| (i % 251) as u8).collect();
    if !slow {
        return Ok(hyper::Response::new(Either::Left(Full::new(Bytes::from(
            blob,
        )))));
    }
    let (mut tx, body) = Channel::new(1);
    tokio::spawn(async move {
        for chunk in blob.chunks(BLOB / 10) {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if tx.send_data(Bytes::copy_from_slice(chunk)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = hyper::Response::new(Either::Right(body));
    resp.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(BLOB));
    Ok(resp)
}
