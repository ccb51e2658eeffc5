//! `/openapi.json` held to what the Core does, on a Core running every operator component:
//!
//! - Schemathesis (pinned in the Makefile, installed into `target/apitest-venv` by
//!   `make apitest-tools`) generates requests from the served document, valid and invalid, and
//!   sends them with a user's token (public, user and node routes, the last with a node's key)
//!   and with an admin's (public, user and admin routes), on both backends. It fails on any
//!   5xx (`not_a_server_error`), on a status the document does not declare
//!   (`status_code_conformance`), on an answer its schema does not describe
//!   (`response_schema_conformance`), in a media type it does not name
//!   (`content_type_conformance`) or without a header it promises
//!   (`response_headers_conformance`). The checks that valid requests pass and invalid ones are
//!   refused still fail where a rule lives in code only (see issue 18's note);
//!   `NEXUMA_FUZZ_CHECKS` runs them by hand.
//! - The document validates against the OpenAPI 3.1 meta-schema (`openapi-spec-validator`).
//! - Every route the Core serves is an operation of the document, and every operation is a
//!   route the Core serves.
//!
//! `NEXUMA_FUZZ_EXAMPLES` (default 30 per operation) and `NEXUMA_FUZZ_SEED` (default fixed, so
//! CI explores the same cases each run) make a longer or different run; see README.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::apitest::{run_bounded, tail, tool};
use common::routes::{self, Level};
use common::{Backend, Core, Options};
use serde_json::{json, Value};

/// The checks CI enforces: those the document passes today.
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
                      content_type_conformance,response_headers_conformance";
/// A run that takes longer than this hangs somewhere: it is killed and the test fails. An
/// admin run's coverage phase alone takes about 200 s for 164 operations on a debug Core (it
/// grows with the routes and their parameters), and the fuzzing phase follows it.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// An address nothing listens on, put in every `url` field of a generated body: routes that
/// contact the address they are given (a Node Manager agent, an external source) must never
/// make the Core contact hosts on the Internet a fuzzer made up (https: the Node Manager takes
/// nothing else).
const DEAD_URL: &str = "https://127.0.0.1:9/";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// What the runs need from a seeded Core.
struct Seed {
    admin: String,
    user: String,
    user_id: String,
    node_key: String,
}

/// An admin, a user with a subscription of a tariff, and a registered node whose key the node
/// routes are called with.
async fn seed(core: &Core) -> Seed {
    let admin = core.admin_token().await;
    let (user, _, user_id) = core.register("user@example.com", "password-user").await;
    common::subscribe(core, &admin, &user_id).await;
    let r = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "edge", "address": "edge.example.com",
                    "inbounds": [{ "tag": "vless-in", "protocol": "vless", "port": 443 }] }),
        )
        .await;
    assert_eq!(r.status, 201, "node: {}", r.text);
    let node_id = r.str("id");
    let r = core
        .post(
            &format!("/admin/nodes/{node_id}/registration-code"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "code: {}", r.text);
    let r = core
        .post(
            "/node/register",
            None,
            json!({ "protocol": 1, "code": r.body["code"], "hostname": "edge",
                    "agentVersion": "0.1.0", "coreVersion": "V2Ray 4.34.0", "coreFlavor": "v2ray" }),
        )
        .await;
    assert_eq!(r.status, 201, "node register: {}", r.text);
    Seed {
        admin,
        user,
        user_id,
        node_key: r.str("key"),
    }
}

/// The Schemathesis configuration of one run. Besides the dead URL in bodies:
/// - `POST /admin/components` is left out: its body is a `.wasm` file (`application/wasm`),
///   which Schemathesis cannot generate, and random bytes are never a component (the upload
///   checks have tests of their own in `components.rs`);
/// - `PATCH /admin/users/{id}` only ever names the seeded user: generated bodies demote and
///   block, and on the admin's own id the rest of the run would be refused;
/// - the routes that contact a caller's address may answer 502/504 (the address is dead), as
///   `authz.rs` lets them;
/// - node routes carry the seeded node's key;
/// - `excluded` (operation names, `METHOD /path`) are left out.
fn config(seed: &Seed, excluded: &[String]) -> String {
    let upstream = [
        "POST /nodes/add",
        "POST /admin/external-subscriptions/test",
        "POST /admin/external-subscriptions/{id}/test",
        "POST /admin/external-subscriptions/{id}/refresh",
    ]
    .map(String::from);
    let mut left_out = vec!["POST /admin/components".to_string()];
    left_out.extend_from_slice(excluded);
    format!(
        r#"[parameters]
"body.url" = {dead}

[[operations]]
include-name = {left_out}
enabled = false

[[operations]]
include-name = "PATCH /admin/users/{{id}}"
parameters = {{ "path.id" = {user_id} }}

[[operations]]
include-name = {upstream}
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502", "504"]

[[operations]]
include-path-regex = "^/node/"
headers = {{ "x-node-auth-key" = {key} }}
"#,
        dead = toml_str(DEAD_URL),
        left_out = toml_list(&left_out),
        user_id = toml_str(&seed.user_id),
        upstream = toml_list(&upstream),
        key = toml_str(&seed.node_key),
    )
}

