//! The host's own routes (`routes::HOST_ROUTES`): `/health`, `/metrics`, `/openapi.json`,
//! `/docs`. GET and HEAD only; anything else is a 405.

use http::{Method, Request, StatusCode};

use crate::app::Core;
use crate::response::{self, Response};
use crate::{docs, health, input, metrics, openapi};

/// The host route at `path`, if it is one.
pub(super) fn find(path: &str) -> Option<&'static str> {
    crate::routes::HOST_ROUTES
        .iter()
        .map(|(_, p)| *p)
        .find(|p| *p == path)
}

/// The answer of the host route `route` to `req`.
pub(super) async fn answer<B>(core: &Core, route: &str, req: &Request<B>) -> Response {
    let query = input::query_pairs(req.uri().query());
    if let Some(refusal) = input::nul_refusal(&[], &query) {
        return refusal;
    }
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return response::not_allowed(method, "GET, HEAD");
    }
    let resp = match route {
        "/health" => health::respond(core).await,
        "/metrics" => metrics_answer(core, req),
        "/docs" => response::html(&docs::page(&openapi::document(&core.registry.current()))),
        _ => response::json(StatusCode::OK, &openapi::document(&core.registry.current())),
    };
    if method == Method::HEAD {
        response::without_body(resp)
    } else {
        resp
    }
}

/// `/metrics` as its gate (`metrics::gate`) decides.
fn metrics_answer<B>(core: &Core, req: &Request<B>) -> Response {
    match metrics::gate(&core.config.metrics, req.headers()) {
        metrics::Gate::Serve => metrics_text(),
        metrics::Gate::Hidden => {
            response::error(StatusCode::NOT_FOUND, "not_found", "no route for /metrics")
        }
        metrics::Gate::Unauthorized => response::bearer_challenge(response::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid metrics token is required",
        )),
    }
}

fn metrics_text() -> Response {
    let mut resp = http::Response::new(response::Body::from(metrics::render()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
