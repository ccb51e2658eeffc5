//! The host and component runtime over real HTTP: routing, auth levels, limits, failures,
//! hot swap, health, metrics and the OpenAPI document.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Core, Options};
use serde_json::json;

both_backends!(
    component_route_gets_params_query_and_request_id,
    |backend| async move {
        let options = Options::default().env("PUBLIC_URL", "https://vpn.example.com/");
        let core = Core::start_with(backend, options).await;
        let r = core.get("/test/items/a%20b", None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["id"], "a b");
        let r = core.get("/test/echo?x=1&y=two%20words", None).await;
        assert_eq!(
            r.body["publicUrl"], "https://vpn.example.com",
            "PUBLIC_URL reaches components"
        );
        assert_eq!(r.body["query"]["y"], "two words");
        assert_eq!(r.body["route"], "/test/echo");
        assert_eq!(r.body["requestId"].as_str(), r.header("x-request-id"));
        let id = r.header("x-request-id").expect("request id header");
        assert!(!id.is_empty());

        let mine = core
            .client
            .get(core.url("/test/echo"))
            .header("x-request-id", "trace-42")
            .send()
            .await
            .expect("send");
        assert_eq!(
            mine.headers()["x-request-id"],
            "trace-42",
            "a caller's request id is kept"
        );
        let log = core.log();
        assert!(
            log.contains("trace-42")
                && log.contains("/test/echo")
                && log.contains("component=probe"),
            "{log}"
        );
    }
);

