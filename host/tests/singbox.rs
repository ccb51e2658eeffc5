//! sing-box by version over real HTTP, on both backends: `/sub/:uuid` and the forced
//! `/sub/:uuid/singbox` answer each client with the config form its sing-box core loads, read
//! from the User-Agent (unknown version → the widest form, 1.11's), and a repeat poll by
//! another client is never given the first one's form from the response cache.

mod common;

use common::{Backend, Core, Options, Reply};
use serde_json::{json, Value};

struct Sub {
    core: Core,
    uuid: String,
}

/// A node with one inbound, a free tariff and a user subscribed to it.
async fn subscribed(backend: Backend) -> Sub {
    let core = Core::start_with(
        backend,
        Options::default().components(&["auth", "billing", "nodes", "subscriptions"]),
    )
    .await;
    let admin = core.admin_token().await;
    let r = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "Frankfurt", "address": "fra.example.com", "status": "active",
                    "inbounds": [{ "tag": "v", "protocol": "vless", "port": 444 }] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Exports list only what the node's agent confirmed running.
    common::agent::serving_xray(&core, &admin, &r.str("id")).await;
    let uuid = common::subscribed_user(&core, &admin, "sam@example.com").await;
    Sub { core, uuid }
}

async fn fetch(core: &Core, path: &str, user_agent: &str) -> Reply {
    let req = core
        .client
        .get(core.url(path))
        .header("user-agent", user_agent);
    Reply::from(req.send().await.expect("request")).await
}

/// The config form a sing-box answer is in, told by what each form alone writes.
fn form(r: &Reply) -> &'static str {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let doc: Value = serde_json::from_str(&r.text).expect("sing-box JSON");
    let typed_dns = doc["dns"]["servers"][0].get("type").is_some();
    let actions = doc["route"]["rules"][0]["action"] == "sniff";
    let dns_outbound = doc["outbounds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["type"] == "dns");
    let tun = &doc["inbounds"][0];
    match (typed_dns, actions, dns_outbound) {
        (true, true, false) if doc["route"]["default_domain_resolver"] == "dns-local" => "1.12",
        (false, true, false) => "1.11",
        (false, false, true) if tun.get("address").is_some() && tun["sniff"] == true => "1.10",
        (false, false, true) if tun.get("inet4_address").is_some() => "1.8",
        _ => panic!("a config of no known form: {}", r.text),
    }
}

both_backends!(
    each_client_gets_the_form_its_core_loads,
    |backend| async move {
        let s = subscribed(backend).await;
        let auto = format!("/sub/{}", s.uuid);
        let forced = format!("/sub/{}/singbox", s.uuid);
        for (agent, expected) in [
            ("SFA/1.12.8 (597; sing-box 1.12.8)", "1.12"),
            ("SFI/1.11.4 (320; sing-box 1.11.4)", "1.11"),
            ("SFM/1.10.7 (250; sing-box 1.10.7)", "1.10"),
            ("sing-box 1.10.1", "1.10"),
            ("SFA/1.9.3 (380; sing-box 1.9.3)", "1.8"),
            // Hiddify release lines whose pinned core its sources show (agent.rs).
            (
                "HiddifyNext/2.5.7 (android) like ClashMeta v2ray sing-box",
                "1.8",
            ),
            (
                "HiddifyNext/4.1.2 (android) like ClashMeta v2ray sing-box",
                "1.12",
            ),
            // Versions the User-Agent does not name: the widest form.
            ("Hiddify/2.5.7", "1.11"),
            ("karing/1.1.2.606", "1.11"),
        ] {
            // Each path twice: the second answer may come from the host's cache.
            for path in [&auto, &forced, &auto, &forced] {
                let r = fetch(&s.core, path, agent).await;
                assert_eq!(form(&r), expected, "{agent} at {path}");
                let vary = r.header("vary").unwrap_or("").to_ascii_lowercase();
                assert!(vary.contains("user-agent"), "{agent}: vary {vary:?}");
            }
        }
        // A forced export with no User-Agent at all: the widest form.
        let r = Reply::from(
            s.core
                .client
                .get(s.core.url(&forced))
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(form(&r), "1.11");
        // A client that is not a sing-box one still gets its own format.
        let r = fetch(&s.core, &auto, "v2rayNG/1.9.0").await;
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
);
