//! Components as an operator's workflow (issue 17, first step): versions stored in the
//! database, pushed through one replica's `/admin/components`, served by every replica within a
//! second or so, rolled back, refused with the reason when they do not fit — on the real binary,
//! three replicas on one PostgreSQL and Redis, and the embedded single process.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::components::{component, list, sha256, upload, wasm};
use common::stores::PrivateRedis;
use common::{query_texts, Backend, Core, Options, Reply};
use serde_json::{json, Value};
use tokio::task::block_in_place;

const COMPONENTS: &[&str] = &["auth", "probe", "versioned"];
/// How long every replica may take to serve a change, in this test (the goal is 1 s).
const SWAP_DEADLINE: Duration = Duration::from_secs(3);
/// How soon after an activation's answer every replica serves it, at the median of
/// `ANNOUNCED_SWAPS`: the announcement's path. The database timer looks every 2 s, so by
/// itself it would bring both other replicas this close in about one swap of 25, never in most
/// of them; a loaded machine still has several hundred milliseconds to spare.
const ANNOUNCED_WITHIN: Duration = Duration::from_millis(400);
const ANNOUNCED_SWAPS: usize = 5;
/// How long a replica may take to subscribe again after Redis came back (the pause between
/// attempts grows to 8 s while Redis is away; here it is away for moments).
const RESUBSCRIBED_WITHIN: Duration = Duration::from_secs(15);

