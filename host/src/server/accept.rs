//! The listener loop: connections accepted up to a cap, each served by hyper (HTTP/1.1 or
//! HTTP/2) in its own task behind CORS, after its TLS handshake when HTTPS is on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as AutoBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::app::Core;
use crate::headers::REQUEST_ID;

/// How long a client may take to finish the TLS handshake while holding a connection slot.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
                async move { Ok::<_, Infallible>(super::handle(core, peer, req).await) }
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
