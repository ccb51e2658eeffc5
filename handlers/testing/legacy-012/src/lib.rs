//! `legacy_012`: a test component built for the frozen contract `nexuma:core@0.1.2`
//! (`wit/frozen/nexuma-core-0.1.2`), straight on wit-bindgen: the exports of today's contract
//! without its `api` import. Tests check a Core on a newer contract still serves it.

wit_bindgen::generate!({
    path: "../../../wit/frozen/nexuma-core-0.1.2",
    world: "handler",
});

use nexuma::core::clock;
use nexuma::core::types::AuthLevel;

struct Legacy;

impl Guest for Legacy {
    fn routes() -> Vec<Route> {
        vec![Route {
            method: "GET".into(),
            path: "/test/legacy-012".into(),
            auth: AuthLevel::Public,
            summary: "Answers from a component built for nexuma:core@0.1.2".into(),
            request_schema: None,
            response_schema: None,
            query_schema: None,
            success_status: 200,
        }]
    }

    fn handle(_req: Request) -> Response {
        // An import too, so the host's 0.1.2 imports are the ones linked.
        let body = format!("{{\"contract\":\"0.1.2\",\"now\":{}}}", clock::now_ms());
        Response {
            status: 200,
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

    fn migrations() -> Vec<Migration> {
        Vec::new()
    }

    fn route_docs() -> Vec<RouteDoc> {
        Vec::new()
    }
}

export!(Legacy);
