//! Public subscription exports (`subscriptions` component) over real HTTP, on both backends:
//! every format and what clients read from the headers, format choice by path, query and
//! User-Agent, HEAD and 304, inactive and unknown links, metadata, editable rules and settings,
//! external sources (served by a local HTTP server standing in for another provider) and share
//! link parsing. Real clients through exported links: `tests/end_to_end.rs`.

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use common::{Backend, Core, Options, Reply};
use serde_json::{json, Value};

const PRIVATE_KEY: &str = "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E";
const DAY_MS: i64 = 86_400_000;

async fn start(backend: Backend) -> Core {
    Core::start_with(
        backend,
        Options::default().components(&["auth", "billing", "nodes", "subscriptions"]),
    )
    .await
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .expect("standard base64"),
    )
    .expect("utf-8")
}

fn inbounds() -> Value {
    json!([
        { "tag": "reality", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
          "security": "reality", "reality": { "dest": "www.example.com:443",
          "serverNames": ["www.example.com"], "privateKey": PRIVATE_KEY, "shortIds": ["abcd"] } },
        { "tag": "vmess-ws", "protocol": "vmess", "port": 8080, "network": "ws", "path": "/vm",
          "host": "cdn.example.com", "security": "tls",
          "tls": { "certificateFile": "/c.pem", "keyFile": "/k.pem" } },
        { "tag": "trojan-grpc", "protocol": "trojan", "port": 8443, "network": "grpc",
          "serviceName": "tg", "security": "tls",
          "tls": { "certificateFile": "/c.pem", "keyFile": "/k.pem", "serverName": "t.example.com" } },
        { "tag": "ss", "protocol": "shadowsocks", "port": 8388,
          "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" },
        { "tag": "vless-2", "protocol": "vless", "port": 444 }
    ])
}

struct World {
    core: Core,
    admin: String,
    user: String,
    uuid: String,
    sub: Value,
    tariff: String,
}

