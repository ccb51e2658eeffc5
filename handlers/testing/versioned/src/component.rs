// The body of the `versioned` test component, shared by its builds (each crate's lib.rs sets
// VERSION and includes this file); the build whose VERSION is "trap" fails every request.

use nexuma_sdk::{export_component, response, ApiError, Component, Request, Response, Route};

struct Versioned;

impl Component for Versioned {
    fn routes() -> Vec<Route> {
        vec![Route::get("/test/version")
            .summary("Answers which build of the versioned test component serves")
            .response_schema(serde_json::json!({
                "type": "object",
                "required": ["version"],
                "properties": { "version": { "type": "string" } }
            }))]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        if VERSION == "trap" {
            // `?fail=answer`: a 500 the component answers itself, not a trap (a canary counts
            // both as failures).
            if req.query("fail") == Some("answer") {
                return Err(ApiError::internal("the versioned_trap build fails every request"));
            }
            panic!("the versioned_trap build fails every request");
        }
        response::json(200, &serde_json::json!({ "version": VERSION }))
    }
}

export_component!(Versioned);
