//! `/openapi.json` is usable, not only valid: a Python client generated from the served document
//! with openapi-python-client (pinned in the Makefile, installed into `target/apitest-venv` by
//! `make apitest-tools`) logs in as an admin, pages `GET /admin/users` by cursor three at a
//! time and reads a link's `GET /sub/{uuid}/info` (`api_client/run.py`, on the generated
//! package and the standard library only), on both backends.
//!
//! The generator must read the whole document: it may leave out only the operations in
//! `NOT_GENERATED`, and any other warning fails the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::apitest::{run_bounded, tool, tools_dir};
use common::{exec_sql, Backend, Core, Options};
use serde_json::{json, Value};

/// Generating takes seconds; past this it hangs.
const GENERATE_LIMIT: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The operations the generator leaves out, with the reason it gives: a `.wasm` upload is a
/// body in `application/wasm`, a media type it has no Python type for.
const NOT_GENERATED: &[(&str, &str)] = &[(
    "POST /admin/components",
    "Unsupported content type application/wasm",
)];

/// The users besides the admin and the subscriber: with those, 9 in all, so pages of 3 need two
/// cursors and the last page is exactly full (the route looks one user ahead, so no empty page
/// follows it).
const USERS: usize = 7;
const PAGE: usize = 3;
const USED_BYTES: i64 = 123_456_789;
const LIMIT_BYTES: i64 = 10_000_000_000;

/// The lines of the generator's output that are not warnings: its progress line, the heading
/// of its warning list and the closing hint that follows any warning.
fn is_chatter(line: &str) -> bool {
    line.starts_with("Generating ")
        || line.starts_with("Warning(s) encountered while generating.")
        || line.starts_with("If you believe this was a mistake")
}

/// Generates the client from the served document into the Core's temporary folder; the folder
/// holding the package. Fails on a failed run or any warning but `NOT_GENERATED`'s.
fn generate(core: &Core, document: &str) -> PathBuf {
    let file = core.dir.path().join("openapi.json");
    std::fs::write(&file, document).expect("document");
    let out_dir = core.dir.path().join("client");
    let mut command = Command::new(tool("openapi-python-client"));
    command
        .args(["generate", "--path"])
        .arg(&file)
        .arg("--output-path")
        .arg(&out_dir)
        // Its post hooks format the code with the venv's ruff.
        .env("PATH", path_with_tools())
        .current_dir(core.dir.path());
    let started = Instant::now();
    let out = run_bounded(command, GENERATE_LIMIT);
    let output = format!(
        "{}\n\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "openapi-python-client ({:?}) took {:.1?}",
        core.backend,
        started.elapsed()
    );
    assert!(
        out.status.success() && out_dir.join("nexuma_core_client").is_dir(),
        "openapi-python-client failed ({}):\n{output}",
        out.status
    );
    // What is left once the known warnings are taken out must be chatter alone.
    let mut unexplained = Vec::new();
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut rest = lines.iter().peekable();
    while let Some(line) = rest.next() {
        if is_chatter(line) {
            continue;
        }
        // A warning is its line and, on the next, the reason.
        let known = NOT_GENERATED.iter().find(|(op, _)| {
            *line == format!("WARNING parsing {op} within host. Endpoint will not be generated.")
        });
        match known {
            Some((_, reason)) if rest.peek() == Some(&reason) => {
                rest.next();
            }
            _ => unexplained.push(*line),
        }
    }
    assert!(
        unexplained.is_empty(),
        "openapi-python-client warned of more than {NOT_GENERATED:?}: {unexplained:#?}\n\
         whole output:\n{output}"
    );
    out_dir
}

/// `PATH` with the venv's tools first.
fn path_with_tools() -> std::ffi::OsString {
    let mut dirs = vec![tools_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

/// Every operation the document describes is an endpoint module of the generated package
/// (`api/<tag>/<method>_<path>.py`, one per operation) but those left out knowingly.
fn every_operation_generated(document: &Value, package: &Path) {
    let operations: usize = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().expect("path item").len())
        .sum();
    let mut modules = 0;
    for tag in std::fs::read_dir(package.join("api")).expect("api folder") {
        let tag = tag.expect("entry").path();
        if !tag.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&tag).expect("tag folder") {
            let name = file.expect("entry").file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".py") && name != "__init__.py" {
                modules += 1;
            }
        }
    }
    assert_eq!(
        modules,
        operations - NOT_GENERATED.len(),
        "one endpoint per operation but {NOT_GENERATED:?}"
    );
}

