//! The host's edge as an outsider meets it: its own routes' methods, NUL refused before any
//! component, a body that never finishes arriving, the connection cap, and the secrets a Core
//! signs with when the environment sets none.

mod common;

use std::time::Duration;

use common::{Backend, Core, Options};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_routes_answer_head_and_refuse_other_methods() {
    let core = Core::start(Backend::Embedded).await;
    for path in ["/health", "/openapi.json", "/metrics"] {
        let head = core.client.head(core.url(path)).send().await.expect("HEAD");
        assert_eq!(head.status(), 200, "HEAD {path}");
        let length = head.headers()["content-length"].to_str().expect("length");
        assert_ne!(length, "0", "HEAD {path} tells the GET's length");
        assert!(head.bytes().await.expect("body").is_empty(), "no body");

        let trace = core
            .client
            .request(reqwest::Method::TRACE, core.url(path))
            .send()
            .await
            .expect("TRACE");
        assert_eq!(trace.status(), 405, "TRACE {path}");
        assert_eq!(trace.headers()["allow"], "GET, HEAD");
    }
    let trace = core
        .client
        .request(reqwest::Method::TRACE, core.url("/auth/login"))
        .send()
        .await
        .expect("TRACE");
    assert_eq!(trace.status(), 405, "TRACE on a component's route");
}

both_backends!(nul_is_refused_before_any_component, |backend| async move {
    let core = Core::start(backend).await;
    let r = core
        .post_raw(
            "/auth/login",
            r#"{"email":"a\u0000@x.io","password":"whatever-1"}"#,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "nul_character");
    let admin = core.admin_token().await;
    let r = core.get("/admin/users/%00x", Some(&admin)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.message().contains("id"),
        "names the parameter: {}",
        r.text
    );
    let r = core.get("/admin/users?status=a%00", Some(&admin)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    // The six characters \u0000 (an escaped backslash) are text, not a NUL.
    let r = core
        .post_raw(
            "/auth/login",
            r#"{"email":"a\\u0000@x.io","password":"whatever-1"}"#,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
});

/// Writes a request whose body never finishes; returns the answer the Core sends.
async fn trickle(core: &Core) -> String {
    let addr = core.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = "POST /auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                content-length: 100\r\n\r\n{\"em";
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let mut buf = [0u8; 1024];
            tokio::select! {
                n = stream.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        // The whole JSON error is in.
                        if answer.ends_with(b"}}") {
                            break;
                        }
                    }
                },
                () = tokio::time::sleep(Duration::from_millis(300)) => {
                    // One more byte now and then: the body is alive, just slow.
                    let _ = stream.write_all(b"a").await;
                }
            }
        }
    });
    read.await
        .expect("the Core answers a trickled body instead of waiting forever");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_at_its_deadline() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().env("BODY_READ_TIMEOUT_MS", "1500"),
    )
    .await;
    let answer = trickle(&core).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_their_turn() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().env("MAX_CONNECTIONS", "2"),
    )
    .await;
    let addr = core.base.trim_start_matches("http://").to_string();
    // Silent connections take the slots (the harness's own pooled connection may hold one).
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let first = TcpStream::connect(&addr).await.expect("first");
    let second = TcpStream::connect(&addr).await.expect("second");
    let waiting = tokio::spawn({
        let request = client.get(core.url("/health"));
        async move { request.send().await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection waits while the slots are held"
    );
    drop((first, second));
    let served = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a slot is free")
        .expect("task")
        .expect("answer");
    assert_eq!(served.status(), 200);
}

/// An HS256 access token for `sub` as admin, signed with `secret`.
fn forged_admin_token(secret: &str, sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims =
        json!({ "sub": sub, "role": "admin", "typ": "access", "iat": now, "exp": now + 600 });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

both_backends!(
    development_secrets_are_generated_kept_and_shared,
    |backend| async move {
        let no_secrets = || {
            Options::default()
                .env("JWT_SECRET", "")
                .env("JWT_REFRESH_SECRET", "")
        };
        let mut core = Core::start_with(backend, no_secrets()).await;
        let admin = core.admin_token().await;
        let me = core.get("/me", Some(&admin)).await;
        assert_eq!(me.status, 200, "{}", me.text);
        let admin_id = me.str("id");
        assert!(core.log().contains("JWT_SECRET/JWT_REFRESH_SECRET not set"));

        // The secret that development used to fall back to is public: it opens nothing.
        let forged = forged_admin_token("nexuma-development-access-secret-change-me", &admin_id);
        assert_eq!(core.get("/admin/users", Some(&forged)).await.status, 401);

        // A restart keeps the generated secrets: the session survives.
        core.stop();
        core.spawn().await;
        assert_eq!(core.get("/me", Some(&admin)).await.status, 200);

        // A replica on the same stores verifies what the first signed.
        if backend == Backend::Servers {
            let mut replica = Core::prepare(backend, no_secrets());
            replica.share_stores_with(&core);
            replica.spawn().await;
            assert_eq!(replica.get("/me", Some(&admin)).await.status, 200);
        }
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_env_is_development_or_production_exactly() {
    let core = Core::prepare(
        Backend::Embedded,
        Options::default().env("NODE_ENV", "Production"),
    );
    let out = core.run_cli(&["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NODE_ENV is invalid"), "{stderr}");
}

/// An operator who starts production with weak secrets is told which variable and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_names_the_weak_secret_and_the_fix() {
    let long = "s".repeat(40);
    for (env, variable, says) in [
        (
            [
                ("JWT_SECRET", "only-31-characters-long-secret!"),
                ("JWT_REFRESH_SECRET", long.as_str()),
            ],
            "JWT_SECRET",
            "shorter than 32 characters",
        ),
        (
            [("JWT_SECRET", long.as_str()), ("JWT_REFRESH_SECRET", "")],
            "JWT_REFRESH_SECRET",
            "is not set",
        ),
        (
            [
                ("JWT_SECRET", long.as_str()),
                ("JWT_REFRESH_SECRET", long.as_str()),
            ],
            "JWT_REFRESH_SECRET",
            "are the same",
        ),
    ] {
        let mut options = Options::default().env("NODE_ENV", "production");
        for (name, value) in env {
            options = options.env(name, value);
        }
        // `migrate` reads the same configuration and ends either way, so a regression fails
        // here instead of serving forever.
        let out = Core::prepare(Backend::Embedded, options).run_cli(&["migrate"]);
        assert!(!out.status.success(), "{variable}: production must refuse");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("set {variable}")) && stderr.contains(says),
            "{variable}: {stderr}"
        );
    }
}
