//! Components bring their own schema, and outlive a contract change (issue 17): a version's
//! migrations run once across replicas before it is active, a failing one leaves the active
//! version as it was and says why, a component built for the frozen `nexuma:core@0.1.0` loads
//! and serves, and one built for a contract the Core does not know is refused with the versions
//! it accepts. On the real binary: three replicas on one PostgreSQL and Redis, and the embedded
//! single process on SQLite.

mod common;

use std::time::{Duration, Instant};

use common::components::{component, list, sha256, upload, wasm};
use common::{exec_sql, query_texts, Backend, Core, Options, Reply};
use serde_json::{json, Value};

/// How long every replica may take to serve an activation here (the goal is 1 s).
const SWAP_DEADLINE: Duration = Duration::from_secs(3);

/// `GET /test/notes` on `core`: which build answers, and the notes it reads.
async fn notes(core: &Core) -> Value {
    let r = core.get("/test/notes", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn add_note(core: &Core, text: &str) {
    let r = core
        .post("/test/notes", None, json!({ "text": text }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Waits until every core answers `/test/notes` from build `version`.
async fn all_serve(cores: &[&Core], version: &str) {
    let since = Instant::now();
    loop {
        let mut all = true;
        for core in cores {
            all &= notes(core).await["version"] == version;
        }
        if all {
            return;
        }
        assert!(
            since.elapsed() < SWAP_DEADLINE,
            "not every replica serves build {version} after {SWAP_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The recorded steps of the `schema` component: "version:applied_by".
async fn recorded(core: &Core) -> Vec<String> {
    query_texts(
        core,
        "SELECT CAST(version AS TEXT) || ':' || applied_by FROM component_migrations \
         WHERE component = 'schema' ORDER BY version",
    )
    .await
}

/// Pushes `file` as a new version of `schema` and activates it.
async fn push_schema(core: &Core, admin: &str, file: &str) -> Reply {
    upload(core, Some(admin), "?name=schema&activate=true", wasm(file)).await
}

/// A refused activation whose step 2 failed: the message says which step, the database's
/// reason, and which version stays active.
fn assert_refused_step(r: &Reply, stays: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "migration_failed", "{}", r.text);
    let message = r.message();
    assert!(
        message.contains("migration 2 (create test_tags, then fail)"),
        "{message}"
    );
    assert!(message.contains("no_such_table"), "{message}");
    assert!(
        message.contains(&format!("version {stays} stays active")),
        "{message}"
    );
}

/// Three replicas start together on a fresh database whose folder brings `schema`: its step
/// runs once. A version whose step fails changes nothing anywhere; the next good one runs only
/// its new step and every replica serves it; rollback keeps the data and the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_a_components_migration_once() {
    let options = || Options::default().components(&["auth", "schema"]);
    let mut a = Core::prepare(Backend::Servers, options());
    let mut b = Core::prepare(Backend::Servers, options());
    let mut c = Core::prepare(Backend::Servers, options());
    b.share_stores_with(&a);
    c.share_stores_with(&a);
    tokio::join!(a.spawn(), b.spawn(), c.spawn());
    let replicas = [&a, &b, &c];
    let v1 = sha256(&wasm("schema"));

    assert_eq!(recorded(&a).await, vec![format!("1:{v1}")]);
    let ran: usize = replicas
        .iter()
        .map(|r| r.log().matches("component migration ran").count())
        .sum();
    assert_eq!(ran, 1, "the step ran on exactly one replica");
    for (n, core) in replicas.iter().enumerate() {
        add_note(core, &format!("note {n}")).await;
    }
    assert_eq!(
        notes(&c).await["notes"],
        json!(["note 0", "note 1", "note 2"])
    );

    let admin = a.admin_token().await;
    let listed = list(&b, &admin).await;
    let schema = component(&listed, "schema");
    assert_eq!(schema["migrations"][0]["version"], 1, "{schema}");
    assert_eq!(
        schema["migrations"][0]["appliedBy"],
        v1.as_str(),
        "{schema}"
    );
    assert_eq!(schema["versions"][0]["contract"], "0.1.3", "{schema}");
    assert_eq!(
        schema["versions"][0]["migrations"],
        json!([{ "version": 1, "name": "create test_notes" }])
    );

    // Step 2 fails after creating a table: refused, nothing stored, nothing half-made.
    let revision = listed["revision"].clone();
    let r = push_schema(&b, &admin, "schema_broken").await;
    assert_refused_step(&r, &v1);
    for core in replicas {
        assert_eq!(notes(core).await["version"], "1");
    }
    let after = list(&a, &admin).await;
    assert_eq!(after["revision"], revision, "nothing moved");
    assert_eq!(
        component(&after, "schema")["versions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(recorded(&a).await, vec![format!("1:{v1}")]);
    let tables = query_texts(
        &a,
        "SELECT table_name FROM information_schema.tables WHERE table_name = 'test_tags'",
    )
    .await;
    assert!(tables.is_empty(), "the failed step left {tables:?}");

    // The next build: only step 2 runs, and every replica serves it with its new table.
    let v2 = sha256(&wasm("schema_next"));
    let r = push_schema(&c, &admin, "schema_next").await;
    assert_eq!(r.status, 201, "{}", r.text);
    all_serve(&replicas, "2").await;
    assert_eq!(
        recorded(&a).await,
        vec![format!("1:{v1}"), format!("2:{v2}")]
    );
    let served = notes(&a).await;
    assert_eq!(served["extra"], 1, "step 2's row is read: {served}");
    assert_eq!(served["notes"].as_array().map(Vec::len), Some(3));
    let audited = query_texts(
        &a,
        "SELECT after FROM audit_log WHERE action = 'component.activate' AND actor_id IS NOT NULL",
    )
    .await;
    assert!(
        audited.iter().any(|a| a.contains("\"migrationsRun\":[2]")),
        "{audited:?}"
    );

    // Rollback: the older build serves again on every replica, on the same data.
    let r = a
        .post("/admin/components/schema/rollback", Some(&admin), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    all_serve(&replicas, "1").await;
    assert_eq!(notes(&b).await["notes"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        recorded(&a).await.len(),
        2,
        "the schema stays where it went"
    );
}

/// The embedded Core (SQLite): the SQLite text of a step runs, a failing step changes nothing,
/// a step whose SQL changed since it ran is refused, and a bundled component whose step fails is
/// not activated while the Core starts and serves the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_core_runs_components_migrations() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().components(&["auth", "schema"]),
    )
    .await;
    let admin = core.admin_token().await;
    let v1 = sha256(&wasm("schema"));
    add_note(&core, "kept").await;

    let r = push_schema(&core, &admin, "schema_broken").await;
    assert_refused_step(&r, &v1);
    assert_eq!(notes(&core).await["version"], "1");

    let r = push_schema(&core, &admin, "schema_next").await;
    assert_eq!(r.status, 201, "{}", r.text);
    let served = notes(&core).await;
    assert_eq!(served["version"], "2", "{served}");
    assert_eq!(served["notes"], json!(["kept"]));
    let tags = query_texts(&core, "SELECT name FROM test_tags").await;
    assert_eq!(tags, vec!["sqlite"], "the step's SQLite text ran");

    // A released step must never change: the record of step 1 no longer matches its SQL.
    exec_sql(
        &core,
        "UPDATE component_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    let r = core
        .post("/admin/components/schema/rollback", Some(&admin), json!({}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "migration_failed");
    assert!(
        r.message()
            .contains("migration 1 (create test_notes) is not the SQL that version"),
        "{}",
        r.message()
    );
    assert_eq!(
        notes(&core).await["version"],
        "2",
        "the refused rollback changed nothing"
    );

    // A bundled component whose step fails: the Core starts, says why, serves the others.
    let broken = Core::start_with(
        Backend::Embedded,
        Options::default().components(&["auth", "schema_broken"]),
    )
    .await;
    assert!(
        broken
            .log()
            .contains("factory version not activated: its migration failed"),
        "{}",
        broken.log()
    );
    assert_eq!(broken.get("/test/notes", None).await.status, 404);
    assert_eq!(broken.get("/health", None).await.status, 200);
    let admin = broken.admin_token().await;
    assert!(component(&list(&broken, &admin).await, "schema_broken")["active"].is_null());
    let tables = query_texts(
        &broken,
        "SELECT name FROM sqlite_master WHERE name IN ('test_notes', 'test_tags')",
    )
    .await;
    assert!(tables.is_empty(), "the failed activation left {tables:?}");
}

/// Components built for the frozen contracts `nexuma:core@0.1.0` and `@0.1.1` load and serve,
/// their imports included (and the 0.1.1 one's migration runs); one built for a contract this
/// Core does not know is refused at upload, naming the versions it accepts, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_of_the_previous_contract_serve_and_unknown_ones_are_refused() {
    let core = Core::start_with(Backend::Servers, Options::default().components(&["auth"])).await;
    let admin = core.admin_token().await;
    let r = upload(
        &core,
        Some(&admin),
        "?name=legacy&activate=true",
        wasm("legacy"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["contract"], "0.1.0");
    assert_eq!(r.body["migrations"], json!([]));
    for calls in 1..=2 {
        let r = core.get("/test/legacy", None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["contract"], "0.1.0");
        assert_eq!(r.body["calls"], calls, "the key-value import works");
    }
    let r = upload(
        &core,
        Some(&admin),
        "?name=legacy_011&activate=true",
        wasm("legacy_011"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["contract"], "0.1.1");
    for calls in 1..=2 {
        let r = core.post("/test/legacy-011", None, json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["calls"], calls,
            "its own table, made by its migration"
        );
    }
    // 0.1.2's exports are today's; it only lacks the `api` import.
    let r = upload(
        &core,
        Some(&admin),
        "?name=legacy_012&activate=true",
        wasm("legacy_012"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["contract"], "0.1.2");
    let r = core.get("/test/legacy-012", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["contract"], "0.1.2");
    assert!(r.body["now"].as_i64().is_some_and(|t| t > 0), "{}", r.text);
    let listed = list(&core, &admin).await;
    assert_eq!(
        component(&listed, "legacy")["versions"][0]["contract"],
        "0.1.0"
    );
    assert_eq!(
        component(&listed, "legacy_011")["versions"][0]["contract"],
        "0.1.1"
    );

    let revision = listed["revision"].clone();
    let r = upload(
        &core,
        Some(&admin),
        "?name=future&activate=true",
        wasm("future"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "invalid_component");
    assert!(
        r.message().contains(
            "it was built for nexuma:core@0.9.0; this Core accepts nexuma:core@0.1.0, nexuma:core@0.1.1, nexuma:core@0.1.2, nexuma:core@0.1.3"
        ),
        "{}",
        r.message()
    );
    let after = list(&core, &admin).await;
    assert_eq!(after["revision"], revision);
    assert!(
        after["components"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["name"] != "future")),
        "{after}"
    );
}