/// One Schemathesis run over the served document with `token`; its report when a check fails.
fn schemathesis(core: &Core, who: &str, token: &str, config: &str) -> Result<(), String> {
    let config_path = core.dir.path().join(format!("schemathesis-{who}.toml"));
    std::fs::write(&config_path, config).expect("config");
    let mut command = Command::new(tool("schemathesis"));
    command
        .arg("--config-file")
        .arg(&config_path)
        .args(["run", &core.url("/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", &env_or("NEXUMA_FUZZ_CHECKS", CHECKS)])
        // Stateful needs links the document does not have yet; examples, none either.
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &env_or("NEXUMA_FUZZ_EXAMPLES", "30")])
        .args(["--seed", &env_or("NEXUMA_FUZZ_SEED", "18")])
        // One worker: Python 3.11 raises a spurious "AST constructor recursion depth
        // mismatch" when threads parse at once (CPython gh-106905), which Hypothesis does.
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(core.dir.path().join(format!("schemathesis-{who}")))
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .current_dir(core.dir.path());
    let started = Instant::now();
    let out = run_bounded(command, RUN_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "schemathesis ({who}, {:?}) took {:.0?}:\n{}",
        core.backend,
        started.elapsed(),
        tail(&stdout, 20)
    );
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "schemathesis with the {who}'s token on {:?} found failures ({}):\n{stdout}\n{}",
        core.backend,
        out.status,
        String::from_utf8_lossy(&out.stderr),
    ))
}

async fn start(backend: Backend) -> Core {
    Core::start_with(
        backend,
        Options::default().components(&common::production_components()),
    )
    .await
}

/// The user's run first: the admin's may block that user.
async fn fuzz(backend: Backend) {
    let core = start(backend).await;
    let seed = seed(&core).await;
    let table = routes::table(&core).await;
    let at = |level: Level| -> Vec<String> {
        table
            .iter()
            .filter(|r| r.level == level)
            .map(|r| format!("{} {}", r.method, openapi_path(&r.pattern)))
            .collect()
    };
    // The user's run leaves out admin routes (authz.rs holds them to 403 for a user) and calls
    // the node routes with the node's key. The admin's leaves the node routes out: it deletes
    // nodes and revokes their keys (with ids learnt from responses), after which every node
    // call would only be refused.
    let user_config = config(&seed, &at(Level::Admin));
    let admin_config = config(&seed, &at(Level::Node));
    let core = std::sync::Arc::new(core);
    let (c, user) = (core.clone(), seed.user.clone());
    let user_run =
        tokio::task::spawn_blocking(move || schemathesis(&c, "user", &user, &user_config))
            .await
            .expect("user run");
    let (c, admin) = (core.clone(), seed.admin.clone());
    let admin_run =
        tokio::task::spawn_blocking(move || schemathesis(&c, "admin", &admin, &admin_config))
            .await
            .expect("admin run");
    let failures: Vec<String> = [user_run, admin_run]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The Core is still up and well after both runs.
    let r = core.get("/health", None).await;
    assert_eq!(r.status, 200, "health after the runs: {}", r.text);
}

/// `:id` → `{id}`.
fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_embedded() {
    fuzz(Backend::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_servers() {
    fuzz(Backend::Servers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_is_valid_openapi_3_1() {
    let core = start(Backend::Embedded).await;
    let r = core.get("/openapi.json", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["openapi"], "3.1.0");
    let file = core.dir.path().join("openapi.json");
    std::fs::write(&file, &r.text).expect("document");
    let mut command = Command::new(tool("openapi-spec-validator"));
    command.args(["--schema", "3.1.0"]).arg(&file);
    let out = run_bounded(command, RUN_LIMIT);
    assert!(
        out.status.success(),
        "/openapi.json is not a valid OpenAPI 3.1 document:\n{}",
        // The validator's first line names the error; what follows repeats the whole document.
        String::from_utf8_lossy(&out.stdout)
            .chars()
            .take(2000)
            .collect::<String>()
    );
}

/// (method, pattern) of every operation the document describes.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let (pattern, _) = routes::pattern_of(path);
            ops.insert((method.to_uppercase(), pattern));
        }
    }
    ops
}

/// (method, pattern) of every route the Core serves: each component's active version's routes
/// as `/admin/components` lists them, and the host's own; HEAD wherever GET is served.
async fn served(core: &Core, admin: &str) -> BTreeSet<(String, String)> {
    let r = core.get("/admin/components", Some(admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut routes = BTreeSet::new();
    for component in r.body["components"].as_array().expect("components") {
        let active = component["active"]["hash"].as_str().expect("active hash");
        let version = component["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .find(|v| v["hash"] == active)
            .unwrap_or_else(|| panic!("the active version of {}", component["name"]));
        for route in version["routes"].as_array().expect("routes") {
            routes.insert((
                route["method"].as_str().expect("method").to_string(),
                route["path"].as_str().expect("path").to_string(),
            ));
        }
    }
    for (method, path) in nexuma_host::routes::HOST_ROUTES
        .iter()
        .chain(nexuma_host::components::api::ROUTES.iter())
    {
        routes.insert((method.to_string(), path.to_string()));
    }
    let heads: Vec<_> = routes
        .iter()
        .filter(|(method, _)| method == "GET")
        .map(|(_, path)| ("HEAD".to_string(), path.clone()))
        .collect();
    routes.extend(heads);
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_describes_exactly_the_served_routes() {
    let core = start(Backend::Embedded).await;
    let admin = core.admin_token().await;
    let r = core.get("/openapi.json", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let documented = documented(&r.body);
    let served = served(&core, &admin).await;
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in /openapi.json: {undocumented:?}\nin /openapi.json but not served: {unserved:?}"
    );
    // Every route is found where the document puts it: a request to each gets past the router
    // (no "no route" 404, no 405).
    for (method, pattern) in &documented {
        let path = pattern
            .split('/')
            .map(|s| if s.starts_with(':') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = core.send(method.clone(), &path, Some(&admin), None).await;
        assert!(
            !(r.status == 404 && r.message().starts_with("no route for")
                || r.status == 405 && r.code() == "method_not_allowed"),
            "{method} {path} (documented as {pattern}) is not routed: {} {}",
            r.status,
            r.text
        );
    }
}
