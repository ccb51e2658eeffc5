// The body of the `schema` test component, shared by its three builds: each crate's lib.rs sets
// VERSION, `steps()` (its schema steps) and `extra()` and includes this file.

use nexuma_sdk::{
    clock, db, export_component, response, ApiError, Component, Endpoint, Migration, Request,
    Response,
};

struct Schema;

/// Step 1 of every build: the notes table the routes use.
const NOTES: &str = "CREATE TABLE test_notes (\
    id BIGINT PRIMARY KEY, text TEXT NOT NULL, created_at BIGINT NOT NULL)";

impl Component for Schema {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::post("/test/notes", add).summary("Stores a note in the component's own table"),
        Endpoint::get("/test/notes", |_req| notes())
            .summary("The stored notes, and which build of the schema component answers"),
    ];

    fn migrations() -> Vec<Migration> {
        steps()
    }
}

fn add(req: &Request) -> Result<Response, ApiError> {
    let body: serde_json::Value = serde_json::from_slice(&req.body)
        .map_err(|_| ApiError::validation("text", "the body must be JSON {\"text\": \"...\"}"))?;
    let text = body["text"]
        .as_str()
        .ok_or_else(|| ApiError::validation("text", "must be a string"))?
        .to_string();
    let now = clock::now_ms();
    db::execute(
        "INSERT INTO test_notes (id, text, created_at) \
         VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM test_notes), $1, $2)",
        &[text.into(), now.into()],
    )?;
    response::json(201, &serde_json::json!({ "stored": true }))
}

fn notes() -> Result<Response, ApiError> {
    let rows = db::query("SELECT text FROM test_notes ORDER BY id", &[])?;
    let notes = rows
        .iter()
        .map(|r| r.string("text"))
        .collect::<Result<Vec<_>, _>>()?;
    response::json(
        200,
        &serde_json::json!({ "version": VERSION, "notes": notes, "extra": extra()? }),
    )
}

export_component!(Schema);