/// A GET with extra headers; `runs` is how many times the probe's kept route has run.
async fn kept(
    core: &Core,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> common::Reply {
    let mut req = core.client.request(method, core.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    common::Reply::from(req.send().await.expect("request")).await
}

both_backends!(
    kept_answers_are_given_again_until_the_epoch_moves,
    |backend| async move {
        let core = Core::start(backend).await;
        let get = |path: &'static str, headers: &'static [(&'static str, &'static str)]| {
            kept(&core, reqwest::Method::GET, path, headers)
        };
        let runs = |r: &common::Reply| r.body["runs"].as_i64().expect("runs");

        let first = get("/test/kept/a", &[]).await;
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(runs(&first), 1);
        let again = get("/test/kept/a", &[]).await;
        assert_eq!(
            (runs(&again), again.text.as_str()),
            (1, first.text.as_str()),
            "kept"
        );
        assert_eq!(again.header("content-type"), Some("application/json"));
        assert_ne!(
            again.header("x-request-id"),
            first.header("x-request-id"),
            "a kept answer still gets its own request id"
        );

        // Another value of a header it varies on, another query: answered anew, then kept.
        let v1 = get("/test/kept/a", &[("x-variant", "one")]).await;
        assert_eq!((runs(&v1), v1.body["variant"].as_str()), (2, Some("one")));
        assert_eq!(runs(&get("/test/kept/a", &[("x-variant", "one")]).await), 2);
        assert_eq!(runs(&get("/test/kept/a?page=2", &[]).await), 3);
        assert_eq!(
            runs(&get("/test/kept/a", &[]).await),
            1,
            "the first is still kept"
        );

        // Conditional and HEAD requests are answered from the kept answer too.
        let unchanged = get("/test/kept/a", &[("if-none-match", "\"run-1\"")]).await;
        assert_eq!((unchanged.status, unchanged.text.as_str()), (304, ""));
        assert_eq!(unchanged.header("etag"), Some("\"run-1\""));
        let changed = get("/test/kept/a", &[("if-none-match", "\"run-0\"")]).await;
        assert_eq!((changed.status, runs(&changed)), (200, 1));
        let head = kept(&core, reqwest::Method::HEAD, "/test/kept/a", &[]).await;
        assert_eq!((head.status, head.text.as_str()), (200, ""));
        assert_eq!(
            head.header("content-length"),
            Some(first.text.len().to_string().as_str())
        );

        // A caller's answers are never shared: with a token the component runs every time.
        let (access, _, _) = core.register("kept@example.com", "password-kept").await;
        let mine = runs(&core.get("/test/kept/a", Some(&access)).await);
        assert_eq!(
            runs(&core.get("/test/kept/a", Some(&access)).await),
            mine + 1
        );
        assert_eq!(
            runs(&get("/test/kept/a", &[]).await),
            1,
            "and they are not kept"
        );

        // Moving the epoch retires every kept answer at once.
        let moved = core.post("/test/kept/epoch", None, json!({})).await;
        assert_eq!(moved.status, 204, "{}", moved.text);
        let fresh = runs(&get("/test/kept/a", &[]).await);
        assert_eq!(fresh, mine + 2);
        assert_eq!(runs(&get("/test/kept/a", &[]).await), fresh, "kept again");
        assert_eq!(
            runs(&get("/test/kept/a", &[("x-variant", "one")]).await),
            fresh + 1
        );

        // And no answer outlives its TTL.
        let short = runs(&get("/test/kept/b?ttl=1", &[]).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(runs(&get("/test/kept/b?ttl=1", &[]).await), short + 1);

        let metrics = core.get("/metrics", None).await.text;
        assert!(
            metrics.contains("nexuma_response_cache_total{outcome=\"hit\"}"),
            "{metrics}"
        );
        assert!(
            core.log().contains("cached=true"),
            "a hit says so in its log line"
        );
    }
);

both_backends!(
    unknown_route_is_404_and_wrong_method_405,
    |backend| async move {
        let core = Core::start(backend).await;
        let r = core.get("/nope", None).await;
        assert_eq!((r.status, r.code()), (404, "not_found"));
        let r = core.post("/test/echo", None, json!({})).await;
        assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "HEAD is answered too");
    }
);

both_backends!(auth_levels_are_enforced_by_the_host, |backend| async move {
    let core = Core::start(backend).await;
    let r = core.get("/test/whoami", None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = core.get("/test/whoami", Some("not-a-jwt")).await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));

    let (access, _, id) = core.register("ann@example.com", "password-ann").await;
    let r = core.get("/test/whoami", Some(&access)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["role"], "user");

    let r = core.get("/test/admin", Some(&access)).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden"),
        "a user token on an admin route"
    );
    let admin = core.admin_token().await;
    let r = core.get("/test/admin", Some(&admin)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["role"], "admin");

    // A token signed with the right secret but expired an hour ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": id, "role": "user", "typ": "access", "iat": now - 7200, "exp": now - 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(common::JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let r = core.get("/test/whoami", Some(&expired)).await;
    assert_eq!((r.status, r.code()), (401, "token_expired"));
    // The same claims signed with another secret are refused.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": id, "role": "admin", "typ": "access", "iat": now, "exp": now + 600 }),
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-some-other-secret"),
    )
    .expect("sign");
    let r = core.get("/test/admin", Some(&forged)).await;
    assert_eq!((r.status, r.code()), (401, "invalid_token"));
});

both_backends!(node_routes_need_a_known_node_key, |backend| async move {
    let core = Core::start(backend).await;
    let r = core.get("/test/node", None).await;
    assert_eq!(r.status, 401);
    let with_key = |key: &'static str| {
        core.client
            .get(core.url("/test/node"))
            .header("x-node-auth-key", key)
            .send()
    };
    let r = common::Reply::from(with_key("wrong").await.expect("send")).await;
    assert_eq!((r.status, r.code()), (401, "invalid_node_key"));

    // Node keys are stored as SHA-256 hex; register one straight in the database.
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(b"node-secret-1"));
    let sql = format!("INSERT INTO node_credentials (key_hash, node_id, created_at) VALUES ('{hash}', 'node-7', 0)");
    common::exec_sql(&core, &sql).await;
    let r = common::Reply::from(with_key("node-secret-1").await.expect("send")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], "node-7");
    assert_eq!(r.body["role"], "node");
    assert!(
        !core.log().contains("node-secret-1"),
        "node keys are never logged"
    );
});

