//! Who may read `/metrics`: open in development, a bearer token when `METRICS_TOKEN` is set,
//! and nothing (404, with a start-up line saying how to enable it) in production without one.

mod common;

use common::{Backend, Core, Options, Reply};

async fn metrics(core: &Core, auth: Option<&str>) -> Reply {
    let mut req = core.client.get(core.url("/metrics"));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    Reply::from(req.send().await.expect("request")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_keeps_metrics_open() {
    let core = Core::start(Backend::Embedded).await;
    let r = metrics(&core, None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("nexuma_http_requests_total"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_is_required_when_set() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().env("METRICS_TOKEN", "scrape-9f"),
    )
    .await;
    let none = metrics(&core, None).await;
    assert_eq!(none.status, 401, "{}", none.text);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    assert_eq!(metrics(&core, Some("Bearer scrape-9")).await.status, 401);
    assert_eq!(metrics(&core, Some("scrape-9f")).await.status, 401);
    let ok = metrics(&core, Some("Bearer scrape-9f")).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text.contains("nexuma_http_requests_total"));
    // The health check stays public.
    assert_eq!(core.get("/health", None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_hides_metrics_without_a_token() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().env("NODE_ENV", "production"),
    )
    .await;
    let r = metrics(&core, None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(
        core.log().contains("set METRICS_TOKEN"),
        "the start-up log says how to enable it:\n{}",
        core.log()
    );

    let with_token = Core::start_with(
        Backend::Embedded,
        Options::default()
            .env("NODE_ENV", "production")
            .env("METRICS_TOKEN", "scrape-9f"),
    )
    .await;
    assert_eq!(metrics(&with_token, None).await.status, 401);
    assert_eq!(
        metrics(&with_token, Some("Bearer scrape-9f")).await.status,
        200
    );
}
