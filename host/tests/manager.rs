//! The `manager` component end to end: real node agents (`nexuma-node`) driving Debian's v2ray,
//! real v2ray clients built from the subscription's outbound objects, curl through them, the
//! watchdog job, the monitoring page (and a headless-Chromium screenshot of it).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::proxy::{eventually, file_server, free_port, node_binary, Client, ServeAgent, BLOB};
use common::{Backend, Core, Options, Reply};
use serde_json::{json, Value};

const KEY: &str = "manager-test-node-key-0123456789";

/// A `nexuma-node serve` with VLESS (tcp), VMess (ws) and Trojan (tcp) inbounds on loopback.
fn start_agent(dir: &Path) -> ServeAgent {
    std::fs::create_dir_all(dir).expect("agent dir");
    let inbounds = json!([
        { "tag": "vless-in", "listen": "127.0.0.1", "port": free_port(), "protocol": "vless",
          "settings": { "clients": [], "decryption": "none" } },
        { "tag": "vmess-in", "listen": "127.0.0.1", "port": free_port(), "protocol": "vmess",
          "settings": { "clients": [] },
          "streamSettings": { "network": "ws", "wsSettings": { "path": "/ws" } } },
        { "tag": "trojan-in", "listen": "127.0.0.1", "port": free_port(), "protocol": "trojan",
          "settings": { "clients": [] } }
    ]);
    std::fs::write(dir.join("inbounds.json"), inbounds.to_string()).expect("inbounds");
    ServeAgent::start(&node_binary(), dir, free_port(), KEY)
}

async fn start_core(backend: Backend) -> Core {
    Core::start_with(
        backend,
        Options::default()
            .components(&["auth", "manager"])
            .env("PUBLIC_URL", "https://vpn.example.com"),
    )
    .await
}

async fn add_node(core: &Core, admin: &str, agent: &ServeAgent, name: &str) -> Value {
    let r = core
        .post(
            "/nodes/add",
            Some(admin),
            json!({ "url": agent.url(""), "accesskey": KEY, "fingerprint": agent.fingerprint(),
                    "name": name }),
        )
        .await;
    assert_eq!(r.status, 200, "nodes/add {name}: {}", r.text);
    r.body
}

async fn new_user(core: &Core, admin: &str, name: &str) -> String {
    let r = core
        .post("/users/new", Some(admin), json!({ "namesuggest": name }))
        .await;
    assert_eq!(r.status, 200, "users/new: {}", r.text);
    let id = r.str("id");
    assert_eq!(
        r.str("subscription"),
        format!("https://vpn.example.com/subscription/{id}")
    );
    id
}

async fn subscription(core: &Core, user: &str) -> Vec<Value> {
    let r = core.get(&format!("/subscription/{user}"), None).await;
    assert_eq!(r.status, 200, "subscription: {}", r.text);
    r.body.as_array().expect("array").clone()
}

async fn node_state(core: &Core, admin: &str, name: &str) -> Value {
    let r = core.get("/nodes", Some(admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == name).cloned())
        .unwrap_or_else(|| panic!("node {name} in {}", r.body))
}