async fn world(backend: Backend) -> World {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    for (name, status, inbounds) in [
        ("Frankfurt", "active", inbounds()),
        (
            "Hidden",
            "disabled",
            json!([{ "tag": "x", "protocol": "vless", "port": 1 }]),
        ),
    ] {
        let r = core
            .post(
                "/admin/nodes",
                Some(&admin),
                json!({ "name": name, "address": "fra.example.com", "status": status,
                        "inbounds": inbounds }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        if status == "active" {
            // Its agent says it runs Xray: REALITY, gRPC and SS2022 go out.
            common::agent::serving_xray(&core, &admin, &r.str("id")).await;
        }
    }
    let t = core
        .post(
            "/admin/tariffs",
            Some(&admin),
            json!({ "name": "Month", "price": 0, "currency": "RUB", "durationMonths": 1,
                    "trafficLimitBytes": 50_000_000_000_i64 }),
        )
        .await;
    let tariff = t.str("id");
    let (user, _, user_id) = core.register("ann@example.com", "password-ann").await;
    let r = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": user_id, "tariffId": tariff }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let uuid = r.body["links"][0]["uuid"].as_str().unwrap().to_string();
    World {
        core,
        admin,
        user,
        uuid,
        sub: r.body,
        tariff,
    }
}

async fn fetch(core: &Core, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = core.client.get(core.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Reply::from(req.send().await.expect("request")).await
}

fn content_type(r: &Reply) -> &str {
    r.header("content-type").unwrap_or("")
}

both_backends!(
    every_format_with_the_headers_clients_read,
    |backend| async move {
        let w = world(backend).await;
        let core = &w.core;
        let path = format!("/sub/{}", w.uuid);

        let plain = fetch(core, &path, &[]).await;
        assert_eq!(plain.status, 200, "{}", plain.text);
        assert!(content_type(&plain).starts_with("text/plain"));
        assert!(!plain.text.trim().contains('\n'), "one line of base64");
        let links: Vec<String> = unb64(&plain.text).lines().map(str::to_string).collect();
        assert_eq!(
            links.len(),
            5,
            "one per inbound of the active node: {links:?}"
        );
        for scheme in ["vless://", "vmess://", "trojan://", "ss://"] {
            assert!(links.iter().any(|l| l.starts_with(scheme)), "{scheme}");
        }
        assert!(links
            .iter()
            .all(|l| l.contains(&w.uuid) || l.starts_with("vmess://") || l.starts_with("ss://")));
        assert!(
            links[0].contains("security=reality") && links[0].contains("flow=xtls-rprx-vision")
        );
        assert!(
            links.iter().any(|l| l.ends_with("#Frankfurt%20VLESS")),
            "{links:?}"
        );
        assert!(
            links
                .iter()
                .any(|l| l.ends_with("#Frankfurt%20VLESS%20REALITY")),
            "{links:?}"
        );

        let expires = w.sub["expiresAt"].as_i64().unwrap() / 1000;
        assert_eq!(
            plain.header("subscription-userinfo"),
            Some(format!("upload=0; download=0; total=50000000000; expire={expires}").as_str())
        );
        assert_eq!(
            plain.header("profile-title"),
            Some(format!("base64:{}", b64("Nexuma")).as_str())
        );
        assert_eq!(plain.header("profile-update-interval"), Some("12"));
        assert!(plain
            .header("profile-web-page-url")
            .unwrap()
            .ends_with(&format!("/sub/{}/info", w.uuid)));
        assert!(plain
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"Nexuma."));
        let etag = plain.header("etag").expect("etag").to_string();

        // Clash/mihomo YAML and sing-box JSON parse, with unique names.
        let clash = fetch(core, &format!("{path}?format=clash"), &[]).await;
        assert!(
            content_type(&clash).starts_with("text/yaml"),
            "{:?}",
            clash.headers
        );
        let yaml: yaml_serde::Value = yaml_serde::from_str(&clash.text).expect("YAML");
        let names: Vec<String> = yaml["proxies"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), 5);
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(yaml["proxy-groups"][0]["type"].as_str(), Some("select"));
        assert_eq!(yaml["proxy-groups"][1]["type"].as_str(), Some("url-test"));
        let singbox = fetch(core, &format!("{path}?format=singbox"), &[]).await;
        assert!(content_type(&singbox).starts_with("application/json"));
        let tags: Vec<&str> = singbox.body["outbounds"]
            .as_array()
            .expect("sing-box JSON")
            .iter()
            .map(|o| o["tag"].as_str().unwrap())
            .collect();
        assert_eq!(
            tags.len(),
            2 + 5 + 1,
            "selector, urltest, proxies, direct: {tags:?}"
        );
        assert_eq!(singbox.body["route"]["final"], "proxy");

        // Format by path, by query, by User-Agent; an unknown ?format is ignored.
        for (p, headers, expected) in [
            (format!("{path}/clash"), vec![], "text/yaml"),
            (format!("{path}/mihomo"), vec![], "text/yaml"),
            (format!("{path}/singbox"), vec![], "application/json"),
            (
                format!("{path}/v2ray"),
                vec![("user-agent", "clash-verge/2.0")],
                "text/plain",
            ),
            (format!("{path}?format=bogus"), vec![], "text/plain"),
            (
                path.clone(),
                vec![("user-agent", "clash-verge/2.0")],
                "text/yaml",
            ),
            (path.clone(), vec![("user-agent", "Stash/2.4")], "text/yaml"),
            (
                path.clone(),
                vec![("user-agent", "SFA/1.12.0")],
                "application/json",
            ),
            (
                path.clone(),
                vec![("user-agent", "HiddifyNext/2.5")],
                "application/json",
            ),
            (
                path.clone(),
                vec![("user-agent", "v2rayNG/1.9.0")],
                "text/plain",
            ),
            (path.clone(), vec![("user-agent", "")], "text/plain"),
            (
                format!("{path}?format=v2ray"),
                vec![("user-agent", "clash-verge/2.0")],
                "text/plain",
            ),
            (
                format!("{path}?format=bogus"),
                vec![("user-agent", "SFI/1.12")],
                "application/json",
            ),
        ] {
            let r = fetch(core, &p, &headers).await;
            assert_eq!(r.status, 200, "{p}: {}", r.text);
            assert!(
                content_type(&r).starts_with(expected),
                "{p} {headers:?}: {}",
                content_type(&r)
            );
        }
        let r = fetch(core, &format!("{path}/nope"), &[]).await;
        assert_eq!((r.status, r.code()), (404, "unknown_format"));

        // HEAD: the headers and length, no body. If-None-Match: 304.
        let head = core
            .client
            .head(core.url(&path))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), 200);
        assert_eq!(
            head.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok()),
            Some(plain.text.len().to_string().as_str())
        );
        assert!(head.headers().contains_key("subscription-userinfo"));
        assert!(head.text().await.unwrap().is_empty());
        let not_modified = fetch(core, &path, &[("if-none-match", &etag)]).await;
        assert_eq!(not_modified.status, 304);
        assert!(not_modified.text.is_empty());
        assert_eq!(
            fetch(core, &path, &[("if-none-match", "\"other\"")])
                .await
                .status,
            200
        );

        // Unknown addresses reveal nothing.
        for p in [
            "/sub/00000000-0000-4000-8000-000000000000",
            "/sub/not-a-uuid",
            "/sub/not-a-uuid/clash",
        ] {
            let r = fetch(core, p, &[]).await;
            assert_eq!(r.status, 404, "{p}");
            assert_eq!(r.code(), "not_found", "{p}");
        }

        // The cached answer follows what changed: a node's new address.
        let node = core
            .get("/admin/nodes?status=active", Some(&w.admin))
            .await
            .body["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = core
            .patch(
                &format!("/admin/nodes/{node}"),
                Some(&w.admin),
                json!({ "address": "new.example.com" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let after = fetch(core, &path, &[]).await;
        assert!(
            unb64(&after.text).contains("@new.example.com:"),
            "the change shows at once"
        );
        assert_ne!(after.header("etag"), Some(etag.as_str()));
    }
);

both_backends!(inactive_links_say_why, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    let path = format!("/sub/{}", w.uuid);
    let sub = w.sub["id"].as_str().unwrap();
    let link = w.sub["links"][0]["id"].as_str().unwrap();
    let only_entry = |r: &Reply| -> String {
        let links: Vec<String> = unb64(&r.text).lines().map(str::to_string).collect();
        assert_eq!(links.len(), 1, "{links:?}");
        assert!(links[0].contains("@0.0.0.0:1"), "{links:?}");
        links[0].clone()
    };

    let r = core
        .patch(
            &format!("/me/subscriptions/links/{link}"),
            Some(&w.user),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(r.status, 200);
    let off = fetch(core, &path, &[]).await;
    assert_eq!(off.status, 200);
    assert!(only_entry(&off).contains("disabled"));
    core.patch(
        &format!("/me/subscriptions/links/{link}"),
        Some(&w.user),
        json!({ "enabled": true }),
    )
    .await;

    let r = core
        .patch(
            &format!("/admin/subscriptions/{sub}"),
            Some(&w.admin),
            json!({ "status": "expired" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let expired = fetch(core, &path, &[]).await;
    assert!(only_entry(&expired).contains("expired"));
    let clash = fetch(core, &format!("{path}/clash"), &[]).await;
    let yaml: yaml_serde::Value = yaml_serde::from_str(&clash.text).expect("YAML");
    assert_eq!(yaml["proxies"].as_sequence().map(Vec::len), Some(1));
    let info = core.get(&format!("{path}/info"), None).await;
    assert_eq!(
        (
            info.body["status"].as_str(),
            info.body["statusReason"].as_str()
        ),
        (Some("expired"), Some("time"))
    );

    let r = core
        .post(
            &format!("/admin/subscriptions/{sub}/cancel"),
            Some(&w.admin),
            json!({}),
        )
        .await;
    assert_eq!(
        r.status, 409,
        "an expired one cannot be cancelled: {}",
        r.text
    );
    core.patch(
        &format!("/admin/subscriptions/{sub}"),
        Some(&w.admin),
        json!({ "status": "active", "expiresAt": w.sub["expiresAt"].as_i64().unwrap() + DAY_MS }),
    )
    .await;
    let r = core
        .post(
            &format!("/admin/subscriptions/{sub}/cancel"),
            Some(&w.admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(only_entry(&fetch(core, &path, &[]).await).contains("cancelled"));
});

both_backends!(browsers_get_a_page, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    let path = format!("/sub/{}", w.uuid);
    let link = w.sub["links"][0]["id"].as_str().unwrap();
    let r = core
        .patch(
            &format!("/me/subscriptions/links/{link}"),
            Some(&w.user),
            json!({ "name": "<b>laptop</b> & co" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let browser = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
        ),
        ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    ];

    let page = fetch(core, &path, &browser).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        content_type(&page).starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert!(page
        .header("content-security-policy")
        .is_some_and(|v| v.contains("default-src 'none'")));
    assert_eq!(page.header("content-disposition"), Some("inline"));
    assert!(page.header("subscription-userinfo").is_some());
    let html = &page.text;
    assert!(html.starts_with("<!doctype html>"), "{html}");
    let address = format!("{path}\" aria-label=\"Subscription address\"");
    for shown in ["Nexuma", "Month", "✅ Active", &address, "Frankfurt VLESS"] {
        assert!(html.contains(shown), "the page shows {shown:?}: {html}");
    }
    assert!(
        html.contains("&lt;b&gt;laptop&lt;/b&gt; &amp; co") && !html.contains("<b>laptop"),
        "the link's name is escaped: {html}"
    );
    // Every connection's share link, escaped for HTML (`&` in the query).
    let plain = fetch(core, &path, &[]).await;
    let links: Vec<String> = unb64(&plain.text).lines().map(str::to_string).collect();
    assert_eq!(links.len(), 5);
    for l in &links {
        assert!(html.contains(&l.replace('&', "&amp;")), "{l} on the page");
    }
    // A client asking for anything gets its format, not the page.
    let client = fetch(
        core,
        &path,
        &[("user-agent", "v2rayNG/1.9.0"), ("accept", "*/*")],
    )
    .await;
    assert!(content_type(&client).starts_with("text/plain"));
    assert_eq!(client.text, plain.text);

    // An inactive link's page says why and shows no share links.
    core.patch(
        &format!("/me/subscriptions/links/{link}"),
        Some(&w.user),
        json!({ "enabled": false }),
    )
    .await;
    let off = fetch(core, &path, &browser).await;
    assert_eq!(off.status, 200);
    assert!(off.text.contains("This link is disabled"), "{}", off.text);
    assert!(!off.text.contains("vless://"), "{}", off.text);
});

both_backends!(metadata_and_the_callers_configs, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    let second = core
        .post("/me/links", Some(&w.user), json!({ "name": "Laptop" }))
        .await;
    assert_eq!(second.status, 201);
    let info = core.get(&format!("/sub/{}/info", w.uuid), None).await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!(info.body["status"], "active");
    assert_eq!(info.body["tariff"], "Month");
    assert_eq!(info.body["trafficLimitBytes"], 50_000_000_000_i64);
    assert_eq!(
        info.body["links"],
        json!(["Laptop"]),
        "the names of named links; the first one has none"
    );
    assert_eq!(info.body["link"], json!({ "enabled": true }));
    assert!(!info.text.contains("null"), "no nulls: {}", info.text);
    assert!(
        !info.text.contains(&second.str("uuid")),
        "no other link's credential"
    );
    assert!(info.body["urls"]["clash"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/sub/{}/clash", w.uuid)));
    assert_eq!(core.get("/sub/not-a-uuid/info", None).await.status, 404);

    let configs = core.get("/me/configs", Some(&w.user)).await;
    assert_eq!(configs.status, 200, "{}", configs.text);
    let items = configs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let connections = items[0]["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 5);
    assert!(connections
        .iter()
        .all(|c| c["shareLink"].is_string() && c["outbound"]["protocol"].is_string()));
    let (other, _, _) = core.register("bob@example.com", "password-bob").await;
    let none = core.get("/me/configs", Some(&other)).await;
    assert_eq!(none.body["items"], json!([]));
    assert_eq!(core.get("/me/configs", None).await.status, 401);
});

both_backends!(rules_and_settings_are_the_operators, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    let path = format!("/sub/{}", w.uuid);
    let rules = core.get("/admin/subscription-rules", Some(&w.admin)).await;
    assert_eq!(rules.status, 200);
    assert_eq!(rules.body["rules"], rules.body["defaults"]);

    let mine = json!({ "rules": [ { "name": "Our app", "header": "User-Agent", "match": "regex",
                                   "values": ["^OurApp/\\d+"], "format": "singbox" } ] });
    let r = core
        .send(
            reqwest::Method::PUT,
            "/admin/subscription-rules",
            Some(&w.admin),
            Some(mine),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rules"][0]["header"], "user-agent");
    let ours = fetch(core, &path, &[("user-agent", "OurApp/3")]).await;
    assert!(content_type(&ours).starts_with("application/json"));
    let verge = fetch(core, &path, &[("user-agent", "clash-verge/2.0")]).await;
    assert!(
        content_type(&verge).starts_with("text/plain"),
        "the defaults are gone"
    );
    for bad in [
        json!({ "rules": [ { "name": "x", "header": "user-agent", "match": "regex", "values": ["("], "format": "clash" } ] }),
        json!({ "rules": [ { "name": "x", "header": "user-agent", "match": "prefix", "values": [], "format": "clash" } ] }),
        json!({ "rules": [ { "name": "x", "header": "user-agent", "match": "prefix", "values": ["a"], "format": "pdf" } ] }),
    ] {
        let r = core
            .send(
                reqwest::Method::PUT,
                "/admin/subscription-rules",
                Some(&w.admin),
                Some(bad),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }

    let r = core
        .patch(
            "/admin/subscription-settings",
            Some(&w.admin),
            json!({ "profileTitle": "Быстрый VPN", "updateIntervalHours": 6,
                    "supportUrl": "https://t.me/support" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = fetch(core, &path, &[]).await;
    assert_eq!(
        s.header("profile-title"),
        Some(format!("base64:{}", b64("Быстрый VPN")).as_str())
    );
    assert_eq!(s.header("profile-update-interval"), Some("6"));
    assert_eq!(s.header("support-url"), Some("https://t.me/support"));
    assert!(s
        .header("content-disposition")
        .unwrap()
        .contains("filename*=UTF-8''"));
    for bad in [
        json!({ "updateIntervalHours": 0 }),
        json!({ "supportUrl": "ftp://x" }),
        json!({ "profileTitle": "" }),
    ] {
        let r = core
            .patch("/admin/subscription-settings", Some(&w.admin), bad)
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    assert_eq!(
        core.get("/admin/subscription-rules", Some(&w.user))
            .await
            .status,
        403
    );
});

/// A stand-in for another provider's subscription: answers every request with the status and
/// body it is set to.
async fn provider(answer: Arc<Mutex<(u16, String)>>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                continue;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = answer.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tcp.write_all(head.as_bytes()).await;
                let _ = tcp.write_all(body.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    port
}

both_backends!(external_sources_join_the_exports, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    let theirs = [
        "vless://5d2c8a1e-6b7f-4c3d-9e0a-1b2c3d4e5f60@203.0.113.50:443?type=tcp&security=tls&sni=x.example#Partner%20A",
        "trojan://secret@203.0.113.51:443?security=tls#Partner%20B",
    ];
    let body = b64(&format!("{}\nthis is not a link\n", theirs.join("\n")));
    let answer = Arc::new(Mutex::new((200u16, body)));
    let port = provider(answer.clone()).await;
    let url = format!("http://127.0.0.1:{port}/sub");

    let test = core
        .post(
            "/admin/external-subscriptions/test",
            Some(&w.admin),
            json!({ "url": url }),
        )
        .await;
    assert_eq!(test.status, 200, "{}", test.text);
    assert_eq!(test.body["ok"], true);
    assert_eq!(test.body["entries"], 2);
    assert_eq!(test.body["protocols"], json!({ "trojan": 1, "vless": 1 }));
    assert_eq!(test.body["skipped"].as_array().map(Vec::len), Some(1));

    let source = core
        .post(
            "/admin/external-subscriptions",
            Some(&w.admin),
            json!({ "name": "Partner", "url": url }),
        )
        .await;
    assert_eq!(source.status, 201, "{}", source.text);
    let id = source.str("id");
    let r = core
        .post(
            &format!("/admin/external-subscriptions/{id}/refresh"),
            Some(&w.admin),
            json!({}),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["ok"].as_bool(),
            r.body["entriesCount"].as_i64()
        ),
        (200, Some(true), Some(2)),
        "{}",
        r.text
    );

    // Users whose tariff names the source get its entries after their own.
    let path = format!("/sub/{}", w.uuid);
    assert_eq!(
        unb64(&fetch(core, &path, &[]).await.text).lines().count(),
        5
    );
    let r = core
        .patch(
            &format!("/admin/tariffs/{}", w.tariff),
            Some(&w.admin),
            json!({ "externalSourceIds": [id] }),
        )
        .await;
    assert_eq!(r.status, 200);
    let links: Vec<String> = unb64(&fetch(core, &path, &[]).await.text)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(links.len(), 7, "{links:?}");
    assert!(links[5].contains("@203.0.113.50:443") && links[5].ends_with("#Partner%20A"));
    assert!(links[6].starts_with("trojan://secret@203.0.113.51:443"));

    // A failing source keeps its last good entries.
    *answer.lock().unwrap() = (500, "down".into());
    let r = core
        .post(
            &format!("/admin/external-subscriptions/{id}/refresh"),
            Some(&w.admin),
            json!({}),
        )
        .await;
    assert_eq!(r.body["ok"], false);
    assert!(
        r.body["lastError"].as_str().unwrap().contains("500"),
        "{}",
        r.text
    );
    assert_eq!(r.body["entriesCount"], 2);
    assert_eq!(
        unb64(&fetch(core, &path, &[]).await.text).lines().count(),
        7
    );
    let r = core
        .post(
            &format!("/admin/external-subscriptions/{id}/test"),
            Some(&w.admin),
            json!({}),
        )
        .await;
    assert_eq!(r.body["ok"], false);

    // Bad input, and a source a tariff lists cannot go.
    for body in [
        json!({ "name": "x", "url": "ftp://x" }),
        json!({ "url": "https://x" }),
        json!({ "name": "x", "url": "https://x", "intervalMinutes": 1 }),
    ] {
        let r = core
            .post("/admin/external-subscriptions", Some(&w.admin), body)
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let r = core
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/external-subscriptions/{id}"),
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "source_in_use"));
});

#[tokio::test]
async fn share_links_parse_into_outbounds() {
    let core = start(Backend::Embedded).await;
    let admin = core.admin_token().await;
    let r = core
        .post(
            "/admin/xray/parse-link",
            Some(&admin),
            json!({ "link": "vless://5d2c8a1e-6b7f-4c3d-9e0a-1b2c3d4e5f60@a.example.com:443?type=ws&security=tls&path=%2Fws&sni=a.example.com#A" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["protocol"], "vless");
    assert_eq!(
        r.body["outbound"]["settings"]["vnext"][0]["address"],
        "a.example.com"
    );
    assert_eq!(
        r.body["outbound"]["streamSettings"]["wsSettings"]["path"],
        "/ws"
    );
    for (link, says) in [
        ("http://x", "not supported"),
        ("vless://nope@a:1", "not a UUID"),
        (
            "vless://5d2c8a1e-6b7f-4c3d-9e0a-1b2c3d4e5f60@a:99999",
            "not a port",
        ),
        ("vmess://!!!", "base64"),
    ] {
        let r = core
            .post(
                "/admin/xray/parse-link",
                Some(&admin),
                json!({ "link": link }),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_link"), "{link}");
        assert!(r.message().contains(says), "{link}: {}", r.message());
    }
    let r = core
        .post("/admin/xray/parse-link", Some(&admin), json!({}))
        .await;
    assert_eq!(r.status, 400);
}

/// Every `Vary` value of a reply, lower-cased (the host's CORS layer adds a line of its own).
fn vary(r: &Reply) -> Vec<String> {
    r.headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn names(r: &Reply, wanted: &[&str]) -> bool {
    let got = vary(r);
    wanted.iter().all(|w| got.iter().any(|g| g == w))
}

both_backends!(
    vary_names_the_headers_the_answer_depends_on,
    |backend| async move {
        let w = world(backend).await;
        let core = &w.core;
        let path = format!("/sub/{}", w.uuid);

        // The default rules read Accept (browsers) and User-Agent (apps): both change the answer.
        let plain = fetch(core, &path, &[("user-agent", "v2rayNG/1.9.0")]).await;
        assert!(content_type(&plain).starts_with("text/plain"));
        assert!(
            names(&plain, &["accept", "user-agent"]),
            "{:?}",
            vary(&plain)
        );
        let clash = fetch(core, &path, &[("user-agent", "clash-verge/2.0")]).await;
        assert!(content_type(&clash).starts_with("text/yaml"));
        assert!(
            names(&clash, &["accept", "user-agent"]),
            "{:?}",
            vary(&clash)
        );
        let page = fetch(core, &path, &[("accept", "text/html")]).await;
        assert!(content_type(&page).starts_with("text/html"));
        assert!(names(&page, &["accept", "user-agent"]), "{:?}", vary(&page));
        // The host's kept answer (a repeat) and its 304 and HEAD say the same.
        let again = fetch(core, &path, &[("user-agent", "v2rayNG/1.9.0")]).await;
        assert_eq!(again.text, plain.text);
        assert!(
            names(&again, &["accept", "user-agent"]),
            "{:?}",
            vary(&again)
        );
        let etag = plain.header("etag").expect("etag").to_string();
        let not_modified = fetch(
            core,
            &path,
            &[("user-agent", "v2rayNG/1.9.0"), ("if-none-match", &etag)],
        )
        .await;
        assert_eq!(not_modified.status, 304);
        assert!(names(&not_modified, &["accept", "user-agent"]));
        let head = Reply::from(
            core.client
                .head(core.url(&path))
                .send()
                .await
                .expect("HEAD"),
        )
        .await;
        assert!(names(&head, &["accept", "user-agent"]), "{:?}", vary(&head));

        // A format named in the address depends on no header, except sing-box's User-Agent (which
        // names the client's sing-box version).
        let forced = fetch(core, &format!("{path}/clash"), &[]).await;
        assert!(content_type(&forced).starts_with("text/yaml"));
        assert!(
            !vary(&forced)
                .iter()
                .any(|h| h == "user-agent" || h == "accept"),
            "{:?}",
            vary(&forced)
        );
        let query = fetch(
            core,
            &format!("{path}?format=v2ray"),
            &[("accept", "text/html")],
        )
        .await;
        assert!(content_type(&query).starts_with("text/plain"));
        assert!(
            !vary(&query).iter().any(|h| h == "accept"),
            "{:?}",
            vary(&query)
        );
        let singbox = fetch(core, &format!("{path}/singbox"), &[]).await;
        assert!(names(&singbox, &["user-agent"]), "{:?}", vary(&singbox));

        // An operator's rule on a header of its own: that header is named, and the host keys its
        // kept answers on it too (the same address without it gets its own answer).
        let ours = json!({ "rules": [ { "name": "Our app", "header": "X-Client", "match": "equals",
                                   "values": ["clash"], "format": "clash" } ] });
        let r = core
            .send(
                reqwest::Method::PUT,
                "/admin/subscription-rules",
                Some(&w.admin),
                Some(ours),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for _ in 0..2 {
            let with = fetch(core, &path, &[("x-client", "clash")]).await;
            assert!(content_type(&with).starts_with("text/yaml"));
            assert!(names(&with, &["x-client"]), "{:?}", vary(&with));
            assert!(
                !vary(&with)
                    .iter()
                    .any(|h| h == "user-agent" || h == "accept"),
                "no rule reads them now: {:?}",
                vary(&with)
            );
            let without = fetch(core, &path, &[]).await;
            assert!(content_type(&without).starts_with("text/plain"));
            assert!(names(&without, &["x-client"]), "{:?}", vary(&without));
        }
    }
);

both_backends!(
    web_apps_can_read_the_subscription_headers,
    |backend| async move {
        let w = world(backend).await;
        let core = &w.core;
        let r = fetch(
            core,
            &format!("/sub/{}", w.uuid),
            &[("origin", "https://panel.example.com")],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.header("access-control-allow-origin").is_some());
        let exposed: Vec<String> = r
            .header("access-control-expose-headers")
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        for header in [
            "subscription-userinfo",
            "profile-title",
            "profile-update-interval",
            "content-disposition",
        ] {
            assert!(
                exposed.iter().any(|h| h == header),
                "{header} in {exposed:?}"
            );
            assert!(r.header(header).is_some(), "{header} is sent");
        }
    }
);

both_backends!(info_never_shows_null, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    // Unlimited and never expiring, with an unnamed link: nothing to show for those.
    let sub = w.sub["id"].as_str().unwrap();
    let r = core
        .patch(
            &format!("/admin/subscriptions/{sub}"),
            Some(&w.admin),
            json!({ "trafficLimitBytes": null, "expiresAt": null }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let info = core.get(&format!("/sub/{}/info", w.uuid), None).await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert!(!info.text.contains("null"), "no nulls: {}", info.text);
    assert_eq!(info.body["status"], "active");
    assert_eq!(info.body["links"], json!([]), "the one link has no name");
    for absent in ["trafficLimitBytes", "expiresAt", "statusReason", "message"] {
        assert!(info.body.get(absent).is_none(), "{absent}: {}", info.text);
    }
    assert_eq!(info.body["trafficUsedBytes"], 0);

    // Disabled: the reason and message are shown.
    let link = w.sub["links"][0]["id"].as_str().unwrap();
    core.patch(
        &format!("/me/subscriptions/links/{link}"),
        Some(&w.user),
        json!({ "enabled": false }),
    )
    .await;
    let off = core.get(&format!("/sub/{}/info", w.uuid), None).await;
    assert_eq!(off.body["statusReason"], "link");
    assert!(off.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("disabled")));
    assert!(!off.text.contains("null"), "no nulls: {}", off.text);
});

/// Milliseconds since the epoch, as the Core's clock reads them (same machine).
fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    i64::try_from(since.as_millis()).expect("ms fit")
}

both_backends!(
    exports_list_only_what_the_agent_runs,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let r = core
            .post(
                "/admin/nodes",
                Some(&admin),
                json!({ "name": "Paris", "address": "par.example.com", "status": "active",
                        "inbounds": [{ "tag": "v", "protocol": "vless", "port": 443 }] }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let node = r.str("id");
        let uuid = common::subscribed_user(&core, &admin, "pat@example.com").await;
        let path = format!("/sub/{uuid}");
        let ports = |r: Reply| -> Vec<String> {
            assert_eq!(r.status, 200, "{}", r.text);
            let text = unb64(&r.text);
            ["443", "8443"]
                .into_iter()
                .filter(|p| text.contains(&format!("@par.example.com:{p}?")))
                .map(str::to_string)
                .collect()
        };

        // A node whose agent never connected, or has not confirmed its config, is not offered.
        assert!(ports(fetch(&core, &path, &[]).await).is_empty());
        let key = common::agent::register_xray(&core, &admin, &node).await;
        assert!(ports(fetch(&core, &path, &[]).await).is_empty());
        common::agent::apply_latest(&core, &key).await;
        assert_eq!(ports(fetch(&core, &path, &[]).await), ["443"]);

        // A new inbound reaches clients only once the agent runs it; a rejected config takes
        // the node out.
        let r = core
            .patch(
                &format!("/admin/nodes/{node}"),
                Some(&admin),
                json!({ "inbounds": [{ "tag": "v", "protocol": "vless", "port": 443 },
                                     { "tag": "w", "protocol": "vless", "port": 8443 }] }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let s = core
            .post("/admin/nodes/sync", Some(&admin), json!({}))
            .await;
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(ports(fetch(&core, &path, &[]).await), ["443"]);
        let revision = core
            .get(&format!("/admin/nodes/{node}"), Some(&admin))
            .await
            .body["revision"]
            .as_i64()
            .unwrap();
        let rejected = json!({ "revision": revision, "ok": false, "error": "bad port" });
        let r = common::agent::node_call(
            &core,
            reqwest::Method::POST,
            "/node/config/applied",
            &key,
            Some(rejected),
        )
        .await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert!(ports(fetch(&core, &path, &[]).await).is_empty());
        common::agent::apply_latest(&core, &key).await;
        assert_eq!(ports(fetch(&core, &path, &[]).await), ["443", "8443"]);

        // The grace for silent nodes is an operator setting within bounds.
        let settings = "/admin/subscription-settings";
        let got = core.get(settings, Some(&admin)).await;
        assert_eq!(got.body["silentNodeGraceSeconds"], 300, "{}", got.text);
        let r = core
            .patch(
                settings,
                Some(&admin),
                json!({ "silentNodeGraceSeconds": 86_401 }),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.text.contains("silentNodeGraceSeconds"), "{}", r.text);

        // Silent for 61 s (down) with a 6 s grace: still offered, then gone once the grace ends
        // — with no change anywhere, the kept answer expires by itself.
        let heard = now_ms() - 61_000;
        common::exec_sql(
            &core,
            &format!("UPDATE nodes SET last_heartbeat_at = {heard} WHERE id = '{node}'"),
        )
        .await;
        let r = core
            .patch(
                settings,
                Some(&admin),
                json!({ "silentNodeGraceSeconds": 6 }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(ports(fetch(&core, &path, &[]).await), ["443", "8443"]);
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::try_from(heard + 67_000 - now_ms()).unwrap_or(0) + 300,
        ))
        .await;
        assert!(ports(fetch(&core, &path, &[]).await).is_empty());
        // Its agent speaks again: offered again at once.
        common::agent::apply_latest(&core, &key).await;
        assert_eq!(ports(fetch(&core, &path, &[]).await), ["443", "8443"]);
    }
);