both_backends!(
    a_looping_component_is_cut_while_others_are_served,
    |backend| async move {
        let core = Core::start_with(
            backend,
            Options::default().env("COMPONENT_TIMEOUT_MS", "1500"),
        )
        .await;
        let started = Instant::now();
        let spin = core.get("/test/spin", None);
        let others = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut served = 0;
            for _ in 0..5 {
                let r = core.get("/test/echo", None).await;
                assert_eq!(r.status, 200, "served while the loop runs");
                served += 1;
            }
            (served, started.elapsed())
        };
        let (spin, (served, others_done)) = tokio::join!(spin, others);
        assert_eq!(
            (spin.status, spin.code()),
            (503, "deadline_exceeded"),
            "{}",
            spin.text
        );
        assert!(spin.message().contains("1500 ms"), "{}", spin.message());
        assert_eq!(served, 5);
        assert!(
            others_done < started.elapsed(),
            "the other requests finished before the loop was cut"
        );
        let after = core.get("/test/echo", None).await;
        assert_eq!(after.status, 200, "the host goes on serving");
        let metrics = core.get("/metrics", None).await.text;
        assert!(
            metrics.contains("nexuma_component_deadline_hits_total{component=\"probe\"} 1"),
            "{metrics}"
        );
    }
);

both_backends!(
    a_trap_is_500_and_the_next_request_is_served,
    |backend| async move {
        let core = Core::start(backend).await;
        let r = core.get("/test/trap", None).await;
        assert_eq!((r.status, r.code()), (500, "component_trap"), "{}", r.text);
        assert!(r.message().contains("probe"));
        let r = core.get("/test/echo", None).await;
        assert_eq!(r.status, 200);
        assert!(
            core.log().contains("component trapped"),
            "the panic is logged for the operator"
        );
        let metrics = core.get("/metrics", None).await.text;
        assert!(
            metrics.contains("nexuma_component_traps_total{component=\"probe\"} 1"),
            "{metrics}"
        );
    }
);

both_backends!(memory_cap_stops_only_that_request, |backend| async move {
    let core = Core::start_with(backend, Options::default().env("COMPONENT_MEMORY_MB", "32")).await;
    let r = core.get("/test/alloc", None).await;
    assert_eq!(
        (r.status, r.code()),
        (500, "memory_limit_exceeded"),
        "{}",
        r.text
    );
    assert_eq!(core.get("/test/echo", None).await.status, 200);
});

