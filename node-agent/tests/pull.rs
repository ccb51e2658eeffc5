//! End-to-end tests of pull mode (`nexuma-node pull`): the real agent binary and the real v2ray
//! core (Debian's 4.34) against a stand-in Core (`common/core.rs`) that speaks the node
//! protocol, with real v2ray clients connecting through the configs it hands out.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::core::{default_outbounds, StandInCore};
use common::*;
use serde_json::{json, Value};

/// (link id, key): the Core's client names and credentials.
const ALICE: (&str, &str) = ("link-alice", "5d2c8a1e-6b7f-4c3d-9e0a-1b2c3d4e5f60");
const BOB: (&str, &str) = ("link-bob", "bob-secret-key");
const CAROL: (&str, &str) = ("link-carol", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");

const WAIT: Duration = Duration::from_secs(20);

/// The `clients` list of a config from inbound tag → its clients: each client once, with the
/// tags of its inbounds.
fn clients(per_tag: &[(&str, &[(&str, &str)])]) -> Value {
    let mut list: Vec<(String, String, Vec<String>)> = Vec::new();
    for (tag, members) in per_tag {
        for (name, key) in members.iter() {
            match list.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, _, tags)) => tags.push(tag.to_string()),
                None => list.push((name.to_string(), key.to_string(), vec![tag.to_string()])),
            }
        }
    }
    Value::Array(
        list.into_iter()
            .map(|(name, key, tags)| json!({ "name": name, "key": key, "inbounds": tags }))
            .collect(),
    )
}

/// A core pid different from `old` that is alive.
async fn new_core_pid(agent: &PullAgent, old: u32) -> u32 {
    let mut found = None;
    let waited = eventually(WAIT, || {
        found = agent.core_pid().filter(|p| *p != old && pid_alive(*p));
        let result = match found {
            Some(_) => Ok(()),
            None => Err(format!("core pid still {old}")),
        };
        async move { result }
    })
    .await;
    waited.unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    found.expect("pid")
}