async fn user_state(core: &Core, admin: &str, id: &str) -> Option<Value> {
    let r = core.get("/users", Some(admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
        .as_array()
        .and_then(|a| a.iter().find(|u| u["id"] == id).cloned())
}

async fn page(core: &Core, token: Option<&str>) -> Reply {
    let mut req = core.client.get(core.url("/"));
    if let Some(t) = token {
        req = req.header("cookie", format!("nexuma_access={t}"));
    }
    Reply::from(req.send().await.expect("page")).await
}

/// Connects through every entry of `node` and fetches the blob.
async fn connect_all(dir: &Path, entries: &[Value], node: &str, http_port: u16) {
    let mine: Vec<&Value> = entries.iter().filter(|e| e["node"] == node).collect();
    assert_eq!(mine.len(), 3, "three inbounds on {node}: {entries:?}");
    for entry in mine {
        let client = Client::start(dir, &entry["outbound"]);
        eventually(
            &format!("{node} {} connects", entry["protocol"]),
            Duration::from_secs(10),
            || client.fetch(http_port, "/blob", 0),
        )
        .await;
    }
}

/// Every entry of `node` refuses the user.
async fn refused_all(dir: &Path, entries: &[Value], node: &str, http_port: u16) {
    for entry in entries.iter().filter(|e| e["node"] == node) {
        let client = Client::start(dir, &entry["outbound"]);
        eventually(
            &format!("{node} {} refuses", entry["protocol"]),
            Duration::from_secs(10),
            || async {
                match client.fetch(http_port, "/blob", 0).await {
                    Ok(()) => Err("the deleted user still connects".to_string()),
                    Err(_) => Ok(()),
                }
            },
        )
        .await;
    }
}

both_backends!(manages_real_agents_end_to_end, |backend| async move {
    let core = start_core(backend).await;
    let admin = core.admin_token().await;
    let dir = core.dir.path().to_owned();
    let mut alpha = start_agent(&dir.join("alpha"));
    let beta = start_agent(&dir.join("beta"));
    let http_port = file_server().await;

    let added = add_node(&core, &admin, &alpha, "alpha").await;
    assert_eq!(added["address"], "127.0.0.1");
    assert_eq!(added["online"], true);
    assert_eq!(added["inbounds"].as_array().map(Vec::len), Some(3));
    assert!(added.get("accessKey").is_none() && !added.to_string().contains(KEY));
    add_node(&core, &admin, &beta, "beta").await;
    let dup = core
        .post(
            "/nodes/add",
            Some(&admin),
            json!({ "url": format!("{}/", alpha.url("")), "accesskey": KEY }),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);

    // A user reaches both nodes at once, through every inbound.
    let ann = new_user(&core, &admin, "Ann <script>").await;
    let entries = subscription(&core, &ann).await;
    assert_eq!(entries.len(), 6, "{entries:?}");
    for e in &entries {
        let link = e["link"].as_str().unwrap_or_default();
        let scheme = format!("{}://", e["protocol"].as_str().unwrap_or_default());
        assert!(link.starts_with(&scheme), "{link}");
        assert_eq!(e["address"], "127.0.0.1");
    }
    connect_all(&dir, &entries, "alpha", http_port).await;
    connect_all(&dir, &entries, "beta", http_port).await;

    // The watchdog turns the agents' counters into stored totals on both nodes.
    eventually("traffic recorded", Duration::from_secs(20), || async {
        let user = user_state(&core, &admin, &ann).await.ok_or("no user")?;
        let nodes = user["nodes"].as_array().cloned().unwrap_or_default();
        let both = nodes.len() == 2
            && nodes
                .iter()
                .all(|n| n["outcoming"].as_i64().unwrap_or(0) >= (3 * BLOB / 1024) as i64);
        if both {
            Ok(())
        } else {
            Err(format!("{user}"))
        }
    })
    .await;
    let user = user_state(&core, &admin, &ann).await.expect("user");
    let total = user["totalIncoming"].as_i64().unwrap() + user["totalOutcoming"].as_i64().unwrap();
    let html = page(&core, Some(&admin)).await;
    assert_eq!(html.status, 200);
    assert!(
        html.text
            .contains(&format!("id=\"user-{ann}\" data-total-kib=\"{total}\"")),
        "the page shows the user's traffic:\n{}",
        html.text
    );
    assert!(html.text.contains("Ann &lt;script&gt;"), "escaped name");
    assert!(!html.text.contains("Ann <script>"));
    assert!(
        html.text.contains("<svg") && html.text.contains("<rect"),
        "a chart with bars"
    );
    let nodes_now = core.get("/nodes", Some(&admin)).await;
    assert!(nodes_now
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["online"] == true
            && n["agentStatus"] == "Running"
            && n["users"] == 1
            && n["lastSeenAt"].is_i64()));

    // Deleted: both nodes refuse the next connection.
    let r = core
        .post("/users/del", Some(&admin), json!({ "id": ann }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    refused_all(&dir, &entries, "alpha", http_port).await;
    refused_all(&dir, &entries, "beta", http_port).await;
    assert_eq!(
        core.get(&format!("/subscription/{ann}"), None).await.status,
        404
    );
    let r = core
        .post("/users/del", Some(&admin), json!({ "id": ann }))
        .await;
    assert_eq!(r.status, 404);

    // alpha goes down: its core killed, the agent stopped. The watchdog notices.
    let core_pid = alpha.core_pid().expect("alpha's core pid");
    let _ = Command::new("kill")
        .args(["-KILL", &core_pid.to_string()])
        .status();
    alpha.stop();
    eventually("alpha offline", Duration::from_secs(15), || async {
        let n = node_state(&core, &admin, "alpha").await;
        if n["online"] == false {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;

    // A user created meanwhile reaches beta now and alpha once it is back.
    let bob = new_user(&core, &admin, "Bob").await;
    let entries = subscription(&core, &bob).await;
    connect_all(&dir, &entries, "beta", http_port).await;
    let bob_state = user_state(&core, &admin, &bob).await.expect("bob");
    assert!(
        bob_state["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node"] == "alpha" && n["connected"] == false),
        "{bob_state}"
    );
    alpha.restart();
    eventually(
        "alpha back with all users",
        Duration::from_secs(20),
        || async {
            let n = node_state(&core, &admin, "alpha").await;
            let u = user_state(&core, &admin, &bob).await.ok_or("no bob")?;
            let on_alpha = u["nodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .any(|n| n["node"] == "alpha" && n["connected"] == true)
                })
                .unwrap_or(false);
            if n["online"] == true && on_alpha {
                Ok(())
            } else {
                Err(format!("{n} {u}"))
            }
        },
    )
    .await;
    connect_all(&dir, &entries, "alpha", http_port).await;

    // Deleting a node stops its agent and takes it out of subscriptions.
    let r = core
        .post("/nodes/del", Some(&admin), json!({ "url": beta.url("") }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let entries = subscription(&core, &bob).await;
    assert!(entries.iter().all(|e| e["node"] == "alpha"), "{entries:?}");
    let r = core
        .post("/nodes/del", Some(&admin), json!({ "url": beta.url("") }))
        .await;
    assert_eq!(r.status, 404);

    // Every admin action is in the audit log, without the nodes' access keys.
    let mut actions = common::query_texts(
        &core,
        "SELECT action FROM audit_log WHERE actor_id IS NOT NULL",
    )
    .await;
    actions.sort();
    actions.dedup();
    assert_eq!(
        actions,
        vec!["node.add", "node.delete", "user.create", "user.delete"]
    );
    let snapshots = common::query_texts(
        &core,
        "SELECT COALESCE(before, '') || COALESCE(after, '') FROM audit_log",
    )
    .await;
    assert!(snapshots.iter().all(|s| !s.contains(KEY)), "{snapshots:?}");
});

both_backends!(refuses_bad_requests_and_non_admins, |backend| async move {
    let core = start_core(backend).await;
    let admin = core.admin_token().await;
    let (user, _, _) = core.register("someone@example.com", "password-123").await;

    for (path, body) in [
        (
            "/nodes/add",
            json!({ "url": "https://x", "accesskey": "k" }),
        ),
        ("/nodes/del", json!({ "url": "https://x" })),
        ("/users/new", json!({ "namesuggest": "x" })),
        ("/users/del", json!({ "id": "x" })),
    ] {
        let r = core.post(path, Some(&user), body).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        let r = core.post(path, None, json!({})).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
    }
    assert_eq!(core.get("/users", Some(&user)).await.status, 403);

    let r = core.post("/users/new", Some(&admin), json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "validation_error"),
        "{}",
        r.text
    );
    assert_eq!(r.body["error"]["field"], "namesuggest");
    let r = core
        .post("/users/new", Some(&admin), json!({ "namesuggest": "  " }))
        .await;
    assert_eq!(r.body["error"]["field"], "namesuggest", "{}", r.text);
    let r = core
        .post("/nodes/add", Some(&admin), json!({ "url": "https://x" }))
        .await;
    assert_eq!(r.body["error"]["field"], "accesskey", "{}", r.text);
    let r = core
        .post(
            "/nodes/add",
            Some(&admin),
            json!({ "url": "http://x", "accesskey": "k" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].clone()),
        (400, json!("url"))
    );
    let r = core
        .post(
            "/nodes/add",
            Some(&admin),
            json!({ "url": "https://x", "accesskey": "k", "fingerprint": "zz" }),
        )
        .await;
    assert_eq!(r.body["error"]["field"], "fingerprint", "{}", r.text);
    let r = core.post("/users/del", Some(&admin), json!({})).await;
    assert_eq!(r.body["error"]["field"], "id", "{}", r.text);
    assert_eq!(core.get("/users/new", Some(&admin)).await.status, 405);

    // An agent that is not there: 502 and nothing stored.
    let r = core
        .post(
            "/nodes/add",
            Some(&admin),
            json!({ "url": format!("https://127.0.0.1:{}", free_port()), "accesskey": "k" }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "node_unreachable"),
        "{}",
        r.text
    );
    assert_eq!(core.get("/nodes", Some(&admin)).await.body, json!([]));

    // Unknown ids.
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        core.get(&format!("/subscription/{missing}"), None)
            .await
            .status,
        404
    );
    assert_eq!(core.get("/subscription/not-an-id", None).await.status, 404);
    let r = core
        .post("/users/del", Some(&admin), json!({ "id": missing }))
        .await;
    assert_eq!((r.status, r.code()), (404, "user_not_found"));
    let r = core
        .post(
            "/nodes/del",
            Some(&admin),
            json!({ "url": "https://nowhere.example" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "node_not_found"));
    // A Core account is not a manager user: /users/del refuses it and says why.
    let me = core.get("/me", Some(&user)).await.str("id");
    let r = core
        .post("/users/del", Some(&admin), json!({ "id": me }))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "not_a_manager_user"),
        "{}",
        r.text
    );
    assert_eq!(core.get("/me", Some(&user)).await.status, 200);

    // The page: a login form without a cookie, nothing for a non-admin.
    let r = page(&core, None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("action=\"/ui/login\"") && r.text.contains("name=\"password\""));
    assert!(r.text.contains("name=\"viewport\""));
    let r = page(&core, Some(&user)).await;
    assert_eq!(r.status, 403);
    assert!(!r.text.contains("<table"), "no data for a non-admin");
    // A Bearer token is not how a browser comes; a cookie of an admin is.
    let r = page(&core, Some(&admin)).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Nodes") && r.text.contains("<svg"));
});

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Form login: a 303 with the HttpOnly cookie for an admin; refusals otherwise.
async fn form_login(core: &Core, email: &str, password: &str) -> Reply {
    let client = no_redirects();
    let body = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    let resp = client
        .post(core.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("login");
    Reply::from(resp).await
}

both_backends!(page_login_logout_and_screenshot, |backend| async move {
    let core = start_core(backend).await;
    let admin = core.admin_token().await;
    core.register("someone@example.com", "password-123").await;

    let r = form_login(&core, "root@example.com", "wrong-password").await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains("Wrong email or password"));
    let wrong = form_login(&core, "someone@example.com", "wrong-password").await;
    let r = form_login(&core, "someone@example.com", "password-123").await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (401, wrong.text.as_str()),
        "a non-admin's right password answers as a wrong one"
    );
    assert!(r.header("set-cookie").is_none());
    let r = form_login(&core, "root@example.com", "admin-password-1").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.header("set-cookie").expect("cookie").to_string();
    for part in [
        "nexuma_access=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
        "Secure",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let token = cookie
        .trim_start_matches("nexuma_access=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let dashboard = page(&core, Some(&token)).await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.text.contains("Traffic, last 24 hours"));
    let resp = no_redirects()
        .post(core.url("/ui/logout"))
        .send()
        .await
        .expect("logout");
    let r = Reply::from(resp).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap_or("").contains("Max-Age=0"));

    // Some data for the picture: users and (without agents) a node row and traffic buckets.
    for name in ["Ann", "Bob", "Carol"] {
        new_user(&core, &admin, name).await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    common::exec_sql(
        &core,
        &format!(
            "INSERT INTO manager_nodes (id, name, api_url, access_key, address, status, online, \
             agent_status, cpu_load, memory_load, last_seen_at, created_at, updated_at) VALUES \
             ('n1', 'Frankfurt', 'https://198.51.100.7:8443', 'k', '198.51.100.7', 'active', \
             TRUE, 'Running', 12, 40, {now}, {now}, {now})"
        ),
    )
    .await;
    let hour = 3_600_000i64;
    for k in 0..24i64 {
        let h = now - now.rem_euclid(hour) - k * hour;
        common::exec_sql(
            &core,
            "INSERT INTO node_users (node_id, user_id, connected, total_incoming, \
             total_outcoming) SELECT 'n1', id, TRUE, 0, 0 FROM users WHERE name = 'Ann' \
             ON CONFLICT DO NOTHING",
        )
        .await;
        common::exec_sql(
            &core,
            &format!(
                "INSERT INTO usage_hourly (user_id, node_id, hour, incoming, outcoming) \
                 SELECT id, 'n1', {h}, {}, {} FROM users WHERE name = 'Ann'",
                100 + (k * 37) % 400,
                800 + (k * 211) % 3000
            ),
        )
        .await;
    }
    let dashboard = page(&core, Some(&admin)).await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.text.contains("Frankfurt"));

    let dir = core.dir.path();
    let html_file = dir.join("dashboard.html");
    std::fs::write(&html_file, &dashboard.text).expect("html");
    let shots = [
        (core.url("/"), dir.join("login.png")),
        (
            format!("file://{}", html_file.display()),
            dir.join("dashboard.png"),
        ),
    ];
    for (url, png) in &shots {
        let args = [
            "--window-size=420,900".to_string(),
            format!("--screenshot={}", png.display()),
        ];
        let out = common::browser::chromium(dir, &args, url).await;
        let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 5_000,
            "screenshot of {url}: {size} bytes; chromium said {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Ok(keep) = std::env::var("NEXUMA_KEEP_SCREENSHOTS") {
            let name = format!(
                "{:?}-{}",
                backend,
                png.file_name().unwrap().to_string_lossy()
            );
            let _ = std::fs::copy(png, Path::new(&keep).join(name));
        }
    }
});

async fn form_status(core: &Core, email: &str, password: &str) -> u16 {
    form_login(core, email, password).await.status
}

async fn api_login(core: &Core, email: &str, password: &str) -> Reply {
    core.post(
        "/auth/login",
        None,
        json!({ "email": email, "password": password }),
    )
    .await
}

both_backends!(ui_login_shares_the_login_throttles, |backend| async move {
    let core = start_core(backend).await;
    core.admin_token().await;
    core.register("v@example.com", "password-v").await;
    core.register("w@example.com", "password-w").await;

    // Guesses through /auth/login lock the email on the form too, right password or not.
    for _ in 0..5 {
        assert_eq!(
            api_login(&core, "v@example.com", "wrong-pass").await.status,
            401
        );
    }
    let r = form_login(&core, "V@example.com", "password-v").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(
        r.header("retry-after").is_some(),
        "retry-after on the form's 429"
    );
    assert!(r.header("set-cookie").is_none());
    // And the other way round.
    for _ in 0..5 {
        assert_eq!(form_status(&core, "w@example.com", "wrong-pass").await, 401);
    }
    let r = api_login(&core, "w@example.com", "password-w").await;
    assert_eq!(
        (r.status, r.code()),
        (429, "too_many_attempts"),
        "{}",
        r.text
    );
    // An admin who logs in on the form is not held back by others' failures.
    assert_eq!(
        form_status(&core, "root@example.com", "admin-password-1").await,
        303
    );
});

both_backends!(ui_login_limits_one_address, |backend| async move {
    let core = start_core(backend).await;
    core.admin_token().await;
    // Successes give their attempt back; 20 failures from one address are all it gets.
    for i in 0..20 {
        assert_eq!(
            form_status(&core, &format!("guess{i}@example.com"), "wrong-pass").await,
            401,
            "guess {i}"
        );
        if i % 5 == 0 {
            assert_eq!(
                form_status(&core, "root@example.com", "admin-password-1").await,
                303
            );
        }
    }
    assert_eq!(
        form_status(&core, "guess-more@example.com", "wrong-pass").await,
        429,
        "the 21st failure from one address"
    );
    assert_eq!(
        form_status(&core, "root@example.com", "admin-password-1").await,
        429,
        "locked for every email"
    );
    let r = api_login(&core, "root@example.com", "admin-password-1").await;
    assert_eq!(
        r.status, 429,
        "/auth/login shares the address counter: {}",
        r.text
    );
});

both_backends!(
    users_del_removes_only_what_the_manager_created,
    |backend| async move {
        let core = Core::start_with(
            backend,
            Options::default()
                .components(&["auth", "manager", "billing"])
                .env("PUBLIC_URL", "https://vpn.example.com"),
        )
        .await;
        let admin = core.admin_token().await;
        let admin_id = core.get("/me", Some(&admin)).await.str("id");
        let deposit = |user: String, amount: i64| {
            let (core, admin) = (&core, &admin);
            async move {
                let r = core
                    .post(
                        &format!("/admin/users/{user}/balance/deposit"),
                        Some(admin),
                        json!({ "amount": amount }),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        };
        let balance = |user: String| {
            let (core, admin) = (&core, &admin);
            async move {
                core.get(&format!("/admin/users/{user}/balance"), Some(admin))
                    .await
                    .body["amount"]
                    .as_i64()
            }
        };
        let del = |id: String| {
            let (core, admin) = (&core, &admin);
            async move {
                core.post("/users/del", Some(admin), json!({ "id": id }))
                    .await
            }
        };

        // A billing customer with a subscription link and money.
        let (_, _, customer) = core.register("cus@example.com", "password-cus").await;
        deposit(customer.clone(), 5000).await;
        let tariff = core
            .post(
                "/admin/tariffs",
                Some(&admin),
                json!({ "name": "Basic", "price": 1000, "currency": "RUB", "durationMonths": 1 }),
            )
            .await;
        assert_eq!(tariff.status, 201, "{}", tariff.text);
        let sub = core
            .post(
                "/admin/subscriptions",
                Some(&admin),
                json!({ "userId": customer, "tariffId": tariff.str("id"), "charge": true }),
            )
            .await;
        assert_eq!(sub.status, 201, "{}", sub.text);
        let r = del(customer.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "not_a_manager_user"),
            "{}",
            r.text
        );
        assert!(
            r.message().contains("not created by the Node Manager"),
            "{}",
            r.message()
        );
        assert_eq!(
            balance(customer.clone()).await,
            Some(4000),
            "the customer's money stays"
        );

        // The caller and another admin.
        let r = del(admin_id.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "cannot_delete_self"),
            "{}",
            r.text
        );
        let (_, _, other) = core.register("op@example.com", "password-op").await;
        let r = core
            .patch(
                &format!("/admin/users/{other}"),
                Some(&admin),
                json!({ "role": "admin" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = del(other.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "not_a_manager_user"),
            "{}",
            r.text
        );
        assert_eq!(
            core.get("/admin/users", Some(&admin)).await.status,
            200,
            "the caller is still there"
        );

        // A manager user that billing took over (money moved) is a customer now.
        let taken = new_user(&core, &admin, "Taken").await;
        deposit(taken.clone(), 700).await;
        let r = del(taken.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (409, "user_has_billing"),
            "{}",
            r.text
        );
        assert_eq!(balance(taken.clone()).await, Some(700));

        // Its own users it deletes.
        let mine = new_user(&core, &admin, "Mine").await;
        let r = del(mine.clone()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            core.get(&format!("/admin/users/{mine}"), Some(&admin))
                .await
                .status,
            404
        );
        let owned = common::query_texts(&core, "SELECT user_id FROM manager_users").await;
        assert_eq!(owned, vec![taken.clone()], "the marker goes with the user");
        let left = common::query_texts(&core, "SELECT id FROM users").await;
        for id in [&customer, &admin_id, &other, &taken] {
            assert!(left.contains(id), "{id} is still there: {left:?}");
        }
    }
);