/// The `nexuma_component_memory_peak_bytes` sample of `component` in a `/metrics` text.
fn memory_peak(metrics: &str, component: &str) -> Option<u64> {
    let series = format!("nexuma_component_memory_peak_bytes{{component=\"{component}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn memory_peak_gauge_follows_the_largest_instance() {
    const MIB: u64 = 1024 * 1024;
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().env("COMPONENT_MEMORY_MB", "64"),
    )
    .await;
    assert_eq!(core.get("/test/echo", None).await.status, 200);
    let metrics = core.get("/metrics", None).await.text;
    let small = memory_peak(&metrics, "probe").expect("a gauge for probe after one request");
    assert!(small > 0 && small < 16 * MIB, "{small} bytes for an echo");

    let r = core.get("/test/alloc/24", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let metrics = core.get("/metrics", None).await.text;
    let big = memory_peak(&metrics, "probe").expect("probe gauge");
    assert!(
        (24 * MIB..=64 * MIB).contains(&big),
        "{big} bytes after allocating 24 MiB under a 64 MiB cap"
    );

    // A smaller instance later does not lower it, and a refused growth (over the cap) is not a
    // size the instance ever had.
    assert_eq!(core.get("/test/echo", None).await.status, 200);
    let r = core.get("/test/alloc", None).await;
    assert_eq!((r.status, r.code()), (500, "memory_limit_exceeded"));
    let metrics = core.get("/metrics", None).await.text;
    assert_eq!(memory_peak(&metrics, "probe"), Some(big), "{metrics}");

    let r = core.get("/test/alloc/lots", None).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

both_backends!(body_limit_and_bad_json, |backend| async move {
    let core = Core::start_with(backend, Options::default().env("BODY_LIMIT_BYTES", "1024")).await;
    let big = "x".repeat(4096);
    let r = core
        .post(
            "/auth/login",
            None,
            json!({ "email": big, "password": "p" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = core.post_raw("/auth/login", "{not json").await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = core
        .post("/auth/login", None, json!({ "email": "a@b.co" }))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("password"),
        "names the missing field: {}",
        r.message()
    );
});

both_backends!(
    health_lists_components_and_metrics_count_requests,
    |backend| async move {
        let core = Core::start(backend).await;
        let r = core.get("/health", None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["status"], "ok");
        assert_eq!(r.body["database"]["status"], "ok");
        assert_eq!(r.body["kv"]["status"], "ok");
        let expected = if backend == Backend::Embedded {
            ("sqlite", "memory")
        } else {
            ("postgres", "redis")
        };
        assert_eq!(
            (
                r.body["database"]["backend"].as_str(),
                r.body["kv"]["backend"].as_str()
            ),
            (Some(expected.0), Some(expected.1))
        );
        let names: Vec<&str> = r.body["components"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, vec!["auth", "probe"]);
        assert_eq!(
            r.body["components"][0]["sha256"].as_str().map(str::len),
            Some(64)
        );

        core.get("/test/echo", None).await;
        let m = core.get("/metrics", None).await;
        assert!(m
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"));
        assert!(
            m.text.contains(
                "nexuma_http_requests_total{method=\"GET\",route=\"/test/echo\",status=\"200\"} 1"
            ),
            "{}",
            m.text
        );
        assert!(m
            .text
            .contains("nexuma_http_request_duration_seconds_bucket"));
        assert!(m
            .text
            .contains("nexuma_component_instantiations_total{component=\"probe\"}"));
    }
);

#[tokio::test]
async fn health_is_503_while_the_database_is_unreachable() {
    let core = Core::start(Backend::Servers).await;
    let name = core.database_name().expect("postgres database");
    // Refuse new connections to this database and cut the open ones.
    common::pg_admin_sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    common::pg_admin_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    let r = core.get("/health", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["status"], "error");
    assert_eq!(r.body["database"]["status"], "unreachable");
    assert_eq!(
        core.get("/test/echo", None).await.status,
        200,
        "routes without I/O still answer"
    );
    common::pg_admin_sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    // A pooled connection the server cut is found dead at its next use and dropped; the Core
    // holds more than one (the components' follower reads the database twice a second), so
    // the first checks after the outage may still meet one of them.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = core.get("/health", None).await;
        if r.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "recovers once the database is back: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn overlapping_routes_are_refused_at_load() {
    let mut core = Core::prepare(
        Backend::Embedded,
        Options::default().components(&["probe", "overlap"]),
    );
    let out = core.run_cli(&["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("overlaps")
            && stderr.contains("/test/items/:id")
            && stderr.contains("/test/items/:name"),
        "{stderr}"
    );
    core.stop();
}

#[tokio::test]
async fn production_refuses_development_secrets() {
    let mut core = Core::prepare(Backend::Embedded, Options::default());
    core.set_env("NODE_ENV", "production");
    core.set_env("JWT_SECRET", "");
    let out = core.run_cli(&["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set JWT_SECRET"), "{stderr}");
}

#[tokio::test]
async fn cors_follows_cors_origins() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().env("CORS_ORIGINS", "https://panel.example.com"),
    )
    .await;
    let preflight = |origin: &'static str| {
        core.client
            .request(reqwest::Method::OPTIONS, core.url("/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://panel.example.com").await.expect("send");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://panel.example.com")
    );
    let other = preflight("https://evil.example.com").await.expect("send");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn openapi_documents_every_served_route() {
    // A short deadline: the loop below also calls /test/spin.
    let options = Options::default().env("COMPONENT_TIMEOUT_MS", "300");
    let core = Core::start_with(Backend::Embedded, options).await;
    let doc = core.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut served: Vec<(String, String)> = Vec::new();
    let health = core.get("/health", None).await;
    let declared: u64 = health.body["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["routes"].as_u64())
        .sum();
    for (path, item) in paths {
        let item = item.as_object().expect("item");
        // HEAD is documented beside each GET (the host answers it), and only there.
        assert_eq!(
            item.contains_key("head"),
            item.contains_key("get"),
            "{path}: HEAD beside GET"
        );
        for (method, op) in item.iter().filter(|(m, _)| *m != "head") {
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has a summary"
            );
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            served.push((method.clone(), path.clone()));
        }
    }
    assert_eq!(
        served.len() as u64,
        declared + 4 + 6,
        "every route the components serve, plus the host's four and the six operations of \
         /admin/components, is documented"
    );
    for (method, path) in [
        ("get", "/health"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("post", "/auth/register"),
        ("post", "/auth/login"),
        ("post", "/auth/refresh"),
        ("post", "/auth/telegram"),
        ("get", "/auth/telegram/bot-id"),
        ("get", "/me"),
        ("patch", "/me/profile"),
        ("get", "/admin/users"),
        ("get", "/admin/users/{id}"),
        ("patch", "/admin/users/{id}"),
        ("get", "/test/echo"),
        ("get", "/test/items/{id}"),
    ] {
        assert!(
            served.contains(&(method.to_string(), path.to_string())),
            "{method} {path} is in the document"
        );
    }
    assert!(
        paths["/auth/register"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            .is_object()
    );
    assert_eq!(
        paths["/admin/users/{id}"]["get"]["security"][0]["bearerAuth"],
        json!([])
    );
    // Query parameters a component declares are parameters of the operation.
    assert_eq!(
        paths["/test/echo"]["get"]["parameters"],
        json!([{
            "name": "say", "in": "query", "required": false,
            "schema": { "type": "string", "description": "Anything; echoed back" },
            "description": "Anything; echoed back"
        }])
    );
    // And each documented path is really served (not 404) by the host.
    for (method, path) in &served {
        let concrete = path.replace("{id}", "x");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let r = core.send(m, &concrete, None, None).await;
        assert_ne!(
            r.status, 404,
            "{method} {path} is documented but not routed: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn components_swap_atomically_under_load_on_sighup() {
    let core = Core::start_with(Backend::Embedded, Options::default().components(&["probe"])).await;
    assert_eq!(
        core.get("/auth/telegram/bot-id", None).await.status,
        404,
        "auth is not loaded yet"
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (client, url, stop) = (core.client.clone(), core.url("/test/echo"), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let auth = core.dir.path().join("components/auth.wasm");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../handlers/target/wasm32-wasip2/release/auth.wasm"),
        &auth,
    )
    .expect("copy");
    let kill = std::process::Command::new("kill")
        .args(["-HUP", &core.pid().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while core.get("/auth/telegram/bot-id", None).await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "auth never appeared:\n{}",
            core.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await.expect("load task");
    assert!(ok > 10, "requests ran during the swap: {ok}");
    assert_eq!(failed, 0, "no request failed across the swap");

    // A broken new set leaves the old one serving.
    std::fs::write(core.dir.path().join("components/broken.wasm"), b"not wasm").expect("write");
    std::process::Command::new("kill")
        .args(["-HUP", &core.pid().to_string()])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !core.log().contains("reload failed") {
        assert!(Instant::now() < deadline, "no reload failure logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(core.get("/auth/telegram/bot-id", None).await.status, 200);
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk() {
    let core = Core::start(Backend::Embedded).await;
    let cache =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/nexuma-test-cache");
    let health = core.get("/health", None).await;
    for c in health.body["components"].as_array().expect("components") {
        let sha = c["sha256"].as_str().expect("sha");
        let found = std::fs::read_dir(&cache)
            .expect("cache dir")
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(sha));
        assert!(found, "{} has a compiled artifact in the cache", c["name"]);
    }
}

#[tokio::test]
async fn a_full_instance_pool_answers_503_busy_not_500() {
    let options = Options::default()
        .env("COMPONENT_MAX_INSTANCES", "1")
        .env("COMPONENT_TIMEOUT_MS", "3000");
    let core = Core::start_with(Backend::Embedded, options).await;
    let spin = core.get("/test/spin", None);
    let probe = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        core.get("/test/echo", None).await
    };
    let (spin, busy) = tokio::join!(spin, probe);
    assert_eq!(spin.status, 503);
    assert_eq!((busy.status, busy.code()), (503, "busy"), "{}", busy.text);
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(
        core.get("/test/echo", None).await.status,
        200,
        "the slot is free again"
    );
}

both_backends!(
    kv_and_db_interfaces_reach_the_backends,
    |backend| async move {
        let core = Core::start(backend).await;
        let r = core
            .post(
                "/test/kv",
                None,
                json!({ "key": "probe:a", "value": "v1", "ttlMs": 60000 }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["value"], "v1");
        assert_eq!(
            r.body["many"],
            json!([null, "v1", null]),
            "get-many keeps order"
        );
        let ttl = r.body["ttlMs"].as_u64().expect("a TTL was set");
        assert!(ttl > 50_000 && ttl <= 60_000, "{ttl}");
        let r = core
            .post("/test/kv", None, json!({ "key": "probe:b", "value": "v2" }))
            .await;
        assert_eq!(
            (r.body["value"].as_str(), r.body["ttlMs"].is_null()),
            (Some("v2"), true),
            "no TTL: {}",
            r.text
        );

        assert_eq!(core.get("/test/db", None).await.body["users"], 0);
        core.register("one@example.com", "password-one").await;
        core.register("two@example.com", "password-two").await;
        assert_eq!(core.get("/test/db", None).await.body["users"], 2);
    }
);

#[tokio::test]
async fn pages_authenticate_by_cookie_on_get_only_and_public_routes_see_a_valid_caller() {
    let core = Core::start(Backend::Embedded).await;
    let (access, _, id) = core.register("cookie@example.com", "password-ck").await;
    let with_cookie = |method: reqwest::Method, path: &str, value: String| {
        core.client
            .request(method, core.url(path))
            .header("cookie", value)
            .send()
    };
    let r = common::Reply::from(
        with_cookie(
            reqwest::Method::GET,
            "/test/whoami",
            format!("theme=dark; nexuma_access={access}"),
        )
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    let patch = core
        .client
        .patch(core.url("/me/profile"))
        .header("cookie", format!("nexuma_access={access}"))
        .json(&json!({ "name": "Via Cookie" }))
        .send()
        .await
        .expect("send");
    assert_eq!(
        patch.status().as_u16(),
        401,
        "a cookie never authenticates a state-changing request"
    );

    let anonymous = core.get("/test/maybe-whoami", None).await;
    assert_eq!(anonymous.body["caller"], serde_json::Value::Null);
    let known = core.get("/test/maybe-whoami", Some(&access)).await;
    assert_eq!(known.body["caller"]["id"], id.as_str());
    let bad = core.get("/test/maybe-whoami", Some("garbage")).await;
    assert_eq!(
        (bad.status, bad.body["caller"].is_null()),
        (200, true),
        "a bad token on a public route is ignored"
    );
}

/// What `make run` serves: every production component loads together (no overlapping routes).
#[tokio::test]
async fn the_production_components_load_together() {
    let components = common::production_components();
    assert!(components.len() >= 7, "{components:?}");
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().components(&components),
    )
    .await;
    let health = core.get("/health", None).await;
    let mut names: Vec<&str> = health.body["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    names.sort_unstable();
    let mut expected = components.clone();
    expected.sort_unstable();
    assert_eq!(names, expected);
}
