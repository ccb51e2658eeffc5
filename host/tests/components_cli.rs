//! `nexuma components` as an operator runs it: the real binary against a real Core's admin API,
//! pushing the template component (`examples/component-template`, built by `make handlers`) and
//! checking what the operator sees — the output, the exit status, and the routes the Core serves.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Backend, Core, Options};

/// The template's build output: `make handlers` builds it.
fn template_wasm() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/component-template/target/wasm32-wasip2/release/hello.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `make handlers` first",
        path.display()
    );
    path
}

/// A second, different component to push under the template's name (a new version of `hello`).
fn probe_wasm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../handlers/target/wasm32-wasip2/release/probe.wasm")
}

/// `nexuma components <args>` with only NEXUMA_URL and NEXUMA_TOKEN set, as in an operator's shell.
fn cli(core: &Core, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nexuma"))
        .arg("components")
        .args(args)
        .env_clear()
        .env("NEXUMA_URL", &core.base)
        .env("NEXUMA_TOKEN", token)
        .output()
        .expect("run nexuma components")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and gives stdout.
fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The full hash `push` prints on its `hash:` line.
fn pushed_hash(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("hash:"))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| panic!("no hash line in:\n{output}"))
}

/// Waits (briefly) until `path` answers `status`: the replica swaps before the API answers, so
/// this is at once; the wait only keeps a slow machine from failing the test.
async fn answers(core: &Core, path: &str, status: u16) {
    let result = testkit::eventually(Duration::from_secs(3), || async move {
        let r = core.get(path, None).await;
        if r.status == status {
            Ok(())
        } else {
            Err(format!("{path}: {} {}", r.status, r.text))
        }
    })
    .await;
    if let Err(last) = result {
        panic!("{path} should answer {status}; last: {last}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_pushes_lists_activates_and_rolls_back() {
    let template = template_wasm();
    let core = Core::start_with(Backend::Embedded, Options::default().components(&["auth"])).await;
    let admin = core.admin_token().await;
    let template_arg = template.display().to_string();

    // Push and activate the template: its route serves at once.
    let out = ok(
        cli(&core, &admin, &["push", &template_arg, "--activate"]),
        "push",
    );
    let v1 = pushed_hash(&out);
    let v1_short = &v1[..12];
    assert!(
        out.starts_with(&format!("stored hello {v1_short} (")),
        "{out}"
    );
    assert!(out.contains("routes: GET /hello/:name (public)"), "{out}");
    assert!(out.contains("jobs:   tick (every 1m)"), "{out}");
    assert!(out.contains("schema: 1 create hello_greetings"), "{out}");
    assert!(out.contains("contract: nexuma:core@0.1.3"), "{out}");
    assert!(
        out.contains(&format!("active: hello now serves {v1_short}")),
        "{out}"
    );
    answers(&core, "/hello/world?greeting=Hi", 200).await;
    let r = core.get("/hello/world?greeting=Hi", None).await;
    assert_eq!(r.body["message"], "Hi, world!", "{}", r.text);
    // Its own table, made by its migration when it was activated, counts the greetings.
    for times in 1..=2 {
        let r = core.get("/hello/counted", None).await;
        assert_eq!(r.body["times"], times, "{}", r.text);
    }
    // The answer's schema in the document is the one derived from the template's type.
    let doc = core.get("/openapi.json", None).await.body;
    let answer = &doc["paths"]["/hello/{name}"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert_eq!(
        answer["required"],
        serde_json::json!(["message", "times", "ticks", "nowMs"]),
        "{answer}"
    );
    assert!(
        answer["properties"]["times"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("own table")),
        "{answer}"
    );
    let out = ok(cli(&core, &admin, &["list", "hello"]), "list hello");
    assert!(
        out.contains("schema steps run: 1 create hello_greetings"),
        "{out}"
    );

    // Pushing the same bytes again stores nothing new.
    let out = ok(cli(&core, &admin, &["push", &template_arg]), "push again");
    assert!(
        out.starts_with(&format!("already stored hello {v1_short}")),
        "{out}"
    );

    // The list: the operator's own version beside the factory ones.
    let out = ok(cli(&core, &admin, &["list"]), "list");
    let header = out.lines().next().unwrap_or_default();
    assert!(header.starts_with("NAME "), "{out}");
    for column in ["ACTIVE", "SOURCE", "ACTIVATED", "OTHERS", "NOTE"] {
        assert!(header.contains(column), "{column} in {out}");
    }
    let hello = out
        .lines()
        .find(|l| l.starts_with("hello "))
        .unwrap_or_else(|| panic!("no hello row in:\n{out}"));
    assert!(
        hello.contains(v1_short) && hello.contains(" own "),
        "{hello}"
    );
    let auth = out
        .lines()
        .find(|l| l.starts_with("auth "))
        .unwrap_or_else(|| panic!("no auth row in:\n{out}"));
    assert!(auth.contains(" factory "), "{auth}");
    // Columns line up: the hash starts at the same offset on every row.
    let col = header.find("ACTIVE").expect("ACTIVE");
    assert_eq!(hello.find(v1_short), Some(col), "{out}");

    // A second version of `hello` (another component's bytes): the template's route goes away.
    let probe = probe_wasm().display().to_string();
    let out = ok(
        cli(
            &core,
            &admin,
            &["push", &probe, "--name", "hello", "--activate"],
        ),
        "push v2",
    );
    let v2 = pushed_hash(&out);
    assert_ne!(v1, v2);
    answers(&core, "/test/echo", 200).await;
    answers(&core, "/hello/world", 404).await;

    let out = ok(cli(&core, &admin, &["list", "hello"]), "list hello");
    assert!(
        out.starts_with(&format!("hello: active {} (own)", &v2[..12])),
        "{out}"
    );
    assert!(out.contains(v1_short), "both versions listed:\n{out}");

    // Rollback restores the template, and says from what to what.
    let out = ok(cli(&core, &admin, &["rollback", "hello"]), "rollback");
    assert_eq!(
        out,
        format!(
            "active: hello now serves {v1_short} (own; was {})\n",
            &v2[..12]
        )
    );
    answers(&core, "/hello/world", 200).await;
    answers(&core, "/test/echo", 404).await;

    // Activate by the short hash `list` shows.
    let out = ok(
        cli(&core, &admin, &["activate", "hello", &v2[..12]]),
        "activate",
    );
    assert!(
        out.starts_with(&format!("active: hello now serves {}", &v2[..12])),
        "{out}"
    );
    answers(&core, "/test/echo", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_with_the_apis_message() {
    let core = Core::start_with(Backend::Embedded, Options::default().components(&["auth"])).await;
    let admin = core.admin_token().await;

    // A bad token: 1, with the Core's own message and a hint to log in again.
    let out = cli(&core, "not-a-token", &["list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: the access token is invalid (401 invalid_token)"),
        "{err}"
    );
    assert!(err.contains("POST /auth/login"), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    // A missing file: 2 and a clear message; nothing is sent.
    let out = cli(
        &core,
        &admin,
        &["push", "/nonexistent/hello.wasm", "--activate"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: cannot read /nonexistent/hello.wasm: "),
        "{}",
        stderr(&out)
    );

    // No token at all: a usage error that says where one comes from.
    let out = Command::new(env!("CARGO_BIN_EXE_nexuma"))
        .args(["components", "list", "--url", &core.base])
        .env_clear()
        .output()
        .expect("run nexuma");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("NEXUMA_TOKEN"), "{}", stderr(&out));

    // A file that is not a component: the Core's reason, exit 1, nothing stored.
    let junk = core.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm").expect("write junk");
    let out = cli(&core, &admin, &["push", &junk.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("(400 invalid_component)"), "{err}");
    assert!(!err.contains("\"error\""), "no raw JSON: {err}");

    // A rollback with nothing to go back to.
    let out = cli(&core, &admin, &["rollback", "auth"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no previous version"),
        "{}",
        stderr(&out)
    );

    // A Core that is not there: 1, naming the address.
    let out = Command::new(env!("CARGO_BIN_EXE_nexuma"))
        .args(["components", "list"])
        .env_clear()
        .env("NEXUMA_URL", "http://127.0.0.1:1")
        .env("NEXUMA_TOKEN", &admin)
        .output()
        .expect("run nexuma");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the Core at http://127.0.0.1:1/ cannot be reached"),
        "{}",
        stderr(&out)
    );

    // After all that, only the factory component is there.
    let out = ok(cli(&core, &admin, &["list"]), "list");
    assert_eq!(out.lines().count(), 2, "{out}");
}

/// A test component of the guest workspace's build.
fn test_wasm(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!(
            "../handlers/target/wasm32-wasip2/release/{name}.wasm"
        ))
        .display()
        .to_string()
}

/// `push --canary` starts a canary the list notes, `promote` ends it; what the Core refuses
/// (another shape, no canary to promote) is its own message with exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_a_canary_and_promotes_it() {
    let components = &["auth", "versioned"];
    let core = Core::start_with(Backend::Embedded, Options::default().components(components)).await;
    let admin = core.admin_token().await;

    let window_alone = cli(
        &core,
        &admin,
        &["push", &test_wasm("versioned_next"), "--window", "60"],
    );
    assert_eq!(
        window_alone.status.code(),
        Some(2),
        "{}",
        stderr(&window_alone)
    );

    let other = cli(
        &core,
        &admin,
        &[
            "push",
            &test_wasm("overlap"),
            "--name",
            "versioned",
            "--canary",
            "10",
        ],
    );
    assert_eq!(other.status.code(), Some(1), "{}", stdout(&other));
    assert!(
        stderr(&other).contains("activate it without a canary"),
        "{}",
        stderr(&other)
    );

    let out = ok(
        cli(
            &core,
            &admin,
            &[
                "push",
                &test_wasm("versioned_next"),
                "--name",
                "versioned",
                "--canary",
                "50",
            ],
        ),
        "push --canary",
    );
    let v2 = pushed_hash(&out);
    let note = format!("canary {} 50% until ", &v2[..12]);
    assert!(out.contains(&note), "{out}");
    assert!(out.contains("margin 5%"), "{out}");
    let listed = ok(cli(&core, &admin, &["list"]), "list");
    let row = listed
        .lines()
        .find(|l| l.starts_with("versioned "))
        .unwrap_or_else(|| panic!("no versioned row in:\n{listed}"));
    assert!(row.contains(&note), "{listed}");

    let out = ok(cli(&core, &admin, &["promote", "versioned"]), "promote");
    assert!(
        out.starts_with(&format!(
            "active: versioned now serves {} (own; was ",
            &v2[..12]
        )),
        "{out}"
    );
    let r = core.get("/test/version", None).await;
    assert_eq!(r.body["version"], "2", "{}", r.text);
    let again = cli(&core, &admin, &["promote", "versioned"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("no canary of \"versioned\" is running"),
        "{}",
        stderr(&again)
    );
}