/// The version `GET /test/version` answers on `core`.
async fn served(core: &Core) -> String {
    let r = core.get("/test/version", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.str("version")
}

/// Waits until every core serves `want`; how long that took.
async fn all_serve(cores: &[&Core], want: &str, since: Instant) -> Duration {
    loop {
        let mut all = true;
        for core in cores {
            all &= served(core).await == want;
        }
        if all {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < SWAP_DEADLINE,
            "not every replica serves version {want} after {SWAP_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST /admin/components/versioned/rollback` as `token`.
async fn rollback(core: &Core, token: &str) -> Reply {
    core.post(
        "/admin/components/versioned/rollback",
        Some(token),
        json!({}),
    )
    .await
}

/// `POST /admin/components/versioned/activate` of `hash` as `token`.
async fn activate(core: &Core, token: &str, hash: &str) -> Reply {
    core.post(
        "/admin/components/versioned/activate",
        Some(token),
        json!({ "hash": hash }),
    )
    .await
}

/// Requests to `/test/version` on every core in turn until stopped: (answered 200, failed).
struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<u64>,
}

impl Load {
    fn start(cores: &[&Core]) -> Load {
        let urls: Vec<String> = cores.iter().map(|c| c.url("/test/version")).collect();
        let client = cores[0].client.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, f) = (Arc::clone(&stop), Arc::clone(&failed));
        let task = tokio::spawn(async move {
            let mut ok = 0;
            while !s.load(Ordering::Relaxed) {
                for url in &urls {
                    match client.get(url).send().await {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => {
                            eprintln!("load: {url} answered {}", r.status());
                            f.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("load: {url}: {e}");
                            f.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            ok
        });
        Load { stop, failed, task }
    }

    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let ok = self.task.await.expect("load task");
        (ok, self.failed.load(Ordering::Relaxed))
    }
}

async fn replica_of(first: &Core) -> Core {
    let mut core = Core::prepare(Backend::Servers, Options::default().components(COMPONENTS));
    core.share_stores_with(first);
    core
}

/// Three replicas on one PostgreSQL and Redis (`options` may name another Redis), started
/// together.
async fn three_replicas(options: Options) -> (Core, Core, Core) {
    let a = Core::start_with(Backend::Servers, options).await;
    let (mut b, mut c) = (replica_of(&a).await, replica_of(&a).await);
    tokio::join!(b.spawn(), c.spawn());
    (a, b, c)
}

/// How many times `core` logged a swap its follower made for `cause`.
fn swaps_for(core: &Core, cause: &str) -> usize {
    let cause = format!("cause=\"{cause}\"");
    core.log()
        .lines()
        .filter(|l| l.contains("new set serving") && l.contains(&cause))
        .count()
}

/// Waits until `core` has logged `line` `times` times.
async fn logged(core: &Core, line: &str, times: usize, within: Duration) {
    let since = Instant::now();
    while core.log().matches(line).count() < times {
        assert!(
            since.elapsed() < within,
            "no {line:?} ({times}) after {within:?}:\n{}",
            core.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three replicas on one PostgreSQL and Redis: a version pushed through one is served by all
/// under load without a failed request; rollback through another restores the old answer
/// everywhere; a replica started later serves what is active, not its folder's version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_follows_an_activation_and_a_rollback() {
    // Two replicas register the same folder at the same moment.
    let (a, b, c) = three_replicas(Options::default().components(COMPONENTS)).await;
    let admin = a.admin_token().await;
    let replicas = [&a, &b, &c];
    for core in replicas {
        assert_eq!(served(core).await, "1", "the factory version serves");
    }
    let v1 = sha256(&wasm("versioned"));
    let before = list(&b, &admin).await;
    let versioned = component(&before, "versioned");
    assert_eq!(versioned["active"]["hash"], v1.as_str());
    assert_eq!(versioned["active"]["factory"], true);
    assert_eq!(versioned["versions"].as_array().map(Vec::len), Some(1));

    let load = Load::start(&replicas);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pushed = Instant::now();
    let r = upload(
        &a,
        Some(&admin),
        "?name=versioned&activate=true",
        wasm("versioned_next"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v2 = sha256(&wasm("versioned_next"));
    assert_eq!(r.body["hash"], v2.as_str());
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["factory"], false);
    assert_eq!(
        r.body["routes"],
        json!([{ "method": "GET", "path": "/test/version", "auth": "public" }])
    );
    assert_eq!(
        served(&a).await,
        "2",
        "the replica that activated swapped before answering"
    );
    let took = all_serve(&replicas, "2", pushed).await;
    println!("activation: every replica served the new version {took:?} after the push");

    let rolled = Instant::now();
    let r = rollback(&b, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"]["hash"], v1.as_str());
    assert_eq!(r.body["previousHash"], v2.as_str());
    let took = all_serve(&replicas, "1", rolled).await;
    println!("rollback: every replica served the old version {took:?} after it");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failed) = load.finish().await;
    assert_eq!(
        failed, 0,
        "no request failed across the swaps ({ok} answered)"
    );
    assert!(ok > 50, "the load ran meanwhile: {ok} requests");

    // Activated again through the third replica, by hash; then a fourth starts with the
    // factory version in its folder and serves the operator's.
    let activated = Instant::now();
    let r = activate(&c, &admin, &v2).await;
    assert_eq!(r.status, 200, "{}", r.text);
    all_serve(&replicas, "2", activated).await;
    let mut d = replica_of(&a).await;
    d.spawn().await;
    assert_eq!(
        served(&d).await,
        "2",
        "a replica started later serves the active version"
    );
    let seen = list(&d, &admin).await;
    let versioned = component(&seen, "versioned");
    assert_eq!(versioned["active"]["hash"], v2.as_str());
    assert_eq!(
        versioned["newerFactory"],
        Value::Null,
        "the folder's version is older than the operator's: nothing newer to offer"
    );
    assert_eq!(versioned["active"]["factory"], false);
    assert_eq!(versioned["versions"].as_array().map(Vec::len), Some(2));
    assert!(seen["revision"].as_i64() > before["revision"].as_i64());

    let rows = query_texts(
        &a,
        "SELECT action || ' ' || target_id || ' ' || COALESCE(ip, '-') FROM audit_log \
         WHERE target_type = 'component' AND actor_id IS NOT NULL ORDER BY created_at, action DESC",
    )
    .await;
    assert_eq!(
        rows,
        [
            "component.upload versioned 127.0.0.1",
            "component.activate versioned 127.0.0.1",
            "component.rollback versioned 127.0.0.1",
            "component.activate versioned 127.0.0.1",
        ]
    );
    let after = query_texts(
        &a,
        "SELECT after FROM audit_log WHERE action = 'component.rollback'",
    )
    .await;
    assert_eq!(after, [json!({ "hash": v1 }).to_string()]);
}

// What does not fit is refused with the reason and changes nothing; only admins may ask.
both_backends!(refusals_change_nothing, |backend| async move {
    let options = Options::default()
        .components(COMPONENTS)
        .env("COMPONENT_UPLOAD_LIMIT_BYTES", "400000");
    let core = Core::start_with(backend, options).await;
    let admin = core.admin_token().await;
    let before = list(&core, &admin).await;

    let refusals: [(&str, Vec<u8>, &str, &str); 5] = [
        (
            "garbage",
            b"this is not a component".to_vec(),
            "?name=junk",
            "not a WebAssembly file",
        ),
        (
            "a core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "?name=junk",
            "cannot compile",
        ),
        (
            "a component of another world",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "?name=junk",
            "does not fit the nexuma:core handler world",
        ),
        (
            "a route clash with probe",
            wasm("overlap"),
            "?name=overlap&activate=true",
            "overlaps /test/items/:id of component probe",
        ),
        (
            "a bad name",
            wasm("versioned_next"),
            "?name=Bad%20Name",
            "lower-case",
        ),
    ];
    for (what, bytes, query, reason) in refusals {
        let r = upload(&core, Some(&admin), query, bytes).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert!(r.message().contains(reason), "{what}: {}", r.text);
    }
    let r = upload(&core, Some(&admin), "?name=usage", wasm("usage")).await;
    assert_eq!(
        r.status, 413,
        "past COMPONENT_UPLOAD_LIMIT_BYTES: {}",
        r.text
    );
    assert_eq!(
        list(&core, &admin).await["components"],
        before["components"]
    );
    assert_eq!(list(&core, &admin).await["revision"], before["revision"]);
    assert_eq!(served(&core).await, "1");

    let (user, _, _) = core.register("user@example.com", "password-user").await;
    let r = core.get("/admin/components", Some(&user)).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{}", r.text);
    let r = upload(
        &core,
        Some(&user),
        "?name=versioned&activate=true",
        wasm("versioned_next"),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = upload(&core, None, "?name=versioned", wasm("versioned_next")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = core.get("/admin/components", None).await;
    assert_eq!(r.status, 401, "{}", r.text);

    let v1 = sha256(&wasm("versioned"));
    let unknown = "0".repeat(64);
    let r = activate(&core, &admin, &unknown).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = rollback(&core, &admin).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "no_previous_version"),
        "{}",
        r.text
    );
    let r = core
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/components/versioned/versions/{v1}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "version_active"), "{}", r.text);
    assert_eq!(list(&core, &admin).await["revision"], before["revision"]);
    let audited = query_texts(
        &core,
        "SELECT action FROM audit_log WHERE actor_id IS NOT NULL AND target_type = 'component'",
    )
    .await;
    assert!(
        audited.is_empty(),
        "nothing refused is audited: {audited:?}"
    );
});

/// One process (SQLite, in-process store): upload, activate, rollback, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_core_uploads_activates_and_rolls_back() {
    let core = Core::start_with(Backend::Embedded, Options::default().components(COMPONENTS)).await;
    let admin = core.admin_token().await;
    let v2 = sha256(&wasm("versioned_next"));
    let r = upload(
        &core,
        Some(&admin),
        "?name=versioned",
        wasm("versioned_next"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["active"], false);
    let again = upload(
        &core,
        Some(&admin),
        "?name=versioned",
        wasm("versioned_next"),
    )
    .await;
    assert_eq!(again.status, 200, "stored already: {}", again.text);
    assert_eq!(again.body["hash"], v2.as_str());
    assert_eq!(
        served(&core).await,
        "1",
        "uploading alone changes nothing served"
    );

    let r = activate(&core, &admin, &v2).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"]["hash"], v2.as_str());
    assert_eq!(r.body["active"]["factory"], false);
    assert_eq!(served(&core).await, "2", "swapped before the answer");
    logged(
        &core,
        "active components' revision announced",
        2,
        SWAP_DEADLINE,
    )
    .await;
    assert!(
        !core.log().contains("cannot announce"),
        "the in-process channel takes every announcement:\n{}",
        core.log()
    );
    let listed = list(&core, &admin).await;
    let versioned = component(&listed, "versioned");
    assert!(versioned["stats"]["replica"].is_string(), "{versioned}");
    assert_eq!(versioned["stats"]["calls"], 1, "{versioned}");
    assert_eq!(versioned["stats"]["traps"], 0);

    let r = rollback(&core, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(served(&core).await, "1");
    let path = format!("/admin/components/versioned/versions/{v2}");
    let r = core
        .send(reqwest::Method::DELETE, &path, Some(&admin), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = rollback(&core, &admin).await;
    assert_eq!(
        r.status, 409,
        "the deleted version is no rollback target: {}",
        r.text
    );
    let versions = component(&list(&core, &admin).await, "versioned")["versions"].clone();
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");

    let actions = query_texts(
        &core,
        "SELECT action FROM audit_log WHERE target_type = 'component' AND actor_id IS NOT NULL \
         ORDER BY created_at, action DESC",
    )
    .await;
    assert_eq!(
        actions,
        [
            "component.upload",
            "component.activate",
            "component.rollback",
            "component.delete"
        ]
    );
}

/// A Core upgrade: a replica whose folder brings a new factory version activates it for every
/// replica — unless an operator chose the active version, which then stays through restarts
/// while the list offers the newer factory version beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_upgrade_activates_its_factory_versions_but_not_over_an_operator() {
    let mut old =
        Core::start_with(Backend::Servers, Options::default().components(COMPONENTS)).await;
    let admin = old.admin_token().await;
    assert_eq!(served(&old).await, "1");
    let mut upgraded = replica_of(&old).await;
    std::fs::write(
        upgraded.dir.path().join("components/versioned.wasm"),
        wasm("versioned_next"),
    )
    .expect("the new Core's bundled version");
    let started = Instant::now();
    upgraded.spawn().await;
    assert_eq!(
        served(&upgraded).await,
        "2",
        "the upgrade's factory version is active"
    );
    let took = all_serve(&[&old, &upgraded], "2", started).await;
    println!("upgrade: the older replica followed {took:?} after the new one started");
    let v2 = sha256(&wasm("versioned_next"));
    let listed = list(&old, &admin).await;
    let versioned = component(&listed, "versioned");
    assert_eq!(versioned["active"]["hash"], v2.as_str());
    assert_eq!(versioned["active"]["factory"], true);
    assert_eq!(
        versioned["active"]["activatedBy"],
        Value::Null,
        "the Core activated it"
    );

    // The operator goes back to the old version; restarts of either Core keep that choice.
    let r = rollback(&old, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    all_serve(&[&old, &upgraded], "1", Instant::now()).await;
    upgraded.stop();
    upgraded.spawn().await;
    old.stop();
    old.spawn().await;
    assert_eq!(
        served(&upgraded).await,
        "1",
        "the operator's choice stays after a restart"
    );
    assert_eq!(served(&old).await, "1");
    let listed = list(&upgraded, &admin).await;
    assert_eq!(
        component(&listed, "versioned")["newerFactory"],
        v2.as_str(),
        "the newer factory version is offered beside the operator's choice"
    );
}

/// An activation is announced: every replica serves it well before the database timer (2 s)
/// could have brought it, swap after swap, whichever replica activates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_swap_reaches_every_replica_before_the_timer_could() {
    let (a, b, c) = three_replicas(Options::default().components(COMPONENTS)).await;
    let admin = a.admin_token().await;
    let replicas = [&a, &b, &c];
    let r = upload(&a, Some(&admin), "?name=versioned", wasm("versioned_next")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let versions = [
        (sha256(&wasm("versioned_next")), "2"),
        (sha256(&wasm("versioned")), "1"),
    ];
    let mut took = Vec::new();
    for n in 0..ANNOUNCED_SWAPS {
        let (hash, version) = &versions[n % 2];
        let r = activate(replicas[n % 3], &admin, hash).await;
        assert_eq!(r.status, 200, "{}", r.text);
        took.push(all_serve(&replicas, version, Instant::now()).await);
    }
    println!("announced swaps: every replica served each one {took:?} after its answer");
    took.sort();
    let median = took[ANNOUNCED_SWAPS / 2];
    assert!(
        median <= ANNOUNCED_WITHIN,
        "every replica should serve a swap within {ANNOUNCED_WITHIN:?} of its answer (median \
         {median:?} of {took:?}): the announcement did not bring it"
    );
    for core in [&b, &c] {
        assert!(
            swaps_for(core, "announcement") > 0,
            "a replica that did not activate swapped on an announcement:\n{}",
            core.log()
        );
    }
}

/// Redis restarted (empty, every subscription gone): a swap right after still reaches every
/// replica, through the channel subscribed again or the timer; once every replica has
/// subscribed again, swaps are announced as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_a_swap_still_reaches_every_replica() {
    let mut redis = block_in_place(PrivateRedis::launch);
    let options = Options::default()
        .components(COMPONENTS)
        .env("REDIS_URL", &redis.url());
    let (a, b, c) = three_replicas(options).await;
    let admin = a.admin_token().await;
    let replicas = [&a, &b, &c];
    for core in replicas {
        logged(
            core,
            "subscribed to the redis channel",
            1,
            RESUBSCRIBED_WITHIN,
        )
        .await;
    }

    block_in_place(|| {
        redis.stop();
        redis.start();
    });
    let pushed = Instant::now();
    let r = upload(
        &b,
        Some(&admin),
        "?name=versioned&activate=true",
        wasm("versioned_next"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let took = all_serve(&replicas, "2", pushed).await;
    println!(
        "after the Redis restart: every replica served the new version {took:?} after the push"
    );

    for core in replicas {
        logged(
            core,
            "subscribed to the redis channel again",
            1,
            RESUBSCRIBED_WITHIN,
        )
        .await;
    }
    let announced_before = [swaps_for(&a, "announcement"), swaps_for(&c, "announcement")];
    let rolled = Instant::now();
    let r = rollback(&b, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let took = all_serve(&replicas, "1", rolled).await;
    println!("subscribed again: every replica served the rollback {took:?} after it");
    let announced_after = [swaps_for(&a, "announcement"), swaps_for(&c, "announcement")];
    assert!(
        announced_after
            .iter()
            .zip(announced_before)
            .all(|(after, before)| *after > before),
        "the other replicas swapped on the announcement once subscribed again \
         ({announced_before:?} -> {announced_after:?})"
    );
}
