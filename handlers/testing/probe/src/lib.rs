//! `probe`: a component used only by the host's tests and benchmarks. Each route exercises one
//! host behaviour: routing and params, auth levels, kv and db plumbing, and the sandbox limits
//! (epoch deadline, traps, memory cap), outbound HTTP.

use nexuma_sdk::{
    cache, db, export_component, http, kv, response, settings, ApiError, AuthLevel, Component,
    Endpoint, Job, Request, Response,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

struct Probe;

/// Interval of the probe's jobs.
const TICK_MS: u64 = 200;
/// Counter the `tick` job increments.
const TICKS_KEY: &str = "probe:ticks";

fn pairs_to_object(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn caller_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "role"],
        "properties": { "id": { "type": "string" }, "role": { "type": "string" } }
    })
}

impl Component for Probe {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::get("/test/echo", echo)
            .summary("Echoes the request's route, params and query without any I/O")
            .doc(|route| {
                route
                    .query(
                        json!({ "say": { "type": "string", "description": "Anything; echoed back" } }),
                        &[],
                    )
                    .response_schema(json!({
                        "type": "object",
                        "required": ["ok", "route", "params", "query", "requestId"],
                        "properties": {
                            "ok": { "type": "boolean" },
                            "route": { "type": "string" },
                            "params": { "type": "object", "additionalProperties": { "type": "string" } },
                            "query": { "type": "object", "additionalProperties": { "type": "string" } },
                            "requestId": { "type": "string" }
                        }
                    }))
            }),
        Endpoint::get("/test/items/:id", |req| {
            response::json(200, &json!({ "id": req.param("id")? }))
        })
        .summary("Echoes the `id` path parameter")
        .doc(|route| {
            route.response_schema(json!({
                "type": "object",
                "required": ["id"],
                "properties": { "id": { "type": "string" } }
            }))
        }),
        Endpoint::get("/test/kept/:name", kept).summary(
            "Counts its runs and lets the host keep the answer under the content epoch, \
             varying on x-variant (?ttl= in ms)",
        ),
        Endpoint::post("/test/kept/epoch", |_req| {
            cache::invalidate();
            response::no_content()
        })
        .summary("Moves the content epoch"),
        Endpoint::get("/test/spin", |_req| loop {
            std::hint::black_box(());
        })
        .summary("Loops forever, to hit the epoch deadline"),
        Endpoint::get("/test/trap", |_req| panic!("probe: deliberate trap"))
            .summary("Panics, to trap the instance"),
        Endpoint::get("/test/maybe-whoami", maybe_whoami)
            .summary("Returns the caller when a valid token came along, else null"),
        Endpoint::get("/test/whoami", whoami)
            .auth(AuthLevel::User)
            .summary("Returns the authenticated caller")
            .doc(|route| route.response_schema(caller_schema())),
        Endpoint::get("/test/admin", whoami)
            .auth(AuthLevel::Admin)
            .summary("Returns the authenticated admin caller")
            .doc(|route| route.response_schema(caller_schema())),
        Endpoint::get("/test/node", whoami)
            .auth(AuthLevel::Node)
            .summary("Returns the authenticated node caller")
            .doc(|route| route.response_schema(caller_schema())),
        Endpoint::post("/test/kv", kv_roundtrip)
            .summary("Sets a key, then reads it and its TTL back")
            .doc(|route| {
                route
                    .request_schema(json!({
                        "type": "object",
                        "required": ["key", "value"],
                        "properties": {
                            "key": { "type": "string" },
                            "value": { "type": "string" },
                            "ttlMs": { "type": ["integer", "null"], "minimum": 0 }
                        }
                    }))
                    .response_schema(json!({
                        "type": "object",
                        "required": ["value", "ttlMs"],
                        "properties": {
                            "value": { "type": ["string", "null"] },
                            "ttlMs": { "type": ["integer", "null"] }
                        }
                    }))
            }),
        Endpoint::get("/test/db", count_users)
            .summary("Counts users through the db interface")
            .doc(|route| {
                route.response_schema(json!({
                    "type": "object",
                    "required": ["users"],
                    "properties": { "users": { "type": "integer" } }
                }))
            }),
        Endpoint::get("/test/alloc", |_req| alloc(200))
            .summary("Allocates and touches 200 MiB, to hit the memory cap"),
        Endpoint::get("/test/alloc/:mib", alloc_mib)
            .summary("Allocates and touches `mib` MiB (at most 1024), to grow the instance's memory"),
        Endpoint::get("/test/ticks", ticks)
            .summary("How many times the `tick` job has run")
            .doc(|route| {
                route.response_schema(json!({
                    "type": "object",
                    "required": ["ticks"],
                    "properties": { "ticks": { "type": "integer" } }
                }))
            }),
        Endpoint::post("/test/fetch", fetch)
            .summary("Sends one outbound HTTP request and returns its status and body text")
            .doc(|route| {
                route
                    .request_schema(json!({
                        "type": "object",
                        "required": ["url"],
                        "properties": {
                            "url": { "type": "string" },
                            "method": { "type": "string" },
                            "pin": { "type": "string" },
                            "body": { "type": "string" },
                            "timeoutMs": { "type": "integer", "minimum": 0 }
                        }
                    }))
                    .response_schema(json!({
                        "type": "object",
                        "required": ["status", "body"],
                        "properties": {
                            "status": { "type": "integer" },
                            "body": { "type": "string" }
                        }
                    }))
            }),
    ];

    fn jobs() -> Vec<Job> {
        vec![Job::every("tick", TICK_MS), Job::every("fail", TICK_MS)]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        match name {
            "tick" => {
                kv::incr(TICKS_KEY, 1, None)?;
                Ok(())
            }
            "fail" => Err(ApiError::bad_request(
                "probe_failure",
                "probe: deliberate job failure",
            )),
            other => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {other}"),
            )),
        }
    }
}

