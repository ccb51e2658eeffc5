//! The `nodes` component over real HTTP, on both backends: node administration, one-time
//! registration codes and node keys, the private `/node/*` API, config building with revisions,
//! and traffic accounting. (The agent's side, with a real core, is `tests/node_pull.rs`.)

mod common;

use common::{exec_sql, query_texts, Backend, Core, Options, Reply};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PRIVATE_KEY: &str = "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E";

async fn start(backend: Backend) -> Core {
    Core::start_with(
        backend,
        Options::default().components(&["auth", "billing", "nodes"]),
    )
    .await
}

fn inbounds() -> Value {
    json!([
        { "tag": "vless-in", "protocol": "vless", "port": 20001 },
        { "tag": "vmess-in", "protocol": "vmess", "port": 20002, "network": "ws", "path": "/vm" },
        { "tag": "trojan-in", "protocol": "trojan", "port": 20003 }
    ])
}

async fn create_node(core: &Core, admin: &str, name: &str, inbounds: Value) -> String {
    let r = core
        .post(
            "/admin/nodes",
            Some(admin),
            json!({ "name": name, "address": "node.example.com", "inbounds": inbounds }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("id")
}

async fn code(core: &Core, admin: &str, node: &str) -> String {
    common::agent::registration_code(core, admin, node).await
}

async fn register(core: &Core, code: &str) -> Reply {
    core.post(
        "/node/register",
        None,
        json!({ "protocol": 1, "code": code, "hostname": "fra-1", "agentVersion": "0.1.0",
                "coreVersion": "V2Ray 4.34.0", "coreFlavor": "v2ray" }),
    )
    .await
}

/// Registers a new node's agent; its key.
async fn registered(core: &Core, admin: &str, node: &str) -> String {
    let c = code(core, admin, node).await;
    let r = register(core, &c).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.str("nodeId"), node);
    r.str("key")
}

/// A request as a node agent (key in `x-node-auth-key`).
async fn as_node(
    core: &Core,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = core.client.request(method, core.url(path));
    if let Some(key) = key {
        req = req.header("x-node-auth-key", key);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    Reply::from(req.send().await.expect("request")).await
}

async fn heartbeat(core: &Core, key: &str, applied: Option<i64>, done: &[&str]) -> Reply {
    as_node(
        core,
        reqwest::Method::POST,
        "/node/heartbeat",
        Some(key),
        Some(
            json!({ "protocol": 1, "status": "Running", "agentVersion": "0.1.0",
                     "coreVersion": "V2Ray 4.34.0", "coreFlavor": "v2ray",
                     "appliedRevision": applied, "load": { "cpu": 7, "memory": 41 },
                     "clients": 3, "doneOps": done }),
        ),
        &[],
    )
    .await
}

async fn fetch_config(core: &Core, key: &str, have: Option<i64>) -> Reply {
    let etag = have.map(|r| format!("\"{r}\""));
    let headers: Vec<(&str, &str)> = etag
        .as_deref()
        .map(|e| vec![("if-none-match", e)])
        .unwrap_or_default();
    as_node(
        core,
        reqwest::Method::GET,
        "/node/config/latest",
        Some(key),
        None,
        &headers,
    )
    .await
}

async fn sync(core: &Core, admin: &str) -> Value {
    let r = core.post("/admin/nodes/sync", Some(admin), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn node(core: &Core, admin: &str, id: &str) -> Value {
    let r = core.get(&format!("/admin/nodes/{id}"), Some(admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn revision(core: &Core, admin: &str, id: &str) -> i64 {
    node(core, admin, id).await["revision"]
        .as_i64()
        .expect("revision")
}

/// The node's built config: client name → the inbound tags it is in.
async fn clients(core: &Core, admin: &str, id: &str) -> Vec<(String, String, Vec<String>)> {
    let r = core
        .get(&format!("/admin/nodes/{id}/config"), Some(admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut out: Vec<(String, String, Vec<String>)> = r.body["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["key"].as_str().unwrap().to_string(),
                c["inbounds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn tariff(core: &Core, admin: &str, body: Value) -> String {
    let mut full = json!({ "name": "Plan", "price": 0, "currency": "RUB", "durationMonths": 1 });
    for (k, v) in body.as_object().expect("object") {
        full[k] = v.clone();
    }
    let r = core.post("/admin/tariffs", Some(admin), full).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("id")
}

/// A user with a subscription to `tariff`: (token, user id, subscription, first link).
async fn subscriber(
    core: &Core,
    admin: &str,
    email: &str,
    tariff: &str,
) -> (String, String, Value) {
    let (token, _, user) = core.register(email, "password-user").await;
    let r = core
        .post(
            "/admin/subscriptions",
            Some(admin),
            json!({ "userId": user, "tariffId": tariff }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (token, user, r.body)
}

/// Answers the host's response cache gave so far (`/metrics`).
async fn cache_hits(core: &Core) -> u64 {
    let metrics = core.get("/metrics", None).await.text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("nexuma_response_cache_total{outcome=\"hit\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

both_backends!(registration_codes_and_keys, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let a = create_node(&core, &admin, "alpha", inbounds()).await;
    let b = create_node(
        &core,
        &admin,
        "beta",
        json!([{ "tag": "beta-only", "protocol": "trojan", "port": 20010 }]),
    )
    .await;
    let fresh = node(&core, &admin, &a).await;
    assert_eq!(fresh["effectiveStatus"], "error");
    assert_eq!(fresh["statusReason"], "the agent has never connected");
    assert_eq!(fresh["syncState"], "never");

    let r = register(&core, "not-a-code").await;
    assert_eq!((r.status, r.code()), (401, "invalid_code"), "{}", r.text);
    let code_a = code(&core, &admin, &a).await;
    let r = core
        .post(
            "/node/register",
            None,
            json!({ "protocol": 2, "code": code_a }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "unsupported_protocol"));
    let r = register(&core, &code_a).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key_a = r.str("key");
    let again = register(&core, &code_a).await;
    assert_eq!(
        (again.status, again.code()),
        (401, "invalid_code"),
        "a code works once"
    );

    // Only hashes are stored.
    let hashes = query_texts(&core, "SELECT key_hash FROM node_credentials").await;
    assert_eq!(hashes, vec![sha256_hex(&key_a)]);
    let codes = query_texts(&core, "SELECT code_hash FROM node_registration_codes").await;
    assert_eq!(codes, vec![sha256_hex(&code_a)]);

    // The agent says hello; the node is up.
    let hb = heartbeat(&core, &key_a, None, &[]).await;
    assert_eq!(hb.status, 200, "{}", hb.text);
    assert!(hb.body["revision"].as_i64().unwrap() >= 1, "{}", hb.text);
    assert_eq!(hb.body["ops"], json!([]));
    let up = node(&core, &admin, &a).await;
    assert_eq!(up["effectiveStatus"], "active", "{up}");
    assert_eq!(up["registered"], true);
    assert_eq!(up["agent"]["hostname"], "fra-1");
    assert_eq!(up["agent"]["cpu"], 7);
    for key in [None, Some("wrong-key")] {
        let r = heartbeat(&core, key.unwrap_or(""), None, &[]).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }

    // A key acts for its own node only: beta's key gets beta's config.
    let key_b = registered(&core, &admin, &b).await;
    let cfg_a = fetch_config(&core, &key_a, None).await;
    let cfg_b = fetch_config(&core, &key_b, None).await;
    assert_eq!(cfg_a.status, 200, "{}", cfg_a.text);
    let tags = |r: &Reply| -> Vec<String> {
        r.body["inbounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["tag"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(tags(&cfg_a), vec!["vless-in", "vmess-in", "trojan-in"]);
    assert_eq!(tags(&cfg_b), vec!["beta-only"]);

    // An expired code is refused; a new code rotates the key; revoking shuts the node out.
    let short = core
        .post(
            &format!("/admin/nodes/{a}/registration-code"),
            Some(&admin),
            json!({ "ttlMinutes": 1 }),
        )
        .await;
    exec_sql(
        &core,
        "UPDATE node_registration_codes SET expires_at = 1 WHERE used_at IS NULL",
    )
    .await;
    let r = register(&core, &short.str("code")).await;
    assert_eq!((r.status, r.code()), (401, "invalid_code"));
    let rotated = registered(&core, &admin, &a).await;
    assert_eq!(
        heartbeat(&core, &key_a, None, &[]).await.status,
        401,
        "the old key is revoked"
    );
    assert_eq!(heartbeat(&core, &rotated, None, &[]).await.status, 200);
    let r = core
        .post(
            &format!("/admin/nodes/{a}/revoke-keys"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!((r.status, r.body["revoked"].as_i64()), (200, Some(1)));
    assert_eq!(heartbeat(&core, &rotated, None, &[]).await.status, 401);
    let r = core
        .post(
            &format!("/admin/nodes/{a}/registration-code"),
            Some(&admin),
            json!({ "ttlMinutes": 0 }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "validation_error"));

    // Deleting a node revokes its key too.
    let r = core
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/nodes/{b}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(heartbeat(&core, &key_b, None, &[]).await.status, 401);

    let logs = core.get("/admin/logs?targetType=node", Some(&admin)).await;
    let actions: Vec<&str> = logs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "node.create",
        "node.registration_code",
        "node.register",
        "node.revoke_keys",
        "node.delete",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        !logs.text.contains(&key_a) && !logs.text.contains(&code_a),
        "no secrets in the log"
    );
});

both_backends!(
    configs_carry_active_permitted_clients_only,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let a = create_node(&core, &admin, "alpha", inbounds()).await;
        let b = create_node(&core, &admin, "beta", inbounds()).await;
        let everything = tariff(&core, &admin, json!({})).await;
        let vless_on_a = tariff(
            &core,
            &admin,
            json!({ "protocols": ["vless"], "nodeIds": [a] }),
        )
        .await;
        let only_b = tariff(&core, &admin, json!({ "nodeIds": [b] })).await;

        let (ann, _, ann_sub) = subscriber(&core, &admin, "ann@example.com", &everything).await;
        let (_, _, bob_sub) = subscriber(&core, &admin, "bob@example.com", &vless_on_a).await;
        let (_, _, cid_sub) = subscriber(&core, &admin, "cid@example.com", &only_b).await;
        let (_, _, dan_sub) = subscriber(&core, &admin, "dan@example.com", &everything).await;
        let (_, eve, eve_sub) = subscriber(&core, &admin, "eve@example.com", &everything).await;
        let link = |s: &Value| s["links"][0]["id"].as_str().unwrap().to_string();
        let uuid = |s: &Value| s["links"][0]["uuid"].as_str().unwrap().to_string();

        // Ann: a second link for trojan only, a third on beta only, a fourth disabled.
        let trojan = core
            .post("/me/links", Some(&ann), json!({ "protocols": ["trojan"] }))
            .await;
        let beta_only = core
            .post("/me/links", Some(&ann), json!({ "nodeIds": [b] }))
            .await;
        let off = core
            .post("/me/links", Some(&ann), json!({ "enabled": false }))
            .await;
        assert_eq!(
            (trojan.status, beta_only.status, off.status),
            (201, 201, 201)
        );
        // Dan's subscription ended; Eve is blocked.
        let r = core
            .patch(
                &format!("/admin/subscriptions/{}", dan_sub["id"].as_str().unwrap()),
                Some(&admin),
                json!({ "status": "expired" }),
            )
            .await;
        assert_eq!(r.status, 200);
        let r = core
            .patch(
                &format!("/admin/users/{eve}"),
                Some(&admin),
                json!({ "blocked": true }),
            )
            .await;
        assert_eq!(r.status, 200);
        sync(&core, &admin).await;

        let all = vec![
            "vless-in".to_string(),
            "vmess-in".into(),
            "trojan-in".into(),
        ];
        let mut expected_a = vec![
            (link(&ann_sub), uuid(&ann_sub), all.clone()),
            (
                trojan.str("id"),
                trojan.str("uuid"),
                vec!["trojan-in".into()],
            ),
            (link(&bob_sub), uuid(&bob_sub), vec!["vless-in".into()]),
        ];
        expected_a.sort();
        assert_eq!(clients(&core, &admin, &a).await, expected_a);
        let mut expected_b = vec![
            (link(&ann_sub), uuid(&ann_sub), all.clone()),
            (
                trojan.str("id"),
                trojan.str("uuid"),
                vec!["trojan-in".into()],
            ),
            (beta_only.str("id"), beta_only.str("uuid"), all.clone()),
            (link(&cid_sub), uuid(&cid_sub), all.clone()),
        ];
        expected_b.sort();
        assert_eq!(clients(&core, &admin, &b).await, expected_b);
        let _ = eve_sub;

        // A disabled node keeps its inbounds and serves nobody.
        let before = revision(&core, &admin, &b).await;
        let r = core
            .patch(
                &format!("/admin/nodes/{b}"),
                Some(&admin),
                json!({ "status": "disabled" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        sync(&core, &admin).await;
        assert!(clients(&core, &admin, &b).await.is_empty());
        assert_eq!(revision(&core, &admin, &b).await, before + 1);
        let cfg = core
            .get(&format!("/admin/nodes/{b}/config"), Some(&admin))
            .await;
        assert_eq!(cfg.body["inbounds"].as_array().map(Vec::len), Some(3));
        assert_eq!(cfg.body["outbounds"][0]["tag"], "direct");
    }
);

both_backends!(
    revisions_move_only_when_node_facing_state_changes,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let a = create_node(&core, &admin, "alpha", inbounds()).await;
        let b = create_node(&core, &admin, "beta", inbounds()).await;
        let everything = tariff(&core, &admin, json!({})).await;
        let only_b = tariff(&core, &admin, json!({ "nodeIds": [b] })).await;
        let (ann, _, sub) = subscriber(&core, &admin, "ann@example.com", &everything).await;
        let link = sub["links"][0]["id"].as_str().unwrap().to_string();
        let key = registered(&core, &admin, &a).await;
        sync(&core, &admin).await;
        let r0 = revision(&core, &admin, &a).await;
        assert!(r0 >= 1);

        // Nothing changed; then changes nodes do not see.
        sync(&core, &admin).await;
        assert_eq!(revision(&core, &admin, &a).await, r0);
        let r = core
            .patch(
                &format!("/admin/nodes/{a}"),
                Some(&admin),
                json!({ "name": "Alpha", "address": "10.0.0.1" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = core
            .patch(
                &format!("/me/subscriptions/links/{link}"),
                Some(&ann),
                json!({ "name": "Phone" }),
            )
            .await;
        assert_eq!(r.status, 200);
        let r = core
            .patch(
                &format!("/admin/tariffs/{everything}"),
                Some(&admin),
                json!({ "price": 100 }),
            )
            .await;
        assert_eq!(r.status, 200);
        subscriber(&core, &admin, "bob@example.com", &only_b).await;
        sync(&core, &admin).await;
        assert_eq!(
            revision(&core, &admin, &a).await,
            r0,
            "none of that reaches alpha"
        );
        assert!(revision(&core, &admin, &b).await >= 1);

        // The agent has it: 304; an older one: 200 with the ETag of the latest.
        let r = fetch_config(&core, &key, Some(r0)).await;
        assert_eq!(r.status, 304, "{}", r.text);
        assert!(r.text.is_empty());
        let r = fetch_config(&core, &key, Some(r0 - 1)).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("etag"), Some(format!("\"{r0}\"").as_str()));
        assert_eq!(r.body["revision"], r0);

        // Each node-facing change moves it by one.
        let mut expected = r0;
        let steps: Vec<(&str, reqwest::Method, String, Value)> = vec![
            (
                "link disabled",
                reqwest::Method::PATCH,
                format!("/me/subscriptions/links/{link}"),
                json!({ "enabled": false }),
            ),
            (
                "link enabled",
                reqwest::Method::PATCH,
                format!("/me/subscriptions/links/{link}"),
                json!({ "enabled": true }),
            ),
            (
                "link reset",
                reqwest::Method::POST,
                format!("/me/subscriptions/{link}/reset"),
                json!({}),
            ),
            (
                "tariff protocols",
                reqwest::Method::PATCH,
                format!("/admin/tariffs/{everything}"),
                json!({ "protocols": ["vless"] }),
            ),
            (
                "inbound added",
                reqwest::Method::PATCH,
                format!("/admin/nodes/{a}"),
                json!({ "inbounds": [
            { "tag": "vless-in", "protocol": "vless", "port": 20001 },
            { "tag": "vless-2", "protocol": "vless", "port": 20005 } ] }),
            ),
        ];
        for (what, method, path, body) in steps {
            let token = if path.starts_with("/me/") {
                &ann
            } else {
                &admin
            };
            let r = core.send(method, &path, Some(token), Some(body)).await;
            assert!(r.status < 300, "{what}: {}", r.text);
            sync(&core, &admin).await;
            expected += 1;
            assert_eq!(revision(&core, &admin, &a).await, expected, "{what}");
        }
        let cfg = clients(&core, &admin, &a).await;
        assert_eq!(cfg.len(), 1);
        assert_eq!(cfg[0].2, vec!["vless-in".to_string(), "vless-2".into()]);

        // A routing rule set the node uses.
        let set = core
            .post(
                "/admin/routing-rule-sets",
                Some(&admin),
                json!({ "name": "Ads", "blocking": { "domains": ["domain:ads.example"] } }),
            )
            .await;
        assert_eq!(set.status, 201, "{}", set.text);
        let set_id = set.str("id");
        let r = core
            .patch(
                &format!("/admin/nodes/{a}"),
                Some(&admin),
                json!({ "ruleSetIds": [set_id] }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        sync(&core, &admin).await;
        expected += 1;
        assert_eq!(revision(&core, &admin, &a).await, expected);
        let r = core
            .patch(
                &format!("/admin/routing-rule-sets/{set_id}"),
                Some(&admin),
                json!({ "rules": [ { "domain": ["geosite:example"], "outboundTag": "block" } ] }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        sync(&core, &admin).await;
        expected += 1;
        assert_eq!(revision(&core, &admin, &a).await, expected);
        let cfg = core
            .get(&format!("/admin/nodes/{a}/config"), Some(&admin))
            .await;
        assert_eq!(
            cfg.body["routing"]["rules"],
            json!([
                { "type": "field", "domain": ["domain:ads.example"], "outboundTag": "block" },
                { "type": "field", "domain": ["geosite:example"], "outboundTag": "block" }
            ])
        );

        // The heartbeat tells the latest revision; the agent confirms or reports a failure.
        let hb = heartbeat(&core, &key, Some(r0), &[]).await;
        assert_eq!(hb.body["revision"], expected);
        assert_eq!(node(&core, &admin, &a).await["syncState"], "pending");
        let applied = |ok: bool, rev: i64| {
            let body = if ok {
                json!({ "revision": rev, "ok": true })
            } else {
                json!({ "revision": rev, "ok": false, "error": "the core rejected the config: bad" })
            };
            as_node(
                &core,
                reqwest::Method::POST,
                "/node/config/applied",
                Some(&key),
                Some(body),
                &[],
            )
        };
        let r = applied(false, expected).await;
        assert_eq!(r.status, 204, "{}", r.text);
        let n = node(&core, &admin, &a).await;
        assert_eq!(n["syncState"], "failed");
        assert_eq!(n["effectiveStatus"], "error");
        assert!(
            n["statusReason"].as_str().unwrap().contains("rejected"),
            "{n}"
        );
        let errors = core
            .get(&format!("/admin/nodes/{a}/errors"), Some(&admin))
            .await;
        assert_eq!(errors.body["items"][0]["kind"], "config-rejected");
        assert_eq!(applied(true, expected).await.status, 204);
        let n = node(&core, &admin, &a).await;
        assert_eq!(
            (n["syncState"].as_str(), n["effectiveStatus"].as_str()),
            (Some("synced"), Some("active"))
        );
        let r = applied(true, expected + 5).await;
        assert_eq!((r.status, r.code()), (400, "validation_error"));

        // The rule set is in use: it cannot go, and an edit that would break the node is refused.
        let r = core
            .send(
                reqwest::Method::DELETE,
                &format!("/admin/routing-rule-sets/{set_id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!((r.status, r.code()), (409, "rule_set_in_use"));
        let r = core
            .patch(
                &format!("/admin/routing-rule-sets/{set_id}"),
                Some(&admin),
                json!({ "rules": [ { "domain": ["x.com"], "outboundTag": "warp" } ] }),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (409, "rule_set_breaks_node"),
            "{}",
            r.text
        );
    }
);

both_backends!(
    usage_is_counted_once_and_the_limit_ends_access,
    |backend| async move {
        let core = Core::start_with(
            backend,
            Options::default().components(&["auth", "billing", "nodes", "subscriptions"]),
        )
        .await;
        let admin = core.admin_token().await;
        let a = create_node(&core, &admin, "alpha", inbounds()).await;
        let metered = tariff(&core, &admin, json!({ "trafficLimitBytes": 1000 })).await;
        let (_, ann_id, sub) = subscriber(&core, &admin, "ann@example.com", &metered).await;
        let sub_id = sub["id"].as_str().unwrap().to_string();
        let link = sub["links"][0]["id"].as_str().unwrap().to_string();
        let key = registered(&core, &admin, &a).await;
        sync(&core, &admin).await;
        assert_eq!(clients(&core, &admin, &a).await.len(), 1);

        let report = |id: &str, up: u64, down: u64| {
            json!({ "reportId": id, "collectedAt": 1764460800000_i64,
                "clients": [ { "name": link, "up": up, "down": down },
                             { "name": "deleted-link", "up": 5, "down": 5 } ] })
        };
        let post = |path: &'static str, body: Value| {
            as_node(
                &core,
                reqwest::Method::POST,
                path,
                Some(&key),
                Some(body),
                &[],
            )
        };
        // The client's export is kept by the host (the second poll is a hit) and shows no traffic.
        let export = format!("/sub/{}", sub["links"][0]["uuid"].as_str().unwrap());
        let userinfo = |r: &Reply| r.header("subscription-userinfo").unwrap_or("").to_string();
        let polled = core.get(&export, None).await;
        assert_eq!(polled.status, 200, "{}", polled.text);
        assert!(userinfo(&polled).starts_with("upload=0; download=0;"));
        let hits = cache_hits(&core).await;
        assert_eq!(userinfo(&core.get(&export, None).await), userinfo(&polled));
        assert_eq!(
            cache_hits(&core).await,
            hits + 1,
            "the second poll is a hit"
        );

        let r = post("/node/usage", report("r1", 300, 400)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["duplicate"], false);
        let again = post("/node/usage", report("r1", 300, 400)).await;
        assert_eq!(
            (again.status, again.body["duplicate"].as_bool()),
            (200, Some(true))
        );
        // Reports are counted by the `usage` pass (every second, or now by the sync route).
        let counted = sync(&core, &admin).await;
        assert_eq!(counted["usageReports"], 1, "one report waited: {counted}");
        let used = |s: Value| s["trafficUsedBytes"].as_i64().unwrap();
        let sub_path = format!("/admin/subscriptions/{sub_id}");
        let get_sub = || core.get(&sub_path, Some(&admin));
        assert_eq!(used(get_sub().await.body), 700, "counted once");
        // Counting retired the kept export: the next poll shows the traffic.
        assert!(
            userinfo(&core.get(&export, None).await).starts_with("upload=0; download=700;"),
            "the export shows the counted traffic"
        );
        let buckets = query_texts(
        &core,
        &format!(
            "SELECT CAST(hour AS TEXT) || ' ' || CAST(up AS TEXT) || ' ' || CAST(down AS TEXT) \
             FROM traffic_hourly WHERE user_id = '{ann_id}' AND node_id = '{a}' AND link_id = '{link}'"
        ),
    )
    .await;
        assert_eq!(buckets, vec!["1764460800000 300 400"]);

        // Over the limit: billing ends the subscription, the revision pass takes the client off.
        let before = revision(&core, &admin, &a).await;
        let r = post("/node/usage", report("r2", 100, 200)).await;
        assert_eq!(r.body["duplicate"], false);
        sync(&core, &admin).await;
        assert_eq!(used(get_sub().await.body), 1000);
        let tick = core
            .post("/admin/subscriptions/tick", Some(&admin), json!({}))
            .await;
        assert_eq!(tick.status, 200);
        let s = get_sub().await.body;
        assert_eq!(
            (s["status"].as_str(), s["statusReason"].as_str()),
            (Some("expired"), Some("traffic_limit"))
        );
        sync(&core, &admin).await;
        assert!(clients(&core, &admin, &a).await.is_empty());
        assert_eq!(revision(&core, &admin, &a).await, before + 1);

        // Bad reports are refused whole.
        for body in [
            json!({ "clients": [] }),
            json!({ "reportId": "", "clients": [] }),
            json!({ "reportId": "x", "clients": [ { "name": link, "up": -1, "down": 0 } ] }),
            // Figures no link can move, which would overflow the counting statements' sums.
            json!({ "reportId": "x", "clients": [ { "name": link, "up": i64::MAX, "down": i64::MAX } ] }),
            json!({ "reportId": "x", "clients": [ { "name": link, "up": 1_000_000_000_000_001_u64, "down": 0 } ] }),
            json!({ "reportId": "x", "clients": (0..10_001).map(|i| json!({ "name": format!("n{i}"), "up": 1, "down": 1 })).collect::<Vec<_>>() }),
        ] {
            let r = post("/node/usage", body).await;
            assert_eq!(r.status, 400, "{}", r.text);
        }
        assert_eq!(
            sync(&core, &admin).await["usageReports"],
            0,
            "none of them was taken"
        );
        assert_eq!(used(get_sub().await.body), 1000);

        // Outbounds, sessions, errors.
        let out =
            json!({ "reportId": "o1", "outbounds": [ { "tag": "direct", "up": 10, "down": 20 } ] });
        assert_eq!(
            post("/node/outbound-usage", out.clone()).await.body["duplicate"],
            false
        );
        assert_eq!(
            post("/node/outbound-usage", out).await.body["duplicate"],
            true
        );
        let sums = query_texts(
            &core,
            "SELECT CAST(SUM(up + down) AS TEXT) FROM outbound_traffic_hourly",
        )
        .await;
        assert_eq!(sums, vec!["30"]);
        let r = post(
            "/node/session-events",
            json!({ "events": [
        { "name": link, "kind": "online", "at": 10 },
        { "name": link, "kind": "offline", "at": 20 } ] }),
        )
        .await;
        assert_eq!(r.status, 204, "{}", r.text);
        let presence = query_texts(
            &core,
            &format!("SELECT CAST(changed_at AS TEXT) FROM link_presence WHERE link_id = '{link}'"),
        )
        .await;
        assert_eq!(presence, vec!["20"]);
        let r = post(
            "/node/session-events",
            json!({ "events": [ { "name": link, "kind": "away", "at": 1 } ] }),
        )
        .await;
        assert_eq!(r.status, 400);
        let r = post(
            "/node/error",
            json!({ "kind": "core-exited", "message": "exit status: 1", "at": 5 }),
        )
        .await;
        assert_eq!(r.status, 204);
        let n = node(&core, &admin, &a).await;
        assert_eq!(n["lastError"]["kind"], "core-exited");
        assert_eq!(n["lastError"]["message"], "exit status: 1");
    }
);

both_backends!(
    node_settings_are_checked_and_secrets_withheld,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let reality = json!({ "tag": "reality", "protocol": "vless", "port": 443,
        "flow": "xtls-rprx-vision", "security": "reality",
        "reality": { "dest": "www.example.com:443", "serverNames": ["www.example.com"],
                     "privateKey": PRIVATE_KEY, "shortIds": ["", "abcd"] } });
        let a = create_node(&core, &admin, "alpha", json!([reality])).await;
        // Until its agent says what its core runs, REALITY (not every core's) is held back.
        let view = node(&core, &admin, &a).await;
        let reason = view["inbounds"][0]["heldBack"]["reason"]
            .as_str()
            .unwrap_or("");
        assert!(reason.contains("security `reality`"), "{view}");
        common::agent::register_xray(&core, &admin, &a).await;
        let view = node(&core, &admin, &a).await;
        assert!(view["inbounds"][0]["heldBack"].is_null(), "{view}");
        assert_eq!(view["agent"]["capabilities"]["security"][2], "reality");
        assert_eq!(view["inbounds"][0]["reality"]["privateKey"], "(hidden)");
        let public = view["inbounds"][0]["reality"]["publicKey"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(public.len(), 43);
        assert!(!core
            .get("/admin/nodes", Some(&admin))
            .await
            .text
            .contains(PRIVATE_KEY));
        // Sending the view back keeps the stored key.
        let mut inbounds = view["inbounds"].clone();
        inbounds[0]["reality"]
            .as_object_mut()
            .unwrap()
            .remove("publicKey");
        let r = core
            .patch(
                &format!("/admin/nodes/{a}"),
                Some(&admin),
                json!({ "inbounds": inbounds }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        sync(&core, &admin).await;
        let cfg = core
            .get(&format!("/admin/nodes/{a}/config"), Some(&admin))
            .await;
        assert_eq!(
            cfg.body["inbounds"][0]["streamSettings"]["realitySettings"]["privateKey"],
            PRIVATE_KEY
        );

        let keys = core
            .post("/admin/nodes/reality-keys", Some(&admin), json!({}))
            .await;
        assert_eq!(keys.status, 200);
        assert_eq!(keys.str("privateKey").len(), 43);
        assert_ne!(keys.str("privateKey"), keys.str("publicKey"));

        let bad = |inbounds: Value| json!({ "name": "x", "address": "x.example.com", "inbounds": inbounds });
        for (body, field) in [
            (json!({ "address": "x.example.com" }), "name"),
            (json!({ "name": "x" }), "address"),
            (
                json!({ "name": "x", "address": "not an address" }),
                "address",
            ),
            (
                json!({ "name": "x", "address": "x.example.com", "status": "broken" }),
                "status",
            ),
            (
                bad(
                    json!([ { "tag": "a", "protocol": "vless", "port": 1 }, { "tag": "a", "protocol": "vmess", "port": 2 } ]),
                ),
                "inbounds[1].tag",
            ),
            (
                bad(
                    json!([ { "tag": "a", "protocol": "vless", "port": 1 }, { "tag": "b", "protocol": "vmess", "port": 1 } ]),
                ),
                "inbounds[1].port",
            ),
            (
                bad(json!([ { "tag": "a", "protocol": "vless", "port": 1, "network": "grpc" } ])),
                "inbounds[0].serviceName",
            ),
            (
                bad(
                    json!([ { "tag": "a", "protocol": "vless", "port": 1, "security": "reality",
                       "reality": { "dest": "x:443", "serverNames": ["x"], "privateKey": "nope", "shortIds": [""] } } ]),
                ),
                "inbounds[0].reality.privateKey",
            ),
            (
                bad(json!([ { "tag": "a", "protocol": "wireguard", "port": 1 } ])),
                "inbounds",
            ),
            (
                json!({ "name": "x", "address": "x.example.com", "outbounds": [ { "tag": "direct", "protocol": "freedom" } ] }),
                "outbounds[0]",
            ),
            (
                json!({ "name": "x", "address": "x.example.com", "ruleSetIds": ["nope"] }),
                "ruleSetIds",
            ),
            (
                json!({ "name": "x", "address": "x.example.com", "routing": { "rules": [ { "domain": ["a.com"], "outboundTag": "warp" } ] } }),
                "routing",
            ),
            (
                json!({ "name": "x", "address": "x.example.com", "routing": { "rules": [ { "outboundTag": "block" } ] } }),
                "routing.rules[0]",
            ),
            (
                json!({ "name": "x", "address": "x.example.com", "routing": { "domainStrategy": "Fast" } }),
                "routing.domainStrategy",
            ),
        ] {
            let r = core.post("/admin/nodes", Some(&admin), body).await;
            assert_eq!(r.status, 400, "{field}: {}", r.text);
            assert!(r.message().contains(field), "{field}: {}", r.message());
        }
        // An outbound of the node's own may be routed to.
        let r = core
            .post(
                "/admin/nodes",
                Some(&admin),
                json!({ "name": "w", "address": "203.0.113.9",
                    "outbounds": [ { "tag": "warp", "protocol": "freedom" } ],
                    "routing": { "rules": [ { "domain": ["a.com"], "outboundTag": "warp" } ] } }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = core
            .post(
                "/admin/routing-rule-sets",
                Some(&admin),
                json!({ "name": "x", "rules": [ { "domain": "a.com", "outboundTag": "block" } ] }),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.message().contains("rules[0].domain"), "{}", r.message());
        assert_eq!(
            core.get("/admin/nodes", Some(&admin)).await.body["total"],
            2
        );
        let r = core.get("/admin/nodes/nope", Some(&admin)).await;
        assert_eq!((r.status, r.code()), (404, "node_not_found"));
    }
);

both_backends!(operations_wait_for_the_agent, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let a = create_node(&core, &admin, "alpha", inbounds()).await;
    let key = registered(&core, &admin, &a).await;
    let restart = core
        .post(
            &format!("/admin/nodes/{a}/restart-core"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(
        (restart.status, restart.body["kind"].as_str()),
        (202, Some("restart-core"))
    );
    let resync = core
        .post(&format!("/admin/nodes/{a}/resync"), Some(&admin), json!({}))
        .await;
    assert_eq!(resync.status, 202);
    let ops = heartbeat(&core, &key, None, &[]).await.body["ops"].clone();
    assert_eq!(ops.as_array().map(Vec::len), Some(2), "{ops}");
    // Until reported done, every heartbeat hands them out again.
    let again = heartbeat(&core, &key, None, &[&restart.str("id")]).await;
    assert_eq!(again.body["ops"].as_array().map(Vec::len), Some(1));
    assert_eq!(again.body["ops"][0]["kind"], "resync");
    let done = heartbeat(&core, &key, None, &[&resync.str("id")]).await;
    assert_eq!(done.body["ops"], json!([]));
    assert_eq!(node(&core, &admin, &a).await["pendingOps"], json!([]));
});

#[tokio::test]
async fn node_routes_are_documented() {
    let core = start(Backend::Embedded).await;
    let doc = core.get("/openapi.json", None).await;
    let paths = doc.body["paths"].as_object().expect("paths");
    for (method, path) in [
        ("get", "/admin/nodes"),
        ("post", "/admin/nodes"),
        ("get", "/admin/nodes/{id}"),
        ("patch", "/admin/nodes/{id}"),
        ("post", "/admin/nodes/{id}/registration-code"),
        ("get", "/admin/routing-rule-sets"),
        ("post", "/node/register"),
        ("post", "/node/heartbeat"),
        ("get", "/node/config/latest"),
        ("post", "/node/config/applied"),
        ("post", "/node/usage"),
        ("post", "/node/outbound-usage"),
        ("post", "/node/session-events"),
        ("post", "/node/error"),
    ] {
        assert!(
            paths[path][method]["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
    }
}

// Processed outbox rows go after a week, report ids after a month; the housekeeping job runs
// when the Core starts and then hourly.
#[tokio::test]
async fn housekeeping_clears_old_rows_only() {
    let mut core = start(Backend::Embedded).await;
    let admin = core.admin_token().await;
    let a = create_node(&core, &admin, "alpha", inbounds()).await;
    let day = 86_400_000_i64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (kind, processed) in [("old", now - 8 * day), ("recent", now - day)] {
        exec_sql(
            &core,
            &format!(
                "INSERT INTO node_changes (kind, created_at, processed_at) VALUES ('{kind}', 0, {processed})"
            ),
        )
        .await;
    }
    for (id, at) in [("old-report", now - 31 * day), ("recent-report", now - day)] {
        exec_sql(
            &core,
            &format!(
                "INSERT INTO node_reports (node_id, report_id, kind, received_at) VALUES ('{a}', '{id}', 'usage', {at})"
            ),
        )
        .await;
    }
    core.stop();
    core.spawn().await;
    // The job deletes old changes, then old report ids: wait for both.
    let (mut kinds, mut reports) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        kinds = query_texts(
            &core,
            "SELECT kind FROM node_changes WHERE kind IN ('old', 'recent')",
        )
        .await;
        reports = query_texts(&core, "SELECT report_id FROM node_reports").await;
        if kinds == vec!["recent"] && reports == vec!["recent-report"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(kinds, vec!["recent"]);
    assert_eq!(reports, vec!["recent-report"]);
}

/// A heartbeat that says what the node's core runs.
async fn report(core: &Core, key: &str, version: &str, capabilities: Value) -> Reply {
    as_node(
        core,
        reqwest::Method::POST,
        "/node/heartbeat",
        Some(key),
        Some(
            json!({ "protocol": 1, "status": "Running", "coreVersion": version,
                     "capabilities": capabilities }),
        ),
        &[],
    )
    .await
}

/// The tags of the inbounds in the node's latest config.
async fn config_tags(core: &Core, admin: &str, node: &str) -> Vec<String> {
    sync(core, admin).await;
    let cfg = core
        .get(&format!("/admin/nodes/{node}/config"), Some(admin))
        .await;
    assert_eq!(cfg.status, 200, "{}", cfg.text);
    cfg.body["inbounds"]
        .as_array()
        .expect("inbounds")
        .iter()
        .map(|i| i["tag"].as_str().unwrap_or("").to_string())
        .collect()
}

both_backends!(
    what_the_core_runs_decides_what_goes_out,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let mut specs = inbounds().as_array().unwrap()[..1].to_vec();
        specs.push(json!({ "tag": "reality", "protocol": "vless", "port": 443,
            "security": "reality", "reality": { "dest": "www.example.com:443",
            "serverNames": ["www.example.com"], "privateKey": PRIVATE_KEY, "shortIds": [""] } }));
        specs.push(
            json!({ "tag": "ss", "protocol": "shadowsocks", "port": 8388,
            "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }),
        );
        let id = create_node(&core, &admin, "caps", json!(specs)).await;
        // An agent of before capability reports: unknown, so only what every core runs goes out.
        let key = registered(&core, &admin, &id).await;
        let reasons = |view: &Value| -> Vec<String> {
            view["inbounds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["heldBack"]["reason"].as_str().unwrap_or("").to_string())
                .collect()
        };
        let view = node(&core, &admin, &id).await;
        let held = reasons(&view);
        assert_eq!(held[0], "", "{view}");
        assert!(held[1].contains("security `reality`") && held[1].contains("not reported"));
        assert!(
            held[2].contains("method `2022-blake3-aes-128-gcm`"),
            "{view}"
        );
        assert_eq!(config_tags(&core, &admin, &id).await, ["vless-in"]);

        // Xray reports: everything goes out, at a new revision the heartbeat answers.
        let before = node(&core, &admin, &id).await["revision"].as_i64().unwrap();
        let r = report(
            &core,
            &key,
            "Xray 25.9.11",
            common::agent::xray_capabilities(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["revision"].as_i64().unwrap() > before, "{}", r.text);
        assert_eq!(reasons(&node(&core, &admin, &id).await), ["", "", ""]);
        assert_eq!(
            config_tags(&core, &admin, &id).await,
            ["vless-in", "reality", "ss"]
        );

        // The core becomes v2ray 4: both are held back, naming the core, and refused in edits.
        let v2ray = json!({ "protocols": ["vless", "vmess", "trojan"],
            "transports": ["tcp", "ws", "kcp"], "security": ["none", "tls"], "flows": [],
            "shadowsocksMethods": ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"] });
        let r = report(&core, &key, "V2Ray 4.34.0", v2ray).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let view = node(&core, &admin, &id).await;
        let held = reasons(&view);
        assert!(
            held[1].contains("V2Ray 4.34.0") && held[1].contains("security `reality`"),
            "{view}"
        );
        assert_eq!(config_tags(&core, &admin, &id).await, ["vless-in"]);
        for (i, field, feature) in [
            (1, "security", "reality"),
            (2, "method", "2022-blake3-aes-128-gcm"),
        ] {
            let r = core
                .patch(
                    &format!("/admin/nodes/{id}"),
                    Some(&admin),
                    json!({ "inbounds": [specs[0], specs[i]] }),
                )
                .await;
            assert_eq!(r.status, 400, "{}", r.text);
            let message = r.message();
            assert!(
                message.contains(&format!("inbounds[1].{field}"))
                    && message.contains(&format!("`{}`", specs[i]["tag"].as_str().unwrap()))
                    && message.contains(feature),
                "{message}"
            );
        }
        // Edits that leave the inbounds alone still work.
        let r = core
            .patch(
                &format!("/admin/nodes/{id}"),
                Some(&admin),
                json!({ "name": "renamed" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);

        // A report is names, not free text.
        let long = vec!["x"; 100];
        let r = report(
            &core,
            &key,
            "V2Ray 4.34.0",
            json!({ "protocols": [], "transports": long, "security": [], "flows": [],
                    "shadowsocksMethods": [] }),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(
            r.message().contains("capabilities.transports"),
            "{}",
            r.message()
        );
    }
);

/// A node permitted to more clients than one config can list is refused plainly: its error is
/// shown on it, and the same pass still builds every other node.
#[tokio::test]
async fn a_node_over_the_client_cap_is_refused_and_the_others_still_build() {
    // Seeding the 150,001 clients is one set-based statement on PostgreSQL.
    let core = start(Backend::Servers).await;
    let admin = core.admin_token().await;
    let crowded = create_node(&core, &admin, "crowded", inbounds()).await;
    let quiet = create_node(&core, &admin, "quiet", inbounds()).await;
    sync(&core, &admin).await;
    let before = revision(&core, &admin, &crowded).await;
    let everyone = tariff(&core, &admin, json!({ "nodeIds": [crowded] })).await;
    exec_sql(
        &core,
        &format!(
            "WITH s AS MATERIALIZED (SELECT i, gen_random_uuid()::text AS u, \
               gen_random_uuid()::text AS sub, gen_random_uuid()::text AS l \
               FROM generate_series(1, 150001) AS i), \
             users AS (INSERT INTO users (id, email, name, role, status, blocked, created_at, \
               updated_at) SELECT u, 'crowd-' || i || '@example.com', 'crowd', 'user', 'active', \
               FALSE, 1, 1 FROM s), \
             subs AS (INSERT INTO subscriptions (id, user_id, tariff_id, status, price, currency, \
               traffic_used_bytes, auto_renew, anchor_at, periods, period_start, renewals, \
               created_at, updated_at) SELECT sub, u, '{everyone}', 'active', 0, 'RUB', 0, FALSE, \
               1, 1, 1, 0, 1, 1 FROM s) \
             INSERT INTO subscription_links (id, user_id, uuid, enabled, subscription_id, \
               created_at, updated_at) SELECT l, u, gen_random_uuid()::text, TRUE, sub, 1, 1 FROM s"
        ),
    )
    .await;
    // A change to both nodes: the crowded one is refused, the quiet one still moves.
    for id in [&crowded, &quiet] {
        let r = core
            .patch(
                &format!("/admin/nodes/{id}"),
                Some(&admin),
                json!({ "inbounds": [
                    { "tag": "vless-in", "protocol": "vless", "port": 20001 },
                    { "tag": "vmess-in", "protocol": "vmess", "port": 20002, "network": "ws",
                      "path": "/moved" },
                    { "tag": "trojan-in", "protocol": "trojan", "port": 20003 }
                ] }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let quiet_before = revision(&core, &admin, &quiet).await;
    sync(&core, &admin).await;
    assert_eq!(revision(&core, &admin, &crowded).await, before, "no config");
    assert!(revision(&core, &admin, &quiet).await > quiet_before);
    let shown = node(&core, &admin, &crowded).await;
    assert_eq!(shown["lastError"]["kind"], "config_build", "{shown}");
    let message = shown["lastError"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("more than 150000 clients") && message.contains("more nodes"),
        "{message}"
    );
}
