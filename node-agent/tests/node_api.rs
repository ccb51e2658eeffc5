//! End-to-end tests of `nexuma-node` against the real v2ray core (Debian's 4.34).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const ALICE: (&str, &str) = ("alice", "alice-secret-key");
const BOB: (&str, &str) = ("bob", "9b2f7c1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b");
const CAROL: (&str, &str) = ("carol", "carol-secret-key");

/// The main story on one agent: users live, traffic per user, supervision, config rollback,
/// counters across an agent restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_traffic_supervision_and_restart() {
    v2ray();
    let dir = temp_dir("story");
    let ports = Ports::new();
    write_inbounds(&dir.join("inbounds.json"), &ports.inbounds());
    let api_port = free_port();
    let mut agent = serve_agent(&dir, api_port);
    let http = https();
    let web = file_server().await;

    // Start with two users.
    let (code, body) = post(&http, &agent, "/node/start", &users(&[ALICE, BOB])).await;
    assert_eq!(code, 200, "start: {body}\n{}", agent.log());
    let st = status(&http, &agent).await;
    assert_eq!(st["status"], "Running");
    assert!(st["cpuload"].is_u64() && st["memoryload"].is_u64(), "{st}");
    let pid = agent.core_pid().expect("core pid file");
    // The running config's inbounds, as a client must see them.
    assert_eq!(inbounds(&http, &agent).await, ports.exposed());

    // Alice fetches through each protocol; bob stays idle.
    let alice = [
        client(&dir, Proto::Vless, ports, ALICE.1),
        client(&dir, Proto::Vmess, ports, ALICE.1),
        client(&dir, Proto::Trojan, ports, ALICE.1),
    ];
    for (client, proto) in alice.iter().zip(["vless", "vmess", "trojan"]) {
        client
            .fetch(web, "/blob", UPLOAD)
            .await
            .unwrap_or_else(|e| panic!("alice over {proto}: {e}"));
    }
    let st = status(&http, &agent).await;
    let (a_in, a_out) = counters(&st, "alice");
    assert!(
        a_in >= (3 * UPLOAD / 1024) as u64,
        "alice incoming {a_in} KiB: {st}"
    );
    assert!(
        a_out >= (3 * BLOB / 1024) as u64,
        "alice outcoming {a_out} KiB: {st}"
    );
    assert_eq!(counters(&st, "bob"), (0, 0), "bob moved no traffic: {st}");

    // Carol is added live while a slow download of alice's runs: both succeed, same core.
    let slow = async {
        let r = alice[0].fetch(web, "/slow", UPLOAD).await;
        (r, Instant::now())
    };
    let add = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = post(&http, &agent, "/users/add", &users(&[CAROL])).await;
        (r, Instant::now())
    };
    let ((slow, slow_done), ((code, body), add_done)) = tokio::join!(slow, add);
    assert_eq!(code, 200, "add: {body}");
    slow.expect("alice's download across the user change");
    assert!(
        slow_done > add_done,
        "the download was still running when carol was added"
    );
    let carol = client(&dir, Proto::Vless, ports, CAROL.1);
    carol
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("carol connects at once");
    assert_eq!(
        agent.core_pid(),
        Some(pid),
        "no core restart for a user change"
    );
    assert!(pid_alive(pid));

    // Adding again is idempotent.
    let (code, _) = post(&http, &agent, "/users/add", &users(&[CAROL])).await;
    assert_eq!(code, 200);

    // Carol is deleted: her next connection is refused (deleting twice is fine too).
    let (code, body) = post(&http, &agent, "/users/del", &users(&[CAROL])).await;
    assert_eq!(code, 200, "del: {body}");
    let (code, _) = post(&http, &agent, "/users/del", &users(&[CAROL])).await;
    assert_eq!(code, 200);
    assert!(
        carol.fetch(web, "/blob", UPLOAD).await.is_err(),
        "a deleted user must not connect"
    );
    assert_eq!(agent.core_pid(), Some(pid));

    // The core is killed: the agent restarts it within 3 s and every user connects again.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let killed = Instant::now();
    let new_pid = loop {
        if let Some(p) = agent.core_pid().filter(|p| *p != pid && pid_alive(*p)) {
            break p;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "core not restarted within 3 s\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    eprintln!(
        "core restarted in {:?} (pid {pid} -> {new_pid})",
        killed.elapsed()
    );
    let bob_client = client(&dir, Proto::Vmess, ports, BOB.1);
    for client in alice.iter().chain([&bob_client]) {
        eventually(Duration::from_secs(3), || {
            client.fetch(web, "/blob", UPLOAD)
        })
        .await
        .expect("users connect after the core restart");
    }
    let st = status(&http, &agent).await;
    assert_eq!(st["status"], "Running");
    let (b_in, b_out) = counters(&st, "bob");
    assert!(
        b_in > 0 && b_out > 0,
        "bob's traffic after the restart counts: {st}"
    );

    // A config the core rejects is not applied: the old core keeps running with its users.
    let mut bad = ports.inbounds();
    bad.as_array_mut().expect("array").push(json!({
        "tag": "broken", "listen": "127.0.0.1", "port": free_port(), "protocol": "no-such-protocol"
    }));
    write_inbounds(&agent.inbounds, &bad);
    let (code, body) = post(&http, &agent, "/node/start", &users(&[ALICE, BOB])).await;
    assert_eq!(code, 500, "a rejected config is an error: {body}");
    assert!(body.contains("rejected"), "{body}");
    assert_eq!(
        agent.core_pid(),
        Some(new_pid),
        "the running core was not touched"
    );
    alice[0]
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("old config still serves");
    assert_eq!(status(&http, &agent).await["status"], "Running");
    write_inbounds(&agent.inbounds, &ports.inbounds());

    // Agent restart: counters read before it are still there, and the node resumes.
    let before = status(&http, &agent).await;
    let alice_before = counters(&before, "alice");
    let bob_before = counters(&before, "bob");
    agent.stop();
    let agent = serve_agent(&dir, api_port);
    let after = status(&http, &agent).await;
    assert!(
        counters(&after, "alice").0 >= alice_before.0
            && counters(&after, "alice").1 >= alice_before.1
    );
    assert!(counters(&after, "bob").0 >= bob_before.0 && counters(&after, "bob").1 >= bob_before.1);
    assert!(alice_before.1 > 0);
    let resumed = eventually(Duration::from_secs(10), || {
        let http = http.clone();
        let agent = &agent;
        async move {
            let st = status(&http, agent).await;
            if st["status"] == "Running" {
                Ok(())
            } else {
                Err(format!("status {st}"))
            }
        }
    })
    .await;
    resumed.unwrap_or_else(|e| panic!("node resumes after an agent restart: {e}\n{}", agent.log()));
    eventually(Duration::from_secs(5), || {
        alice[1].fetch(web, "/blob", UPLOAD)
    })
    .await
    .expect("alice connects after the agent restart");

    // Stop: users are gone and user changes answer 400 Node not running.
    let (code, _) = post(&http, &agent, "/node/stop", &json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(status(&http, &agent).await["status"], "Stopped");
    let (code, body) = post(&http, &agent, "/users/add", &users(&[CAROL])).await;
    assert_eq!(
        (code, body.contains("Node not running")),
        (400, true),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Access key, TLS only, strict bodies, and `Node not running` on a stopped node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_guards() {
    v2ray();
    let dir = temp_dir("guards");
    let ports = Ports::new();
    write_inbounds(&dir.join("inbounds.json"), &ports.inbounds());
    let agent = serve_agent(&dir, free_port());
    let http = https();

    // Wrong or missing key → 401, on every route.
    for key in [Some("wrong-key"), None] {
        for path in ["/node/status", "/node/inbounds"] {
            let mut req = http.get(agent.url(path));
            if let Some(k) = key {
                req = req.header("x-node-auth-key", k);
            }
            let resp = req.send().await.expect("request");
            assert_eq!(resp.status().as_u16(), 401, "{path}");
            let body = resp.text().await.unwrap_or_default();
            assert!(!body.contains("vless"), "{path} leaks nothing: {body}");
        }
        let mut req = http.post(agent.url("/node/start")).json(&users(&[ALICE]));
        if let Some(k) = key {
            req = req.header("x-node-auth-key", k);
        }
        assert_eq!(req.send().await.expect("request").status().as_u16(), 401);
    }

    // With the key, the inbounds a stopped node will serve: those of the inbounds file.
    assert_eq!(inbounds(&http, &agent).await, ports.exposed());
    let resp = http
        .post(agent.url("/node/inbounds"))
        .header("x-node-auth-key", KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 405);

    // Plain HTTP is refused: no HTTP answer ever comes back.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for path in ["/node/status", "/node/inbounds"] {
        let url = format!("http://127.0.0.1:{}{path}", agent.port);
        assert!(plain
            .get(url)
            .header("x-node-auth-key", KEY)
            .send()
            .await
            .is_err());
    }

    // Stopped node: user changes → 400 Node not running.
    for path in ["/users/add", "/users/del"] {
        let (code, body) = post(&http, &agent, path, &users(&[ALICE])).await;
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains("Node not running"), "{body}");
    }
    assert_eq!(status(&http, &agent).await["status"], "Stopped");

    // Malformed bodies → 400 with a message.
    let bad_bodies = [
        "{not json",
        r#"{"users": [{"name": "a", "key": "k", "extra": 1}]}"#,
        r#"{"users": [], "more": true}"#,
        r#"{"users": [{"name": "a"}]}"#,
        r#"{"users": "a"}"#,
        r#"{}"#,
        r#"{"users": [{"name": "", "key": "k"}]}"#,
        r#"{"users": [{"name": "a", "key": "k"}, {"name": "a", "key": "j"}]}"#,
    ];
    for path in ["/node/start", "/users/add"] {
        for body in bad_bodies {
            let resp = http
                .post(agent.url(path))
                .header("x-node-auth-key", KEY)
                .body(body)
                .send()
                .await
                .expect("request");
            let code = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(code, 400, "{path} {body}: {text}");
            assert!(text.contains("\"message\""), "{text}");
        }
    }
    let resp = http
        .post(agent.url("/node/stop"))
        .header("x-node-auth-key", KEY)
        .body(r#"{"force": true}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let resp = http
        .get(agent.url("/node/nope"))
        .header("x-node-auth-key", KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 404);

    // The certificate and its fingerprint stay in the data dir.
    assert!(dir.join("data/tls/cert.pem").is_file());
    assert!(agent.log().contains("SHA-256 fingerprint"));
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without an access key the agent refuses to start; `--help` documents every setting.
#[test]
fn cli_requires_key_and_documents_settings() {
    let dir = temp_dir("cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nexuma-node"))
        .args(["serve", "--listen", "127.0.0.1:1", "--inbounds", "x.json"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("NEXUMA_NODE_KEY")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NEXUMA_NODE_KEY"));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_nexuma-node"))
        .args(["serve", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for setting in [
        "--listen",
        "--data-dir",
        "--core-bin",
        "--inbounds",
        "--grpc-prefix",
        "--api-port",
        "--poll-secs",
        "--tls-cert",
        "--tls-key",
        "--tls-name",
        "NEXUMA_NODE_KEY",
    ] {
        assert!(help.contains(setting), "--help lacks {setting}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
