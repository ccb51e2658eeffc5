//! Canary activation (issue 17): a share of a name's requests on a new version, judged by every
//! replica together — rolled back by itself when it fails, promoted at its window's end or by
//! hand — on the real binary: three replicas on one PostgreSQL and Redis, and the embedded
//! single process (SQLite, in-process store).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::components::{component, list, sha256, store_version, upload, wasm};
use common::stores::PrivateRedis;
use common::{query_texts, Backend, Core, Options, Reply};
use serde_json::{json, Value};
use tokio::task::block_in_place;

const COMPONENTS: &[&str] = &["auth", "probe", "versioned"];
/// How long a canary may take to end by itself on every replica, generously: the judges tick
/// every second and need 20 canary calls.
const DECIDED_WITHIN: Duration = Duration::from_secs(30);

async fn replica_of(first: &Core) -> Core {
    let mut core = Core::prepare(Backend::Servers, Options::default().components(COMPONENTS));
    core.share_stores_with(first);
    core
}

async fn three_replicas() -> (Core, Core, Core) {
    let a = Core::start_with(Backend::Servers, Options::default().components(COMPONENTS)).await;
    let (mut b, mut c) = (replica_of(&a).await, replica_of(&a).await);
    tokio::join!(b.spawn(), c.spawn());
    (a, b, c)
}

/// `POST /admin/components/versioned/activate` with `body`.
async fn activate(core: &Core, token: &str, body: Value) -> Reply {
    core.post("/admin/components/versioned/activate", Some(token), body)
        .await
}

async fn action(core: &Core, token: &str, what: &str) -> Reply {
    let path = format!("/admin/components/versioned/{what}");
    core.post(&path, Some(token), json!({})).await
}

