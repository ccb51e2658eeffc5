//! `hello`: a template for a Nexuma component of your own — one public JSON route and one
//! background job. Copy the folder, rename it, and replace the route with yours; the guide is
//! docs/components.md.
//!
//! The host calls `routes` and `jobs` once when it loads the component, then runs `handle` (or
//! `run_job`) in a fresh instance for every request (or tick): nothing kept in memory survives a
//! call, so state lives in the database or the key-value store.

use nexuma_sdk::{
    clock, export_component, kv, response, ApiError, AuthLevel, Component, Job, Request, Response,
    Route,
};
use serde::Serialize;
use serde_json::json;

struct Hello;

/// The job's counter in the key-value store. Every component shares the one store, so keys start
/// with the component's name.
const TICKS_KEY: &str = "hello:ticks";
/// How often the `tick` job runs; with several Core replicas each tick runs on one of them.
const TICK_MS: u64 = 60_000;
/// Longest name echoed back: names are user input and the answer should stay small.
const MAX_NAME: usize = 64;

/// The success body of `GET /hello/:name`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Greeting {
    message: String,
    /// How many times the job has run since the key-value store last started empty.
    ticks: i64,
    /// The Core's clock, epoch milliseconds.
    now_ms: i64,
}

impl Component for Hello {
    fn routes() -> Vec<Route> {
        vec![Route::get("/hello/:name")
            .auth(AuthLevel::Public)
            .summary("Greets `name` (the template component)")
            .query(
                json!({ "greeting": { "type": "string", "description": "Word to greet with (default Hello)" } }),
                &[],
            )
            .response_schema(json!({
                "type": "object",
                "required": ["message", "ticks", "nowMs"],
                "properties": {
                    "message": { "type": "string" },
                    "ticks": { "type": "integer" },
                    "nowMs": { "type": "integer" }
                }
            }))]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("GET", "/hello/:name") => greet(req),
            _ => Err(req.unhandled()),
        }
    }

    fn jobs() -> Vec<Job> {
        vec![Job::every("tick", TICK_MS)]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        match name {
            "tick" => tick(),
            _ => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            )),
        }
    }
}

/// `GET /hello/:name?greeting=Hi`. A bad name is the caller's mistake: 400 naming the field,
/// which the SDK turns into `{"error": {"code", "message", "field"}}`.
fn greet(req: &Request) -> Result<Response, ApiError> {
    let name = req.param("name")?;
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::validation(
            "name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    let greeting = req.query("greeting").unwrap_or("Hello");
    // A key-value error becomes 503 through `?`; a value that is not a number counts as none.
    let ticks = kv::get(TICKS_KEY)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    response::json(
        200,
        &Greeting {
            message: format!("{greeting}, {name}!"),
            ticks,
            now_ms: clock::now_ms(),
        },
    )
}

/// One tick of the `tick` job. An `Err` is written to the Core's log with the job's name.
fn tick() -> Result<(), ApiError> {
    kv::incr(TICKS_KEY, 1, None)?;
    Ok(())
}

// The database works the same way (the SQL runs on PostgreSQL and SQLite alike):
//
//     use nexuma_sdk::db;
//     let rows = db::query("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM users WHERE status = $1",
//                          &["active".into()])?;
//     let total = rows.first().map(|row| row.i64("total")).transpose()?.unwrap_or(0);

export_component!(Hello);