/// Configs, per-inbound clients, live changes without a restart, layout changes with one, a
/// rejected config, 304, ops, a core crash and an agent restart while the Core is away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_mode_follows_the_core() {
    v2ray();
    let dir = temp_dir("pull-story");
    let core = StandInCore::start().await;
    core.with(|s| s.codes.insert("code-story".into()));
    let ports = Ports::new();
    let web = file_server().await;
    let web_blocked = file_server().await;
    let mut agent = PullAgent::start(agent_bin(), &dir, &core.url(), Some("code-story"));
    let log = || std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();

    // Registered; before any config the core does not run.
    core.wait("a heartbeat without a config", WAIT, log, |s| {
        s.last_heartbeat()["appliedRevision"].is_null() && s.heartbeats.len() >= 2
    })
    .await;
    let hb = core.with(|s| s.last_heartbeat());
    assert_eq!(hb["status"], "Stopped", "{hb}");
    assert_eq!(hb["protocol"], 1);
    assert_eq!(hb["coreFlavor"], "v2ray");
    assert!(
        hb["coreVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("V2Ray 4.")),
        "{hb}"
    );
    assert!(
        hb["load"]["cpu"].is_u64() && hb["load"]["memory"].is_u64(),
        "{hb}"
    );
    assert_eq!(agent.core_pid(), None);

    // Revision 1: alice in VLESS and Trojan, bob in VMess only.
    core.set_config(
        1,
        ports.inbounds(),
        clients(&[
            ("vless-in", &[ALICE]),
            ("trojan-in", &[ALICE]),
            ("vmess-in", &[BOB]),
        ]),
        default_outbounds(),
        json!({}),
    );
    core.wait("revision 1 applied", WAIT, log, |s| s.applied_ok(1))
        .await;
    core.wait("heartbeat with revision 1", WAIT, log, |s| {
        let hb = s.last_heartbeat();
        hb["appliedRevision"] == 1 && hb["status"] == "Running" && hb["clients"] == 2
    })
    .await;
    let pid = agent.core_pid().expect("core runs");
    let alice_vless = client(&dir, Proto::Vless, ports, ALICE.1);
    let alice_trojan = client(&dir, Proto::Trojan, ports, ALICE.1);
    let alice_vmess = client(&dir, Proto::Vmess, ports, ALICE.1);
    let bob_vmess = client(&dir, Proto::Vmess, ports, BOB.1);
    let bob_trojan = client(&dir, Proto::Trojan, ports, BOB.1);
    alice_vless
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("alice over VLESS");
    alice_trojan
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("alice over Trojan");
    bob_vmess
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("bob over VMess");
    // Each inbound has its own clients.
    assert!(
        alice_vmess.fetch(web, "/blob", UPLOAD).await.is_err(),
        "alice is not in the VMess inbound"
    );
    assert!(
        bob_trojan.fetch(web, "/blob", UPLOAD).await.is_err(),
        "bob is not in the Trojan inbound"
    );

    // The heartbeat names revision 2 while the latest config is still 1: the agent asks with
    // If-None-Match, gets a 304 and changes nothing.
    core.with(|s| s.heartbeat_revision = Some(2));
    core.wait("a 304", WAIT, log, |s| s.not_modified >= 1).await;
    core.with(|s| {
        assert!(s.fetches.contains(&Some("\"1\"".into())), "{:?}", s.fetches);
        assert!(!s.applied.iter().any(|a| a["revision"] == 2));
        s.heartbeat_revision = None;
    });
    assert_eq!(agent.core_pid(), Some(pid));

    // Revision 2: clients only — alice leaves VLESS (stays in Trojan), carol joins VLESS.
    // Live, without a core restart.
    core.set_config(
        2,
        ports.inbounds(),
        clients(&[
            ("vless-in", &[CAROL]),
            ("trojan-in", &[ALICE]),
            ("vmess-in", &[BOB]),
        ]),
        default_outbounds(),
        json!({}),
    );
    core.wait("revision 2 applied", WAIT, log, |s| s.applied_ok(2))
        .await;
    assert_eq!(
        agent.core_pid(),
        Some(pid),
        "clients change without a restart"
    );
    let carol = client(&dir, Proto::Vless, ports, CAROL.1);
    carol
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("carol over VLESS");
    assert!(
        alice_vless.fetch(web, "/blob", UPLOAD).await.is_err(),
        "alice was removed from VLESS"
    );
    alice_trojan
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("alice still over Trojan");

    // Revision 3: the routing changes (a port goes to `block`): a new core runs it.
    core.set_config(
        3,
        ports.inbounds(),
        clients(&[("vless-in", &[CAROL]), ("trojan-in", &[ALICE]), ("vmess-in", &[BOB])]),
        default_outbounds(),
        json!({ "domainStrategy": "AsIs",
                "rules": [{ "type": "field", "port": web_blocked.to_string(), "outboundTag": "block" }] }),
    );
    core.wait("revision 3 applied", WAIT, log, |s| s.applied_ok(3))
        .await;
    let pid = new_core_pid(&agent, pid).await;
    eventually(WAIT, || carol.fetch(web, "/blob", UPLOAD))
        .await
        .expect("carol after the new routing");
    assert!(
        carol.fetch(web_blocked, "/blob", UPLOAD).await.is_err(),
        "the Core's routing rule blocks this port"
    );
    bob_vmess
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("bob after the new routing");

    // Ops: restart-core restarts the core once, even when the Core answers the op again after
    // it was reported done; every client is put back.
    core.with(|s| {
        s.ops.push(("op-restart-1".into(), "restart-core".into()));
        s.sticky_ops
            .push(("op-restart-1".into(), "restart-core".into()));
    });
    let pid = new_core_pid(&agent, pid).await;
    core.wait("op-restart-1 reported done twice", WAIT, log, |s| {
        s.done_ops.iter().filter(|id| *id == "op-restart-1").count() >= 2
    })
    .await;
    assert_eq!(
        agent.core_pid(),
        Some(pid),
        "a repeated op is not carried out again"
    );
    eventually(WAIT, || carol.fetch(web, "/blob", UPLOAD))
        .await
        .expect("carol after the restart");
    alice_trojan
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("alice after the restart");

    // resync: fetched without If-None-Match and applied again (no restart: same layout).
    let fetches_before = core.with(|s| s.fetches.len());
    core.with(|s| s.ops.push(("op-resync-1".into(), "resync".into())));
    core.wait("op-resync-1 done", WAIT, log, |s| {
        s.done_ops.iter().any(|id| id == "op-resync-1")
    })
    .await;
    core.with(|s| {
        assert!(
            s.fetches[fetches_before..].contains(&None),
            "{:?}",
            s.fetches
        );
        let applied_3 = s
            .applied
            .iter()
            .filter(|a| a["revision"] == 3 && a["ok"] == true)
            .count();
        assert_eq!(applied_3, 2, "revision 3 confirmed again: {:?}", s.applied);
    });
    assert_eq!(agent.core_pid(), Some(pid));

    // Revision 4 is rejected by the core: not applied, reported, the old config keeps running.
    let mut broken = ports.inbounds();
    broken.as_array_mut().expect("array").push(json!({
        "tag": "broken", "listen": "127.0.0.1", "port": free_port(), "protocol": "no-such-protocol"
    }));
    core.set_config(
        4,
        broken,
        clients(&[("vless-in", &[CAROL])]),
        default_outbounds(),
        json!({}),
    );
    core.wait("revision 4 refused", WAIT, log, |s| {
        s.applied
            .iter()
            .any(|a| a["revision"] == 4 && a["ok"] == false && a["error"].is_string())
    })
    .await;
    core.wait("a config-rejected error", WAIT, log, |s| {
        s.errors
            .iter()
            .any(|e| e["kind"] == "config-rejected" && e["at"].is_u64())
    })
    .await;
    core.wait("heartbeat still on revision 3", WAIT, log, |s| {
        s.last_heartbeat()["appliedRevision"] == 3
    })
    .await;
    assert_eq!(
        agent.core_pid(),
        Some(pid),
        "the running core was not touched"
    );
    carol
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("the last good config still serves");
    // A revision applies whole or not at all: its client list (carol alone) did not either.
    bob_vmess
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("bob keeps revision 3's access");
    alice_trojan
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("alice keeps revision 3's access");

    // Back to a good revision (5 = 3's config).
    core.set_config(
        5,
        ports.inbounds(),
        clients(&[("vless-in", &[CAROL]), ("trojan-in", &[ALICE]), ("vmess-in", &[BOB])]),
        default_outbounds(),
        json!({ "domainStrategy": "AsIs",
                "rules": [{ "type": "field", "port": web_blocked.to_string(), "outboundTag": "block" }] }),
    );
    core.wait("revision 5 applied", WAIT, log, |s| s.applied_ok(5))
        .await;
    assert_eq!(
        agent.core_pid(),
        Some(pid),
        "same layout as the running one: no restart"
    );

    // The core dies: the Core hears of it, and the supervisor brings it back with its clients.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    core.wait("a core-exited error", WAIT, log, |s| {
        s.errors.iter().any(|e| e["kind"] == "core-exited")
    })
    .await;
    let pid = new_core_pid(&agent, pid).await;
    eventually(WAIT, || carol.fetch(web, "/blob", UPLOAD))
        .await
        .expect("carol after the core died");

    // Agent restart while the Core is away: the stored revision runs again at once.
    let data = dir.join("data");
    let mode = std::fs::metadata(data.join("pull-state.json"))
        .expect("pull-state.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the pull state holds keys");
    agent.stop();
    assert!(!pid_alive(pid), "the core stops with the agent");
    core.with(|s| s.down = true);
    let heartbeats_before = core.with(|s| s.heartbeats.len());
    let mut agent = PullAgent::start(agent_bin(), &dir, &core.url(), None);
    eventually(WAIT, || carol.fetch(web, "/blob", UPLOAD))
        .await
        .unwrap_or_else(|e| panic!("carol while the Core is away: {e}\n{}", agent.log()));
    bob_vmess
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("bob while the Core is away");
    assert!(
        alice_vless.fetch(web, "/blob", UPLOAD).await.is_err(),
        "still per inbound"
    );
    core.wait("the agent tried the Core", WAIT, log, |s| {
        s.dropped_while_down >= 2
    })
    .await;
    assert_eq!(core.with(|s| s.heartbeats.len()), heartbeats_before);
    core.with(|s| s.down = false);
    core.wait(
        "heartbeat with revision 5 after the restart",
        WAIT,
        log,
        |s| s.heartbeats.len() > heartbeats_before && s.last_heartbeat()["appliedRevision"] == 5,
    )
    .await;
    assert_eq!(
        core.with(|s| s.registrations.len()),
        1,
        "no second registration"
    );
    agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Usage reaches the Core exactly once: across a lost answer, a Core outage and an agent
