//! The whole way, with real parts: the Core (auth, billing, nodes, subscriptions), a node agent
//! in pull mode running Debian's v2ray, and v2ray clients built from a user's exported
//! subscription. Registration, config sync, traffic into the user's subscription, a disabled
//! link refused at the next sync, expired subscriptions never on a node, and a Core outage that
//! loses no traffic and counts none twice.

mod common;

use std::time::Duration;

use base64::Engine;
use common::proxy::{eventually, file_server, free_port, pull_agent, Client, PullAgent, BLOB};
use common::{query_texts, Backend, Core, Options};
use serde_json::{json, Value};

const SYNC: Duration = Duration::from_secs(30);

async fn start(backend: Backend) -> Core {
    Core::start_with(
        backend,
        Options::default().components(&["auth", "billing", "nodes", "subscriptions"]),
    )
    .await
}

async fn admin_get(core: &Core, admin: &str, path: &str) -> Value {
    let r = core.get(path, Some(admin)).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.body
}

/// The links of an export in v2ray format.
async fn export_links(core: &Core, uuid: &str) -> Vec<String> {
    let r = core.get(&format!("/sub/{uuid}/v2ray"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let text = base64::engine::general_purpose::STANDARD
        .decode(r.text.trim())
        .expect("base64 body");
    String::from_utf8(text)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// A v2ray client for a share link, through the Core's own parser.
async fn client_for(core: &Core, admin: &str, dir: &std::path::Path, link: &str) -> Client {
    let r = core
        .post(
            "/admin/xray/parse-link",
            Some(admin),
            json!({ "link": link }),
        )
        .await;
    assert_eq!(r.status, 200, "{link}: {}", r.text);
    Client::start(dir, &r.body["outbound"])
}

/// Waits until the node runs its latest revision.
async fn synced(core: &Core, admin: &str, node: &str, agent: &PullAgent) {
    let path = format!("/admin/nodes/{node}");
    eventually(
        &format!("node synced; agent log:\n{}", agent.log()),
        SYNC,
        || async {
            // Rebuild now rather than wait for the job's next second.
            core.post("/admin/nodes/sync", Some(admin), json!({})).await;
            let n = core.get(&path, Some(admin)).await.body;
            if n["syncState"] == "synced" && n["effectiveStatus"] == "active" {
                Ok(())
            } else {
                Err(format!("{}", n))
            }
        },
    )
    .await;
}

async fn used(core: &Core, admin: &str, sub: &str) -> i64 {
    admin_get(core, admin, &format!("/admin/subscriptions/{sub}")).await["trafficUsedBytes"]
        .as_i64()
        .expect("used")
}

both_backends!(real_clients_through_a_pull_node, |backend| async move {
    let mut core = start(backend).await;
    let admin = core.admin_token().await;
    let dir = core.dir.path().to_owned();
    let http_port = file_server().await;

    let tariff = core
        .post(
            "/admin/tariffs",
            Some(&admin),
            json!({ "name": "All", "price": 0, "currency": "RUB", "durationMonths": null }),
        )
        .await;
    let tariff = tariff.str("id");
    let mut subs = Vec::new();
    for email in ["ann@example.com", "bob@example.com"] {
        let (token, _, user) = core.register(email, "password-user").await;
        let r = core
            .post(
                "/admin/subscriptions",
                Some(&admin),
                json!({ "userId": user, "tariffId": tariff }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        subs.push((token, r.body));
    }
    let (ann, ann_sub) = subs.remove(0);
    let (_, bob_sub) = subs.remove(0);
    let ann_sub_id = ann_sub["id"].as_str().unwrap().to_string();
    let ann_link = ann_sub["links"][0]["id"].as_str().unwrap().to_string();
    let ann_uuid = ann_sub["links"][0]["uuid"].as_str().unwrap().to_string();
    let bob_uuid = bob_sub["links"][0]["uuid"].as_str().unwrap().to_string();
    // Bob's subscription ends before the node ever runs.
    let r = core
        .patch(
            &format!("/admin/subscriptions/{}", bob_sub["id"].as_str().unwrap()),
            Some(&admin),
            json!({ "status": "expired" }),
        )
        .await;
    assert_eq!(r.status, 200);

    let node = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "Local", "address": "127.0.0.1", "inbounds": [
                { "tag": "vless-in", "protocol": "vless", "port": free_port(), "listen": "127.0.0.1" },
                { "tag": "vmess-in", "protocol": "vmess", "port": free_port(), "listen": "127.0.0.1",
                  "network": "ws", "path": "/vm" },
                { "tag": "trojan-in", "protocol": "trojan", "port": free_port(), "listen": "127.0.0.1" }
            ] }),
        )
        .await;
    assert_eq!(node.status, 201, "{}", node.text);
    let node = node.str("id");
    let code = common::agent::registration_code(&core, &admin, &node).await;
    let agent = pull_agent(&dir.join("agent"), &core.base, &code);
    synced(&core, &admin, &node, &agent).await;
    let again = core
        .post(
            "/node/register",
            None,
            json!({ "protocol": 1, "code": code }),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (401, "invalid_code"),
        "a code works once"
    );

    // Ann's export: one link per inbound, each a working client.
    let links = export_links(&core, &ann_uuid).await;
    assert_eq!(links.len(), 3, "{links:?}");
    for scheme in ["vless://", "vmess://", "trojan://"] {
        assert!(
            links.iter().any(|l| l.starts_with(scheme)),
            "{scheme} in {links:?}"
        );
    }
    let mut clients = Vec::new();
    for link in &links {
        let client = client_for(&core, &admin, &dir, link).await;
        eventually(&format!("fetch through {link}"), SYNC, || {
            client.fetch(http_port, "/blob", 0)
        })
        .await;
        clients.push(client);
    }
    // The traffic reaches her subscription.
    eventually("traffic on the subscription", SYNC, || async {
        let u = used(&core, &admin, &ann_sub_id).await;
        if u >= 3 * BLOB as i64 {
            Ok(())
        } else {
            Err(format!("{u} bytes so far"))
        }
    })
    .await;

    // Bob's subscription expired: his export says so and the node never learned his key.
    let bob_links = export_links(&core, &bob_uuid).await;
    assert_eq!(bob_links.len(), 1);
    assert!(bob_links[0].contains("0.0.0.0"), "{bob_links:?}");
    let cfg = admin_get(&core, &admin, &format!("/admin/nodes/{node}/config")).await;
    assert!(
        !cfg.to_string().contains(&bob_uuid),
        "an expired subscription's client on a node"
    );
    let bob_try = client_for(&core, &admin, &dir, &links[0].replace(&ann_uuid, &bob_uuid)).await;
    assert!(
        bob_try.fetch(http_port, "/blob", 0).await.is_err(),
        "Bob's key must be refused"
    );

    // A second link, then disabled: gone from the node at the next sync.
    let second = core
        .post("/me/links", Some(&ann), json!({ "name": "Laptop" }))
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    synced(&core, &admin, &node, &agent).await;
    let laptop = client_for(
        &core,
        &admin,
        &dir,
        &links[0].replace(&ann_uuid, &second.str("uuid")),
    )
    .await;
    eventually("the new link works", SYNC, || {
        laptop.fetch(http_port, "/blob", 0)
    })
    .await;
    let r = core
        .patch(
            &format!("/me/subscriptions/links/{}", second.str("id")),
            Some(&ann),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(r.status, 200);
    synced(&core, &admin, &node, &agent).await;
    assert!(
        laptop.fetch(http_port, "/blob", 0).await.is_err(),
        "a disabled link is refused"
    );
    clients[0]
        .fetch(http_port, "/blob", 0)
        .await
        .expect("the first link still works");

    // The Core goes away; traffic moves on; the Core comes back: all of it arrives, once.
    let spool_settled = |agent: &PullAgent| {
        let spool = agent.usage_spool();
        spool["pending"].is_null() && spool["acked"].is_object()
    };
    core.stop();
    for client in &clients {
        client
            .fetch(http_port, "/blob", 0)
            .await
            .expect("the node serves without the Core");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!spool_settled(&agent), "a report waits for the Core");
    core.spawn().await;
    eventually("the spool drained", SYNC, || async {
        if spool_settled(&agent) {
            Ok(())
        } else {
            Err(agent.usage_spool().to_string())
        }
    })
    .await;
    // Every byte the agent counted for Ann's link, and nothing more, is in the Core (once the
    // reports it took are counted: now, rather than at the usage job's next second).
    let r = core
        .post("/admin/nodes/sync", Some(&admin), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let acked = &agent.usage_spool()["acked"][&ann_link];
    let (up, down) = (
        acked["up"].as_i64().unwrap(),
        acked["down"].as_i64().unwrap(),
    );
    let sums = query_texts(
        &core,
        &format!(
            "SELECT CAST(SUM(up) AS TEXT) || ' ' || CAST(SUM(down) AS TEXT) FROM traffic_hourly \
             WHERE link_id = '{ann_link}'"
        ),
    )
    .await;
    assert_eq!(sums, vec![format!("{up} {down}")], "agent and Core agree");
    assert!(
        down >= 7 * BLOB as i64,
        "seven downloads of {BLOB} bytes: {down}"
    );
    let laptop_bytes: i64 = {
        let a = &agent.usage_spool()["acked"][second.str("id").as_str()];
        a["up"].as_i64().unwrap_or(0) + a["down"].as_i64().unwrap_or(0)
    };
    assert_eq!(
        used(&core, &admin, &ann_sub_id).await,
        up + down + laptop_bytes
    );
});

both_backends!(
    a_v2ray_node_never_gets_what_v2ray_cannot_run,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let dir = core.dir.path().to_owned();
        let http_port = file_server().await;
        let tariff = core
            .post(
                "/admin/tariffs",
                Some(&admin),
                json!({ "name": "All", "price": 0, "currency": "RUB", "durationMonths": null }),
            )
            .await
            .str("id");
        let (_, _, user) = core.register("ann@example.com", "password-user").await;
        let sub = core
            .post(
                "/admin/subscriptions",
                Some(&admin),
                json!({ "userId": user, "tariffId": tariff }),
            )
            .await;
        assert_eq!(sub.status, 201, "{}", sub.text);
        let uuid = sub.body["links"][0]["uuid"].as_str().unwrap().to_string();

        let vless = json!({ "tag": "vless-in", "protocol": "vless", "port": free_port(),
                            "listen": "127.0.0.1" });
        let reality = json!({ "tag": "vless-reality", "protocol": "vless", "port": free_port(),
            "listen": "127.0.0.1", "flow": "xtls-rprx-vision", "security": "reality",
            "reality": { "dest": "www.example.com:443", "serverNames": ["www.example.com"],
                         "privateKey": "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E",
                         "shortIds": [""] } });
        let node = core
            .post(
                "/admin/nodes",
                Some(&admin),
                json!({ "name": "Local", "address": "127.0.0.1", "inbounds": [vless, reality] }),
            )
            .await;
        assert_eq!(node.status, 201, "{}", node.text);
        let node = node.str("id");
        let path = format!("/admin/nodes/{node}");
        let held = |view: &Value| view["inbounds"][1]["heldBack"]["reason"].clone();

        // Not registered: REALITY is accepted but held back, visibly.
        let view = admin_get(&core, &admin, &path).await;
        assert!(view["inbounds"][0]["heldBack"].is_null(), "{view}");
        let reason = held(&view);
        assert!(
            reason
                .as_str()
                .is_some_and(|r| r.contains("security `reality`")),
            "{view}"
        );
        // Nor is anything else: no agent has confirmed running it.
        let links = export_links(&core, &uuid).await;
        assert!(links.is_empty(), "{links:?}");

        // Its agent runs v2ray 4 and says so: REALITY stays out, now for that reason.
        let code = common::agent::registration_code(&core, &admin, &node).await;
        let agent = pull_agent(&dir.join("agent"), &core.base, &code);
        synced(&core, &admin, &node, &agent).await;
        let view = admin_get(&core, &admin, &path).await;
        assert_eq!(
            view["agent"]["capabilities"]["security"],
            json!(["none", "tls"])
        );
        let reason = held(&view);
        assert!(
            reason
                .as_str()
                .is_some_and(|r| r.contains("V2Ray 4.34") && r.contains("security `reality`")),
            "{view}"
        );
        let cfg = admin_get(&core, &admin, &format!("{path}/config")).await;
        let tags: Vec<&str> = cfg["inbounds"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["tag"].as_str())
            .collect();
        assert_eq!(tags, ["vless-in"], "{cfg}");
        assert!(!cfg.to_string().contains("reality"), "{cfg}");
        let links = export_links(&core, &uuid).await;
        assert_eq!(links.len(), 1, "{links:?}");
        let client = client_for(&core, &admin, &dir, &links[0]).await;
        eventually("fetch over the plain VLESS inbound", SYNC, || {
            client.fetch(http_port, "/blob", 0)
        })
        .await;

        // What v2ray 4 cannot run is refused up front, naming the inbound and the feature.
        let revision = view["revision"].clone();
        for (inbound, field, feature) in [
            (view["inbounds"][1].clone(), "security", "reality"),
            (
                json!({ "tag": "ss2022", "protocol": "shadowsocks", "port": free_port(),
                        "method": "2022-blake3-aes-128-gcm",
                        "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }),
                "method",
                "2022-blake3-aes-128-gcm",
            ),
            (
                json!({ "tag": "trojan-grpc", "protocol": "trojan", "port": free_port(),
                        "network": "grpc", "serviceName": "tg" }),
                "network",
                "grpc",
            ),
        ] {
            let mut inbound = inbound;
            if let Some(obj) = inbound.as_object_mut() {
                obj.remove("heldBack");
            }
            let tag = inbound["tag"].as_str().unwrap().to_string();
            let r = core
                .patch(
                    &path,
                    Some(&admin),
                    json!({ "inbounds": [view["inbounds"][0], inbound] }),
                )
                .await;
            assert_eq!(r.status, 400, "{tag}: {}", r.text);
            let message = r.message();
            assert!(
                message.contains(&format!("inbounds[1].{field}"))
                    && message.contains(&format!("`{tag}`"))
                    && message.contains(feature),
                "{message}"
            );
        }
        core.post("/admin/nodes/sync", Some(&admin), json!({}))
            .await;
        let view = admin_get(&core, &admin, &path).await;
        assert_eq!(view["revision"], revision, "nothing refused moved the node");
        assert_eq!(export_links(&core, &uuid).await.len(), 1);
    }
);