/// What one `GET /test/version` answered: the version, or the failure's status.
/// Stores the trapping build as a version of `versioned` and starts it as a canary (`canary`:
/// the activation's settings) through `core`.
async fn start_trapping_canary(core: &Core, admin: &str, canary: Value) {
    let trap = store_version(core, admin, "versioned", "versioned_trap").await;
    let r = activate(core, admin, json!({ "hash": trap, "canary": canary })).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn answer(core: &Core) -> String {
    let r = core.get("/test/version", None).await;
    if r.status == 200 {
        r.str("version")
    } else {
        format!("status {}", r.status)
    }
}

/// The answers of `n` requests to each core, counted.
async fn answers(cores: &[&Core], n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for core in cores {
        for _ in 0..n {
            *seen.entry(answer(core).await).or_insert(0) += 1;
        }
    }
    seen
}

/// Waits until every core answers only `want` (30 requests each), within `within`.
async fn only(cores: &[&Core], want: &str, within: Duration) {
    let since = Instant::now();
    loop {
        let seen = answers(cores, 30).await;
        if seen.len() == 1 && seen.contains_key(want) {
            return;
        }
        assert!(
            since.elapsed() < within,
            "not only version {want} after {within:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The list's `versioned` entry once its canary is over, within `within`.
async fn canary_over(core: &Core, token: &str, within: Duration) -> Value {
    let since = Instant::now();
    loop {
        let entry = component(&list(core, token).await, "versioned").clone();
        if entry["canary"].is_null() {
            return entry;
        }
        assert!(
            since.elapsed() < within,
            "the canary still runs after {within:?}: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the list's canary counts (shared by the judges once a second) hold `calls`.
async fn counted(core: &Core, token: &str, calls: u64) {
    let since = Instant::now();
    loop {
        let entry = component(&list(core, token).await, "versioned").clone();
        let counts = &entry["canary"]["counts"];
        let sum = counts["canary"]["calls"].as_u64().unwrap_or(0)
            + counts["active"]["calls"].as_u64().unwrap_or(0);
        if sum >= calls {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the judge counted the canary's traffic: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Requests to `/test/version` on every core in turn until stopped; the answers counted.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(cores: &[&Core]) -> Load {
        Load::on(cores, "/test/version")
    }

    fn on(cores: &[&Core], path: &str) -> Load {
        let urls: Vec<String> = cores.iter().map(|c| c.url(path)).collect();
        let client = cores[0].client.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (s, counts) = (Arc::clone(&stop), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                for url in &urls {
                    let what = match client.get(url).send().await {
                        Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                            Ok(body) => body["version"].as_str().unwrap_or("?").to_string(),
                            Err(e) => format!("bad body: {e}"),
                        },
                        Ok(r) => format!("status {}", r.status().as_u16()),
                        Err(e) => format!("error {e}"),
                    };
                    *counts.lock().expect("counts").entry(what).or_insert(0) += 1;
                }
            }
        });
        Load { stop, seen, task }
    }

    async fn finish(self) -> BTreeMap<String, usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("load task");
        let seen = self.seen.lock().expect("counts").clone();
        seen
    }
}

/// Three replicas under load across all of them; a canary that traps on every request (half
/// the traffic, an hour's window) is rolled back by the replicas themselves within seconds:
/// every replica serves only the active version again, the list shows no canary, and the audit
/// log holds one automatic rollback (no actor) with the figures it was decided on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_traps_is_rolled_back_by_itself_on_every_replica() {
    let (a, b, c) = three_replicas().await;
    let cores = [&a, &b, &c];
    let admin = a.admin_token().await;
    let v1 = sha256(&wasm("versioned"));
    let trap = store_version(&a, &admin, "versioned", "versioned_trap").await;
    only(&cores, "1", Duration::from_secs(5)).await;

    let load = Load::start(&cores);
    let canary = json!({ "percent": 50, "windowSeconds": 3600 });
    let r = activate(&b, &admin, json!({ "hash": trap, "canary": canary })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"]["hash"], v1.as_str(), "{}", r.text);
    assert_eq!(r.body["canary"]["hash"], trap.as_str(), "{}", r.text);
    assert_eq!(r.body["canary"]["percent"], 50);

    let entry = canary_over(&c, &admin, DECIDED_WITHIN).await;
    assert_eq!(entry["active"]["hash"], v1.as_str(), "{entry}");
    only(&cores, "1", Duration::from_secs(5)).await;
    let during = load.finish().await;
    assert!(
        during.get("status 500").is_some_and(|n| *n > 0),
        "the canary served part of the load and failed: {during:?}"
    );

    // After the rollback nothing fails any more, anywhere.
    let after = answers(&cores, 50).await;
    assert_eq!(after, BTreeMap::from([("1".to_string(), 150)]));
    for core in cores {
        let entry = component(&list(core, &admin).await, "versioned").clone();
        assert!(entry["canary"].is_null(), "{entry}");
        assert_eq!(entry["active"]["hash"], v1.as_str());
    }

    let rows = query_texts(
        &a,
        "SELECT COALESCE(actor_id, '-') || ' ' || after FROM audit_log \
         WHERE action = 'component.canary_rollback'",
    )
    .await;
    assert_eq!(rows.len(), 1, "ended once across three replicas: {rows:?}");
    let (actor, after) = rows[0].split_once(' ').expect("actor and after");
    assert_eq!(actor, "-", "decided by the replicas, no operator");
    let after: Value = serde_json::from_str(after).expect("after is JSON");
    assert_eq!(after["hash"], v1.as_str());
    let reason = after["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("canary ")
            && reason.contains("vs active")
            && reason.contains("margin 5%"),
        "{reason}"
    );
    let decided: usize = cores
        .iter()
        .map(|core| core.log().matches("decision=\"rollback\"").count())
        .sum();
    assert!(decided >= 1, "the decision is logged");
}

/// With Redis stopped mid-canary, the replica judges by its own counts (and says so): a
/// trapping canary is still rolled back by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_shared_counters_a_replica_judges_by_its_own() {
    let mut redis = block_in_place(PrivateRedis::launch);
    let options = Options::default()
        .components(COMPONENTS)
        .env("REDIS_URL", &redis.url());
    let core = Core::start_with(Backend::Servers, options).await;
    let cores = [&core];
    let admin = core.admin_token().await;
    let v1 = sha256(&wasm("versioned"));
    start_trapping_canary(
        &core,
        &admin,
        json!({ "percent": 50, "windowSeconds": 3600 }),
    )
    .await;

    block_in_place(|| redis.stop());
    let load = Load::start(&cores);
    let entry = canary_over(&core, &admin, DECIDED_WITHIN).await;
    let during = load.finish().await;
    assert!(during.contains_key("status 500"), "{during:?}");
    assert_eq!(entry["active"]["hash"], v1.as_str(), "{entry}");
    assert_eq!(
        answers(&cores, 20).await,
        BTreeMap::from([("1".into(), 20)])
    );
    assert!(
        core.log().contains("this replica judges by its own counts"),
        "the fallback is logged:\n{}",
        core.log()
    );
    let rows = query_texts(
        &core,
        "SELECT after FROM audit_log WHERE action = 'component.canary_rollback' \
         AND actor_id IS NULL",
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
}

/// A canary whose component answers 500 itself (no trap) fails as surely: rolled back by
/// itself, and nothing counted as a trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_answering_5xx_is_rolled_back_too() {
    let core = Core::start_with(Backend::Embedded, Options::default().components(COMPONENTS)).await;
    let admin = core.admin_token().await;
    let v1 = sha256(&wasm("versioned"));
    start_trapping_canary(
        &core,
        &admin,
        json!({ "percent": 50, "windowSeconds": 3600 }),
    )
    .await;

    let load = Load::on(&[&core], "/test/version?fail=answer");
    let entry = canary_over(&core, &admin, DECIDED_WITHIN).await;
    let during = load.finish().await;
    assert!(during.contains_key("status 500"), "{during:?}");
    assert_eq!(entry["active"]["hash"], v1.as_str(), "{entry}");
    let metrics = core.get("/metrics", None).await.text;
    let traps = metrics
        .lines()
        .find(|l| l.starts_with("nexuma_component_traps_total{component=\"versioned\"}"));
    assert!(
        traps.is_none_or(|l| l.ends_with(" 0")),
        "5xx answers are no traps: {traps:?}"
    );
    let reasons = query_texts(
        &core,
        "SELECT after FROM audit_log WHERE action = 'component.canary_rollback'",
    )
    .await;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
}

/// Three replicas: a healthy canary (half the traffic, a 5 s window) serves both versions
/// during its window, then takes every request on every replica by itself; the old version is
/// what rollback goes back to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_takes_all_traffic_at_its_windows_end() {
    let (a, b, c) = three_replicas().await;
    let cores = [&a, &b, &c];
    let admin = a.admin_token().await;
    let v1 = sha256(&wasm("versioned"));
    let v2 = store_version(&a, &admin, "versioned", "versioned_next").await;

    let canary = json!({ "percent": 50, "windowSeconds": 5 });
    let r = activate(&a, &admin, json!({ "hash": v2, "canary": canary })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let during = answers(&cores, 20).await;
    assert!(
        during.contains_key("1") && during.contains_key("2") && during.len() == 2,
        "both versions answer during the window, nothing fails: {during:?}"
    );
    // Listed where it was activated: that replica swapped before it answered, the others
    // follow its announcement a moment later.
    let listed = component(&list(&a, &admin).await, "versioned").clone();
    assert_eq!(listed["canary"]["hash"], v2.as_str(), "{listed}");
    assert_eq!(listed["canary"]["margin"], 0.05, "{listed}");
    assert!(listed["canary"]["stats"]["calls"].is_u64(), "{listed}");

    let entry = canary_over(&b, &admin, DECIDED_WITHIN).await;
    assert_eq!(entry["active"]["hash"], v2.as_str(), "{entry}");
    assert_eq!(entry["previousHash"], v1.as_str(), "{entry}");
    assert!(
        entry["active"]["activatedBy"].is_string(),
        "the admin who started it: {entry}"
    );
    only(&cores, "2", Duration::from_secs(5)).await;
    let reasons = query_texts(
        &a,
        "SELECT after FROM audit_log WHERE action = 'component.promote' AND actor_id IS NULL",
    )
    .await;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("window ended"), "{reasons:?}");

    let r = action(&c, &admin, "rollback").await;
    assert_eq!(r.status, 200, "{}", r.text);
    only(&cores, "1", Duration::from_secs(5)).await;
}

/// The embedded Core (no Redis): bad canary settings are refused naming the field and change
/// nothing; a version of another shape, or a name without an active version, gets no canary;
/// while one runs, a second canary, a plain activation and deleting its version are refused;
/// `promote` ends it at once, and `rollback` during a canary ends only the canary; a trapping
/// canary is rolled back by itself without Redis too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_core_refuses_bad_canaries_and_promotes_by_hand() {
    let components = &["auth", "versioned"];
    let core = Core::start_with(Backend::Embedded, Options::default().components(components)).await;
    let cores = [&core];
    let admin = core.admin_token().await;
    let v1 = sha256(&wasm("versioned"));
    let v2 = store_version(&core, &admin, "versioned", "versioned_next").await;

    let bad = [
        (json!("half"), "canary"),
        (json!({ "percent": 0 }), "canary.percent"),
        (json!({ "percent": 100 }), "canary.percent"),
        (json!({ "percent": 12.5 }), "canary.percent"),
        (json!({ "windowSeconds": 60 }), "canary.percent"),
        (
            json!({ "percent": 10, "windowSeconds": 4 }),
            "canary.windowSeconds",
        ),
        (
            json!({ "percent": 10, "windowSeconds": 86_401 }),
            "canary.windowSeconds",
        ),
        (json!({ "percent": 10, "margin": 1.5 }), "canary.margin"),
        (json!({ "percent": 10, "margin": -0.1 }), "canary.margin"),
        (json!({ "percent": 10, "window": 60 }), "canary"),
    ];
    for (canary, field) in bad {
        let r = activate(&core, &admin, json!({ "hash": v2, "canary": canary })).await;
        assert_eq!(r.status, 400, "{canary}: {}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{canary}: {}", r.text);
        assert!(r.message().contains(field), "{}", r.text);
    }

    // Another shape under the same name: the overlap component's route, not /test/version.
    let other = store_version(&core, &admin, "versioned", "overlap").await;
    let r = activate(
        &core,
        &admin,
        json!({ "hash": other, "canary": { "percent": 10 } }),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "routes_differ");
    assert!(
        r.message().contains("activate it without a canary"),
        "{}",
        r.text
    );
    // A name with no active version has nothing to compare a canary with.
    let r = upload(&core, Some(&admin), "?name=spare", wasm("probe")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let probe = sha256(&wasm("probe"));
    let r = core
        .post(
            "/admin/components/spare/activate",
            Some(&admin),
            json!({ "hash": probe, "canary": { "percent": 10 } }),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "no_active_version");

    let entry = component(&list(&core, &admin).await, "versioned").clone();
    assert!(entry["canary"].is_null(), "nothing changed: {entry}");
    assert_eq!(entry["active"]["hash"], v1.as_str());
    let started = query_texts(
        &core,
        "SELECT action FROM audit_log WHERE action LIKE 'component.canary%'",
    )
    .await;
    assert!(
        started.is_empty(),
        "nothing refused is audited: {started:?}"
    );
    assert_eq!(
        answers(&cores, 20).await,
        BTreeMap::from([("1".into(), 20)])
    );

    // A canary runs: both versions answer; what would leave it beside another version waits.
    let canary = json!({ "percent": 50, "windowSeconds": 3600 });
    let r = activate(&core, &admin, json!({ "hash": v2, "canary": canary })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["canary"]["hash"], v2.as_str());
    let during = answers(&cores, 60).await;
    assert_eq!(during.keys().collect::<Vec<_>>(), ["1", "2"], "{during:?}");
    let r = activate(
        &core,
        &admin,
        json!({ "hash": v2, "canary": { "percent": 5 } }),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "canary_running"), "{}", r.text);
    let r = activate(&core, &admin, json!({ "hash": other })).await;
    assert_eq!((r.status, r.code()), (409, "canary_running"), "{}", r.text);
    let path = format!("/admin/components/versioned/versions/{v2}");
    let r = core
        .send(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    counted(&core, &admin, 20).await;

    let r = action(&core, &admin, "promote").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"]["hash"], v2.as_str(), "{}", r.text);
    assert_eq!(r.body["previousHash"], v1.as_str());
    assert!(r.body["canary"].is_null(), "{}", r.text);
    assert_eq!(
        answers(&cores, 20).await,
        BTreeMap::from([("2".into(), 20)])
    );
    let r = action(&core, &admin, "promote").await;
    assert_eq!((r.status, r.code()), (409, "no_canary"), "{}", r.text);

    // Rollback during a canary ends the canary; the active version stays.
    let canary = json!({ "percent": 50, "windowSeconds": 3600 });
    let r = activate(&core, &admin, json!({ "hash": v1, "canary": canary })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = action(&core, &admin, "rollback").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"]["hash"], v2.as_str(), "{}", r.text);
    assert!(r.body["canary"].is_null(), "{}", r.text);
    assert_eq!(
        answers(&cores, 20).await,
        BTreeMap::from([("2".into(), 20)])
    );

    // Without Redis, the in-process store carries the judge's counters: a trapping canary is
    // rolled back by itself here too.
    let canary = json!({ "percent": 50, "windowSeconds": 3600, "margin": 0.1 });
    start_trapping_canary(&core, &admin, canary).await;
    let load = Load::start(&cores);
    let entry = canary_over(&core, &admin, DECIDED_WITHIN).await;
    let during = load.finish().await;
    assert!(during.contains_key("status 500"), "{during:?}");
    assert_eq!(entry["active"]["hash"], v2.as_str(), "{entry}");
    assert_eq!(
        answers(&cores, 20).await,
        BTreeMap::from([("2".into(), 20)])
    );
    let automatic = query_texts(
        &core,
        "SELECT after FROM audit_log WHERE action = 'component.canary_rollback' \
         AND actor_id IS NULL",
    )
    .await;
    assert_eq!(automatic.len(), 1, "{automatic:?}");
    assert!(automatic[0].contains("margin 10%"), "{automatic:?}");

    let actions = query_texts(
        &core,
        "SELECT action FROM audit_log WHERE action IN \
         ('component.canary', 'component.promote', 'component.canary_rollback') \
         AND actor_id IS NOT NULL ORDER BY created_at, action",
    )
    .await;
    assert_eq!(
        actions,
        [
            "component.canary",
            "component.promote",
            "component.canary",
            "component.canary_rollback",
            "component.canary"
        ]
    );
}
