//! `overlap`: a test component whose only route, `GET /test/items/:name`, overlaps the probe's
//! `GET /test/items/:id`. The host must refuse to load the two together.

use nexuma_sdk::{export_component, response, Component, Endpoint};

struct Overlap;

impl Component for Overlap {
    const ROUTES: &'static [Endpoint] = &[Endpoint::get("/test/items/:name", |_req| {
        response::json(200, &serde_json::json!({}))
    })
    .summary("Overlaps probe's /test/items/:id on purpose")
    .doc(|route| route.response_schema(serde_json::json!({ "type": "object" })))];
}

export_component!(Overlap);