both_backends!(
    a_generated_client_logs_in_pages_and_reads_info,
    |backend| async move {
        let core = Core::start_with(
            backend,
            Options::default().components(&common::production_components()),
        )
        .await;
        let admin = core.admin_token().await;
        let mut emails: Vec<String> = vec!["root@example.com".into()];
        for n in 1..=USERS {
            let email = format!("user{n}@example.com");
            core.register(&email, &format!("password-{n}")).await;
            emails.push(email);
        }
        let subscriber = "subscriber@example.com";
        let link = common::subscribed_user(&core, &admin, subscriber).await;
        emails.push(subscriber.into());
        // Traffic used and a limit, so the info has figures to agree on.
        let subs = core.get("/admin/subscriptions", Some(&admin)).await;
        assert_eq!(subs.status, 200, "{}", subs.text);
        let sub_id = subs.body["items"][0]["id"]
            .as_str()
            .expect("the subscription")
            .to_string();
        exec_sql(
            &core,
            &format!(
                "UPDATE subscriptions SET traffic_used_bytes = {USED_BYTES} WHERE id = '{sub_id}'"
            ),
        )
        .await;
        let r = core
            .patch(
                &format!("/admin/subscriptions/{sub_id}"),
                Some(&admin),
                json!({ "trafficLimitBytes": LIMIT_BYTES }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);

        let document = core.get("/openapi.json", None).await;
        assert_eq!(document.status, 200, "{}", document.text);
        let generated = generate(&core, &document.text);
        every_operation_generated(&document.body, &generated.join("nexuma_core_client"));

        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api_client/run.py");
        let mut command = Command::new(tool("python"));
        command
            .arg(&script)
            .arg(&generated)
            .args([
                core.base.as_str(),
                "root@example.com",
                "admin-password-1",
                link.as_str(),
            ])
            .current_dir(core.dir.path());
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || run_bounded(command, RUN_LIMIT))
            .await
            .expect("client run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the generated client failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("the client ran in {:.1?}", started.elapsed());
        let summary: Value = serde_json::from_str(&stdout).expect("the client's JSON summary");

        assert_eq!(summary["loginRole"], "admin", "{summary}");
        // Every user once, across exactly the pages the total implies, all full but the last.
        let seen: Vec<&str> = summary["emails"]
            .as_array()
            .expect("emails")
            .iter()
            .map(|e| e.as_str().expect("an email"))
            .collect();
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        let mut expected: Vec<&str> = emails.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(sorted, expected, "each user exactly once: {seen:?}");
        let total = emails.len();
        assert_eq!(summary["totals"], json!([total]), "{summary}");
        let pages = total.div_ceil(PAGE);
        let sizes: Vec<usize> = (0..pages).map(|i| PAGE.min(total - i * PAGE)).collect();
        assert_eq!(summary["pageSizes"], json!(sizes), "{summary}");

        // The link's info as the client read it is what the Core says of the subscription.
        let sub = core
            .get(&format!("/admin/subscriptions/{sub_id}"), Some(&admin))
            .await;
        assert_eq!(sub.status, 200, "{}", sub.text);
        assert_eq!(
            summary["info"],
            json!({
                "status": sub.body["status"],
                "trafficUsedBytes": USED_BYTES,
                "trafficLimitBytes": LIMIT_BYTES,
                "expiresAt": sub.body["expiresAt"],
                "tariff": sub.body["tariffName"],
            }),
            "the subscription: {}",
            sub.text
        );
        assert_eq!(sub.body["trafficUsedBytes"], USED_BYTES, "{}", sub.text);
        assert_eq!(sub.body["trafficLimitBytes"], LIMIT_BYTES, "{}", sub.text);
        // And the generated model gives back the whole answer it read.
        let info = core.get(&format!("/sub/{link}/info"), None).await;
        assert_eq!(info.status, 200, "{}", info.text);
        assert_eq!(summary["infoDict"], info.body, "{summary}");
    }
);
