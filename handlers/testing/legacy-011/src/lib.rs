//! `legacy_011`: a test component built for the frozen contract `nexuma:core@0.1.1`
//! (`wit/frozen/nexuma-core-0.1.1`), straight on wit-bindgen: it brings a migration but no
//! `route-docs` export. Tests check a Core on a newer contract runs its migration and serves it
//! (the database import on its own table).

wit_bindgen::generate!({
    path: "../../../wit/frozen/nexuma-core-0.1.1",
    world: "handler",
});

use nexuma::core::db::{self, Value};
use nexuma::core::types::AuthLevel;

struct Legacy;

impl Guest for Legacy {
    fn routes() -> Vec<Route> {
        vec![Route {
            method: "POST".into(),
            path: "/test/legacy-011".into(),
            auth: AuthLevel::Public,
            summary:
                "Counts calls in a table of its own, from a component built for nexuma:core@0.1.1"
                    .into(),
            request_schema: None,
            response_schema: None,
            query_schema: None,
            success_status: 200,
        }]
    }

    fn handle(_req: Request) -> Response {
        let counted = db::execute("INSERT INTO test_legacy_calls (at) VALUES (1)", &[])
            .and_then(|_| db::query("SELECT COUNT(*) FROM test_legacy_calls", &[]));
        let (status, body) = match counted {
            Ok(rows) => match rows.rows.first().and_then(|r| r.first()) {
                Some(Value::Int(calls)) => {
                    (200, format!("{{\"contract\":\"0.1.1\",\"calls\":{calls}}}"))
                }
                _ => (
                    500,
                    "{\"error\":{\"code\":\"internal\",\"message\":\"no count\"}}".into(),
                ),
            },
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

    fn migrations() -> Vec<Migration> {
        let sql = "CREATE TABLE test_legacy_calls (at BIGINT NOT NULL)";
        vec![Migration {
            version: 1,
            name: "create test_legacy_calls".into(),
            postgres: sql.into(),
            sqlite: sql.into(),
        }]
    }
}

export!(Legacy);
