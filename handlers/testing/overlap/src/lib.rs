//! `overlap`: a test component whose only route, `GET /test/items/:name`, overlaps the probe's
//! `GET /test/items/:id`. The host must refuse to load the two together.

use nexuma_sdk::{export_component, response, ApiError, Component, Request, Response, Route};

struct Overlap;

impl Component for Overlap {
    fn routes() -> Vec<Route> {
        vec![Route::get("/test/items/:name")
            .summary("Overlaps probe's /test/items/:id on purpose")
            .response_schema(serde_json::json!({ "type": "object" }))]
    }

    fn handle(_req: &Request) -> Result<Response, ApiError> {
        response::json(200, &serde_json::json!({}))
    }
}

export_component!(Overlap);
