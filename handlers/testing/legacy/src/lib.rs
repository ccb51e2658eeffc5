//! `legacy`: a test component built for the frozen contract `nexuma:core@0.1.0`
//! (`wit/frozen/nexuma-core-0.1.0`), straight on wit-bindgen as an operator's component of that
//! release was: no `migrations` export. Tests check a Core on a newer contract still loads and
//! serves it, imports included (the clock and the key-value store).

wit_bindgen::generate!({
    path: "../../../wit/frozen/nexuma-core-0.1.0",
    world: "handler",
});

use nexuma::core::types::AuthLevel;
use nexuma::core::{clock, kv};

struct Legacy;

impl Guest for Legacy {
    fn routes() -> Vec<Route> {
        vec![Route {
            method: "GET".into(),
            path: "/test/legacy".into(),
            auth: AuthLevel::Public,
            summary: "Answers from a component built for nexuma:core@0.1.0".into(),
            request_schema: None,
            response_schema: None,
            query_schema: None,
            success_status: 200,
        }]
    }

    fn handle(_req: Request) -> Response {
        let (status, body) = match kv::incr("legacy:calls", 1, None) {
            Ok(calls) => (
                200,
                format!(
                    "{{\"contract\":\"0.1.0\",\"calls\":{calls},\"nowMs\":{}}}",
                    clock::now_ms()
                ),
            ),
            Err(e) => (
                503,
                format!(
                    "{{\"error\":{{\"code\":\"unavailable\",\"message\":{:?}}}}}",
                    e.message
                ),
            ),
        };
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into_bytes(),
        }
    }

    fn jobs() -> Vec<Job> {
        Vec::new()
    }

    fn run_job(name: String) -> Result<(), String> {
        Err(format!("no job named {name}"))
    }
}

export!(Legacy);
