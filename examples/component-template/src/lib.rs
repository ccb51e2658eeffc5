//! `hello`: a template for a Nexuma component of your own — one public JSON route, one
//! background job and one table of its own (created by its migration). Copy the folder, rename it, and replace the route with yours; the guide is
//! docs/components.md.
//!
//! The host reads the route table (`ROUTES`) and `jobs` once when it loads the component, then
//! runs the matched route's handler (or `run_job`) in a fresh instance for every request (or
//! tick): nothing kept in memory survives a call, so state lives in the database or the
//! key-value store.

use nexuma_sdk::{
    clock, db, export_component, kv, response, ApiError, AuthLevel, Component, Endpoint, Job,
    Migration, Request, Response,
};
use schemars::JsonSchema;
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

/// The success body of `GET /hello/:name`. Its JSON Schema in the Core's OpenAPI document is
/// derived from this type (`response_type` below), doc comments included, so the two never
/// disagree.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Greeting {
    /// `<greeting>, <name>!`
    message: String,
    /// How many times this name has been greeted, counted in the component's own table.
    times: i64,
    /// How many times the job has run since the key-value store last started empty.
    ticks: i64,
    /// The Core's clock, epoch milliseconds.
    now_ms: i64,
}

impl Component for Hello {
    /// One row per route: method and path, who may call it, its summary, its handler, and the
    /// rest of its doc (applied only when the Core loads the component, never per request).
    /// A request whose route is in no row is answered 404.
    const ROUTES: &'static [Endpoint] = &[Endpoint::get("/hello/:name", greet)
        .auth(AuthLevel::Public)
        .summary("Greets `name` (the template component)")
        .doc(|route| {
            route
                .query(
                    json!({ "greeting": { "type": "string", "description": "Word to greet with (default Hello)" } }),
                    &[],
                )
                .response_type::<Greeting>()
        })];

    fn jobs() -> Vec<Job> {
        vec![Job::every("tick", TICK_MS)]
    }

    /// The component's own tables. The Core runs the steps it has not run yet, once, before
    /// this version becomes active; a released step never changes: add step 2, 3, ... for
    /// later changes. `portable` SQL runs on PostgreSQL and SQLite alike; `per_backend` takes
    /// one text for each.
    fn migrations() -> Vec<Migration> {
        vec![Migration::portable(
            1,
            "create hello_greetings",
            "CREATE TABLE hello_greetings (\
               name TEXT PRIMARY KEY, \
               times BIGINT NOT NULL, \
               last_at BIGINT NOT NULL)",
        )]
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
    let now = clock::now_ms();
    // SQL runs on PostgreSQL and SQLite alike: `$n` placeholders, BIGINT epoch milliseconds.
    let rows = db::query(
        "INSERT INTO hello_greetings (name, times, last_at) VALUES ($1, 1, $2) \
         ON CONFLICT (name) DO UPDATE SET times = hello_greetings.times + 1, \
           last_at = excluded.last_at \
         RETURNING times",
        &[name.into(), now.into()],
    )?;
    let times = rows
        .first()
        .map(|row| row.i64("times"))
        .transpose()?
        .unwrap_or(1);
    // A key-value error becomes 503 through `?`; a value that is not a number counts as none.
    let ticks = kv::get(TICKS_KEY)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    response::json(
        200,
        &Greeting {
            message: format!("{greeting}, {name}!"),
            times,
            ticks,
            now_ms: now,
        },
    )
}

/// One tick of the `tick` job. An `Err` is written to the Core's log with the job's name.
fn tick() -> Result<(), ApiError> {
    kv::incr(TICKS_KEY, 1, None)?;
    Ok(())
}

export_component!(Hello);
