//! `/docs`: the API reference page a client author reads. It shows every operation of the
//! served `/openapi.json` (and nothing else), loads nothing from outside the Core, and renders
//! in a real headless Chromium.

mod common;

use common::{production_components, Backend, Core, Options};
use serde_json::Value;

/// The anchors the page gives the document's operations: `op-<method>-<path slug>`.
fn anchors(document: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.push(nexuma_host::docs::anchor(method, path));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_page_shows_every_operation_and_needs_nothing_from_outside() {
    let mut components = production_components();
    components.push("probe");
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().components(&components),
    )
    .await;
    let document = core.get("/openapi.json", None).await.body;
    let expected = anchors(&document);
    assert!(expected.len() > 100, "{} operations", expected.len());
    // What the document promises a client: a 204 carries no body.
    let no_content: Vec<&Value> = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values())
        .filter_map(|op| op["responses"].get("204"))
        .collect();
    assert!(
        no_content.len() >= 5,
        "{} operations answer 204",
        no_content.len()
    );
    assert!(
        no_content.iter().all(|r| r.get("content").is_none()),
        "{no_content:?}"
    );

    let r = core.get("/docs", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let page = &r.text;
    for anchor in &expected {
        assert!(
            page.contains(&format!("id=\"{anchor}\"")),
            "{anchor} is missing"
        );
    }
    assert_eq!(
        page.matches("class=\"operation\"").count(),
        expected.len(),
        "one section per operation, no more"
    );
    for outside in [
        "<script",
        "<link",
        "src=\"",
        "url(",
        "@import",
        "href=\"http",
    ] {
        assert!(
            !page.contains(outside),
            "the page must be self-contained: {outside}"
        );
    }
    assert!(
        page.contains("/admin/subscriptions/{id}/cancel"),
        "component routes"
    );
    assert!(
        page.contains("string (binary)"),
        "the components API's upload body"
    );

    // The browser's view: the page's sections are there once Chromium has laid it out, and it
    // paints (a screenshot of some substance).
    let dir = core.dir.path();
    let out = common::browser::chromium(dir, &["--dump-dom".to_string()], &core.url("/docs")).await;
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        dom.matches("class=\"operation\"").count(),
        expected.len(),
        "chromium said {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = dir.join("docs.png");
    let args = [
        "--window-size=1200,900".to_string(),
        format!("--screenshot={}", png.display()),
    ];
    common::browser::chromium(dir, &args, &core.url("/docs")).await;
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot: {size} bytes");
    if let Ok(keep) = std::env::var("NEXUMA_KEEP_SCREENSHOTS") {
        let _ = std::fs::copy(&png, std::path::Path::new(&keep).join("docs.png"));
    }

    // HEAD answers like GET without a body; other methods are refused.
    let r = core.send(reqwest::Method::HEAD, "/docs", None, None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.is_empty());
    let r = core.send(reqwest::Method::POST, "/docs", None, None).await;
    assert_eq!(r.status, 405);
}