fn echo(req: &Request) -> Result<Response, ApiError> {
    response::json(
        200,
        &json!({
            "ok": true,
            "route": req.route,
            "params": pairs_to_object(&req.params),
            "query": pairs_to_object(&req.query),
            "requestId": req.request_id,
            "publicUrl": settings::public_url(),
        }),
    )
}

fn maybe_whoami(req: &Request) -> Result<Response, ApiError> {
    response::json(
        200,
        &json!({ "caller": req.caller.as_ref().map(|c| json!({ "id": c.id, "role": c.role })) }),
    )
}

fn whoami(req: &Request) -> Result<Response, ApiError> {
    let caller = req.caller()?;
    response::json(200, &json!({ "id": caller.id, "role": caller.role }))
}

fn ticks(_req: &Request) -> Result<Response, ApiError> {
    let ticks = kv::get(TICKS_KEY)?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    response::json(200, &json!({ "ticks": ticks }))
}

fn count_users(_req: &Request) -> Result<Response, ApiError> {
    let rows = db::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users", &[])?;
    let users = match rows.first() {
        Some(row) => row.i64("n")?,
        None => 0,
    };
    response::json(200, &json!({ "users": users }))
}

fn alloc_mib(req: &Request) -> Result<Response, ApiError> {
    let mib = req
        .param("mib")?
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_ALLOC_MIB)
        .ok_or_else(|| ApiError::validation("mib", format!("must be 0 to {MAX_ALLOC_MIB}")))?;
    alloc(mib)
}

/// Largest allocation `/test/alloc/:mib` takes: far over any sensible memory cap, and small
/// enough that the size arithmetic cannot overflow.
const MAX_ALLOC_MIB: usize = 1024;

fn alloc(mib: usize) -> Result<Response, ApiError> {
    let size = mib << 20;
    let mut block = vec![0u8; size];
    // Write one byte per page so every page is really committed, not just reserved.
    for i in (0..size).step_by(4096) {
        block[i] = (i >> 12) as u8;
    }
    std::hint::black_box(&block);
    response::json(200, &json!({ "allocatedMiB": mib }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KvBody {
    key: String,
    value: String,
    ttl_ms: Option<u64>,
}

fn kv_roundtrip(req: &Request) -> Result<Response, ApiError> {
    let body: KvBody = req.json()?;
    kv::set(&body.key, &body.value, body.ttl_ms)?;
    let value = kv::get(&body.key)?;
    let ttl_ms = kv::ttl_ms(&body.key)?;
    // The key with one that was never set on each side, read together.
    let many = kv::get_many(&[
        "probe:never".to_string(),
        body.key.clone(),
        "probe:never-either".to_string(),
    ])?;
    response::json(
        200,
        &json!({ "value": value, "ttlMs": ttl_ms, "many": many }),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchBody {
    url: String,
    method: Option<String>,
    pin: Option<String>,
    body: Option<String>,
    timeout_ms: Option<u32>,
}

fn fetch(req: &Request) -> Result<Response, ApiError> {
    let body: FetchBody = req.json()?;
    let mut out = http::Request::new(body.method.as_deref().unwrap_or("GET"), &body.url)
        .pin_opt(body.pin.as_deref());
    if let Some(ms) = body.timeout_ms {
        out = out.timeout_ms(ms);
    }
    if let Some(text) = body.body {
        out = out.body("text/plain", text);
    }
    let answer = out.send()?;
    response::json(
        200,
        &json!({ "status": answer.status, "body": answer.text() }),
    )
}

export_component!(Probe);

/// Counts the component's runs for this route, so a test tells a kept answer (the same count)
/// from a fresh one.
fn kept(req: &Request) -> Result<Response, ApiError> {
    let epoch = cache::current()?;
    let runs = kv::incr("probe:kept-runs", 1, None)?;
    let ttl = req
        .query("ttl")
        .and_then(|t| t.parse().ok())
        .unwrap_or(60_000);
    epoch.keep_answer(["x-variant"], ttl);
    Ok(response::json(
        200,
        &json!({ "name": req.param("name")?, "runs": runs, "variant": req.header("x-variant") }),
    )?
    .with_header("etag", format!("\"run-{runs}\"")))
}
