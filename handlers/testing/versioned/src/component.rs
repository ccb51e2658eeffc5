// The body of the `versioned` test component, shared by its builds (each crate's lib.rs sets
// VERSION and includes this file); the build whose VERSION is "trap" fails every request.

use nexuma_sdk::{export_component, response, ApiError, Component, Endpoint, Request, Response};

struct Versioned;

impl Component for Versioned {
    const ROUTES: &'static [Endpoint] = &[Endpoint::get("/test/version", version)
        .summary("Answers which build of the versioned test component serves")
        .doc(|route| {
            route.response_schema(serde_json::json!({
                "type": "object",
                "required": ["version"],
                "properties": { "version": { "type": "string" } }
            }))
        })];
}

fn version(req: &Request) -> Result<Response, ApiError> {
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

export_component!(Versioned);