/// restart, what the Core counted equals what the agent's journal holds — per client and per
/// outbound. Session events follow the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_delivered_exactly_once() {
    v2ray();
    let dir = temp_dir("pull-usage");
    let data = dir.join("data");
    let core = StandInCore::start().await;
    core.with(|s| s.codes.insert("code-usage".into()));
    let ports = Ports::new();
    let web = file_server().await;
    core.set_config(
        1,
        ports.inbounds(),
        clients(&[("vless-in", &[ALICE]), ("vmess-in", &[BOB])]),
        default_outbounds(),
        json!({}),
    );
    let mut agent = PullAgent::start(agent_bin(), &dir, &core.url(), Some("code-usage"));
    let log = || std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    core.wait("revision 1 applied", WAIT, log, |s| s.applied_ok(1))
        .await;
    let alice = client(&dir, Proto::Vless, ports, ALICE.1);
    let bob = client(&dir, Proto::Vmess, ports, BOB.1);

    alice.fetch(web, "/blob", UPLOAD).await.expect("alice");
    core.wait("alice's usage", WAIT, log, |s| {
        s.usage
            .get(ALICE.0)
            .is_some_and(|(up, down)| *up > 0 && *down >= BLOB as u64)
    })
    .await;
    core.wait("alice online", WAIT, log, |s| {
        s.events_of(ALICE.0, "online") >= 1
    })
    .await;

    // The Core takes a report, but its answer is lost: the agent sends the same report again,
    // which the Core answers as a duplicate.
    core.with(|s| s.lose_usage_answers = 1);
    bob.fetch(web, "/blob", UPLOAD).await.expect("bob");
    core.wait("a duplicate report", WAIT, log, |s| s.duplicates >= 1)
        .await;

    // The Core goes away; traffic goes on and is reported once it is back.
    core.with(|s| s.down = true);
    for _ in 0..2 {
        alice
            .fetch(web, "/blob", UPLOAD)
            .await
            .expect("alice during the outage");
    }
    bob.fetch(web, "/blob", UPLOAD)
        .await
        .expect("bob during the outage");
    core.wait("reports tried during the outage", WAIT, log, |s| {
        s.dropped_while_down >= 5
    })
    .await;
    core.with(|s| s.down = false);

    // Exactly what the journal holds: nothing lost, nothing doubled.
    let settled = |what: &'static str| {
        let data = data.clone();
        let core = &core;
        async move {
            eventually(Duration::from_secs(30), || {
                let journal = journal_totals(&data, "traffic");
                let outbound = journal_totals(&data, "outbound-traffic");
                let result = core.with(|s| {
                    if s.usage == journal && s.outbound_usage == outbound {
                        Ok(())
                    } else {
                        Err(format!(
                            "{what}: Core {:?} / {:?}, journal {journal:?} / {outbound:?}",
                            s.usage, s.outbound_usage
                        ))
                    }
                });
                async move { result }
            })
            .await
        }
    };
    settled("after the outage")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    core.with(|s| {
        let (up, down) = s.usage[ALICE.0];
        assert!(
            down >= 3 * BLOB as u64 && up >= 3 * UPLOAD as u64,
            "alice: {up} / {down}"
        );
        let (up, down) = s.usage[BOB.0];
        assert!(
            down >= 2 * BLOB as u64 && up >= 2 * UPLOAD as u64,
            "bob: {up} / {down}"
        );
        let (_, direct_down) = s.outbound_usage["direct"];
        assert!(
            direct_down >= 5 * BLOB as u64,
            "direct: {:?}",
            s.outbound_usage
        );
        assert!(!s.outbound_usage.contains_key("api"));
        assert!(
            !s.usage.contains_key("direct"),
            "outbounds never count as clients"
        );
    });
    let spool: Value =
        serde_json::from_slice(&std::fs::read(data.join("usage.json")).expect("spool"))
            .expect("json");
    assert!(spool["pending"].is_null(), "{spool}");

    // Idle clients go offline after three polls without traffic.
    core.wait("alice offline", WAIT, log, |s| {
        s.events_of(ALICE.0, "offline") >= 1
    })
    .await;
    core.wait("bob offline", WAIT, log, |s| {
        s.events_of(BOB.0, "offline") >= 1
    })
    .await;

    // An agent restart neither loses nor repeats anything.
    agent.stop();
    let mut agent = PullAgent::start(agent_bin(), &dir, &core.url(), None);
    alice
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("alice after the agent restart");
    core.wait("alice's traffic after the restart", WAIT, log, |s| {
        s.usage[ALICE.0].1 >= 4 * BLOB as u64
    })
    .await;
    settled("after the agent restart")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log()));
    assert!(core.with(|s| s.largest_report) <= 10_000);
    agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Registration: no code, a refused code, one registration kept in a 0600 file (key and code
/// never logged), a revoked key, and registering again with a new code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_revocation() {
    v2ray();
    let dir = temp_dir("pull-register");
    let data = dir.join("data");
    let core = StandInCore::start().await;

    // Neither a key nor a code: the agent refuses to start.
    let out = PullAgent::command(agent_bin(), &dir, &core.url())
        .env_remove("NEXUMA_NODE_CODE")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NEXUMA_NODE_CODE"));

    // A code the Core does not know: refused, the agent stops with the reason.
    let out = PullAgent::command(agent_bin(), &dir, &core.url())
        .env("NEXUMA_NODE_CODE", "code-unknown")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid_code"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.join("pull.json").exists());

    // A good code registers once.
    core.with(|s| s.codes.insert("code-first-1234".into()));
    let mut agent = PullAgent::start(agent_bin(), &dir, &core.url(), Some("code-first-1234"));
    let log = || std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    core.wait("heartbeats", WAIT, log, |s| s.heartbeats.len() >= 2)
        .await;
    let registration = core.with(|s| s.registrations.last().cloned().expect("registration"));
    assert_eq!(registration["protocol"], 1);
    assert_eq!(registration["coreFlavor"], "v2ray");
    assert!(registration["hostname"].is_string() && registration["agentVersion"].is_string());
    let stored: Value =
        serde_json::from_slice(&std::fs::read(data.join("pull.json")).expect("pull.json"))
            .expect("json");
    let key = stored["key"].as_str().expect("key").to_owned();
    assert_eq!(stored["nodeId"], common::core::NODE_ID);
    assert_eq!(stored["coreUrl"], core.url());
    assert!(core.with(|s| s.keys.contains(&key)));
    let mode = std::fs::metadata(data.join("pull.json"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A restart keeps the key: no second registration.
    agent.stop();
    let mut agent = PullAgent::start(agent_bin(), &dir, &core.url(), Some("code-first-1234"));
    let seen = core.with(|s| s.heartbeats.len());
    core.wait("heartbeats after the restart", WAIT, log, |s| {
        s.heartbeats.len() >= seen + 2
    })
    .await;
    assert_eq!(
        core.with(|s| s.registrations.len()),
        2,
        "the refused code and the first registration only"
    );

    // The key is revoked: the agent says so; its code is spent, so it cannot register again.
    core.with(|s| s.keys.clear());
    core.wait("the key refused", WAIT, log, |s| s.refused_keys >= 1)
        .await;
    eventually(WAIT, || {
        let found = log().contains("refuses this node's key");
        async move {
            if found {
                Ok(())
            } else {
                Err("no clear error in the log".to_string())
            }
        }
    })
    .await
    .expect("the revocation is logged");
    core.wait("a registration try with the spent code", WAIT, log, |s| {
        s.registrations.len() >= 3
    })
    .await;
    agent.stop();

    // Restarted with a new code: the old key fails, the new code registers, heartbeats resume.
    core.with(|s| s.codes.insert("code-second-5678".into()));
    let agent = PullAgent::start(agent_bin(), &dir, &core.url(), Some("code-second-5678"));
    core.wait("registered again", WAIT, log, |s| {
        s.registrations
            .iter()
            .any(|r| r["code"] == "code-second-5678")
            && !s.keys.is_empty()
    })
    .await;
    let seen = core.with(|s| s.heartbeats.len());
    core.wait("heartbeats with the new key", WAIT, log, |s| {
        s.heartbeats.len() >= seen + 2
    })
    .await;
    let stored: Value =
        serde_json::from_slice(&std::fs::read(data.join("pull.json")).expect("pull.json"))
            .expect("json");
    let new_key = stored["key"].as_str().expect("key").to_owned();
    assert_ne!(new_key, key);
    assert!(core.with(|s| s.keys.contains(&new_key)));

    // Neither a key nor a code ever reaches the log.
    let text = agent.log();
    for secret in [
        key.as_str(),
        new_key.as_str(),
        "code-first-1234",
        "code-second-5678",
    ] {
        assert!(!text.contains(secret), "the log holds a secret");
    }
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pull --help` documents every setting, and a pin needs an https:// Core.
#[test]
fn pull_cli_documents_settings() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_nexuma-node"))
        .args(["pull", "--help"])
        .env("NEXUMA_NODE_CODE", "code-never-shown")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    for setting in [
        "--core-url",
        "--data-dir",
        "--core-bin",
        "--grpc-prefix",
        "--api-port",
        "--poll-secs",
        "--heartbeat-secs",
        "--report-secs",
        "--core-pin",
        "--code",
        "NEXUMA_NODE_CODE",
        "NEXUMA_NODE_CORE_URL",
    ] {
        assert!(help.contains(setting), "pull --help lacks {setting}");
    }
    assert!(!help.contains("code-never-shown"), "--help shows the code");
    let dir = temp_dir("pull-cli");
    let out = PullAgent::command(agent_bin(), &dir, "http://127.0.0.1:9")
        .args(["--core-pin", &"ab".repeat(32)])
        .env("NEXUMA_NODE_CODE", "code-x")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The agent reports what v2ray 4 runs, and refuses a revision v2ray 4 would accept and
/// silently weaken (REALITY served as plain VLESS): reported as a rejected config with the
/// reason, the last good revision keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_the_core_would_weaken_is_refused() {
    v2ray();
    let dir = temp_dir("pull-weaken");
    let core = StandInCore::start().await;
    core.with(|s| s.codes.insert("code-weaken".into()));
    let ports = Ports::new();
    let web = file_server().await;
    core.set_config(
        1,
        ports.inbounds(),
        clients(&[("vless-in", &[ALICE])]),
        default_outbounds(),
        json!({}),
    );
    let agent = PullAgent::start(agent_bin(), &dir, &core.url(), Some("code-weaken"));
    let log = || std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    core.wait("revision 1 applied", WAIT, log, |s| s.applied_ok(1))
        .await;
    let (registered, heartbeat) = core.with(|s| (s.registrations[0].clone(), s.last_heartbeat()));
    for body in [&registered, &heartbeat] {
        let caps = &body["capabilities"];
        assert_eq!(caps["security"], json!(["none", "tls"]), "{body}");
        assert_eq!(caps["flows"], json!([]), "{body}");
        for lacking in [
            (&caps["transports"], "grpc"),
            (&caps["shadowsocksMethods"], "2022-blake3-aes-128-gcm"),
            (&caps["protocols"], "shadowsocks"),
        ] {
            let list = lacking.0.as_array().expect("a list");
            assert!(!list.contains(&json!(lacking.1)), "{body}");
        }
        assert!(caps["transports"]
            .as_array()
            .unwrap()
            .contains(&json!("ws")));
    }
    let pid = agent.core_pid().expect("core runs");
    let alice = client(&dir, Proto::Vless, ports, ALICE.1);
    alice.fetch(web, "/blob", UPLOAD).await.expect("alice");

    // Revision 2 puts REALITY on the VLESS inbound; `v2ray -test` passes it.
    let mut reality = ports.inbounds();
    reality[0]["streamSettings"] = json!({ "network": "tcp", "security": "reality",
        "realitySettings": { "dest": "www.example.com:443", "serverNames": ["www.example.com"],
            "privateKey": "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E", "shortIds": [""] } });
    core.set_config(
        2,
        reality,
        clients(&[("vless-in", &[ALICE])]),
        default_outbounds(),
        json!({}),
    );
    core.wait("revision 2 refused with the reason", WAIT, log, |s| {
        s.applied.iter().any(|a| {
            a["revision"] == 2
                && a["ok"] == false
                && a["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("`vless-in`") && e.contains("security `reality`"))
        })
    })
    .await;
    core.wait("a config-rejected error", WAIT, log, |s| {
        s.errors.iter().any(|e| {
            e["kind"] == "config-rejected"
                && e["message"].as_str().is_some_and(|m| m.contains("reality"))
        })
    })
    .await;
    core.wait("heartbeat still on revision 1", WAIT, log, |s| {
        s.last_heartbeat()["appliedRevision"] == 1
    })
    .await;
    assert_eq!(
        agent.core_pid(),
        Some(pid),
        "the running core was not touched"
    );
    alice
        .fetch(web, "/blob", UPLOAD)
        .await
        .expect("revision 1 still serves");
}
