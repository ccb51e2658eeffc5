//! `nexuma-bench --scale` (issue 20): how the Core's figures grow with the number of users, on
//! the servers backend (PostgreSQL + Redis). One Core and one database, grown from 10,000 to
//! 100,000 to 1,000,000 clients (each an active user who can log in, an active subscription and
//! an enabled link; one free tariff for every node, so every client is permitted on every one
//! of the [`subscriptions::NODES`] nodes × 3 protocols). At each size:
//!
//! - `GET /sub/:uuid` (v2ray) warm and cold, as the subscriptions part loads it, the cold links
//!   a random sample of the whole population;
//! - `GET /me` with access tokens of [`TOKENS`] random users;
//! - `POST /auth/login` of random users, [`LOGIN_WORKERS`] at a time;
//! - `GET /admin/users`: the first page and a deep one (page [`DEEP_PAGE`], or the last full
//!   page when there are fewer), the deep one by the `after` cursor of the row before it;
//! - a usage report of 10,000 clients taken and counted (the nodes part's ingest);
//! - one node's config build (every client is on it) after an edit of that node's inbounds;
//! - the Core's RSS (now and peak) and the database's size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;

use crate::api::{call, CALL_TIMEOUT};
use crate::child::{self, Core, Setup};
use crate::load::{self, Outcome, Plan, Target, Varied, Vary};
use crate::memory::Rss;
use crate::nodes::{self, Ingest};
use crate::report::Section;
use crate::seed;
use crate::settings::Settings;
use crate::stats::Latencies;
use crate::subscriptions::{self, BenchNode, Format, LoadRun, Mode};

/// The sizes measured, in order; each seeds the difference to the one before.
pub const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// Clients per seeding statement: big enough to be set-based, small enough that one statement's
/// transaction stays modest.
pub const SEED_CHUNK: u64 = 50_000;
/// The `nodes` component builds a config of every client in its memory; a million clients do
/// not fit the default 64 MiB (100,000 take 30 MiB).
pub const MEMORY_CAP_MB: u64 = 1024;
/// A call's deadline, raised from the default 10 s so a million-client build is measured even
/// when it takes longer (the report says when it would not have made the default).
pub const TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Every seeded client's password.
const PASSWORD: &str = "bench-user-password-1";
/// Links the cold `/sub` run rotates through: a random sample of the population.
pub const COLD_SAMPLE: i64 = 200_000;
/// Users whose access tokens `GET /me` rotates through.
pub const TOKENS: i64 = 10_000;
/// Concurrent logins: argon2 runs on the blocking pool, one hash per vCPU.
pub const LOGIN_WORKERS: usize = 2;
/// Connections of the `/admin/users` runs: a few operators at once.
pub const ADMIN_CONNECTIONS: usize = 4;
/// The deep page of `/admin/users`, at its default page size.
pub const DEEP_PAGE: u64 = 10_000;
pub const PAGE_SIZE: u64 = 50;
/// Timed config builds per size.
pub const BUILD_RUNS: usize = 3;
/// Timed usage reports per size.
pub const USAGE_RUNS: usize = 5;
/// Longer than any run, so the nodes jobs never tick while the bench runs.
const JOB_HOLD: Duration = Duration::from_secs(4 * 3600);
const COMPONENTS: [&str; 4] = ["auth", "billing", "nodes", "subscriptions"];

pub struct ScaleRun {
    pub sizes: Vec<SizeRow>,
    pub total: Duration,
    /// PostgreSQL's `shared_buffers` during the run: whether the hot indexes fit decides the
    /// cold figures at a million.
    pub shared_buffers: String,
}

pub struct SizeRow {
    pub users: u64,
    /// Seeding the difference to the size before, `VACUUM ANALYZE` included.
    pub seeded_in: Duration,
    pub outcome: Result<SizeFigures, String>,
}

pub struct SizeFigures {
    pub warm: LoadRun,
    pub cold: LoadRun,
    pub me: Outcome,
    pub login: Outcome,
    pub users_first: Outcome,
    /// The deep page's number and its load.
    pub users_deep: (u64, Outcome),
    pub ingest: Result<Ingest, String>,
    pub build: Result<Build, String>,
    pub rss: Option<Rss>,
    pub database_bytes: i64,
}

pub struct Build {
    pub runs: Vec<Duration>,
    /// Clients in the stored config.
    pub clients: i64,
    pub config_bytes: i64,
}

impl Build {
    pub fn median(&self) -> Duration {
        let mut sorted = self.runs.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

pub async fn run(settings: &Settings) -> Section<ScaleRun> {
    let backend = match child::servers_reachable(settings).await {
        Ok(backend) => backend,
        Err(reason) => return Section::Skipped(reason),
    };
    let started = Instant::now();
    let setup = Setup {
        components: &COMPONENTS,
        env: vec![
            ("COMPONENT_MEMORY_MB".into(), MEMORY_CAP_MB.to_string()),
            ("COMPONENT_TIMEOUT_MS".into(), TIMEOUT_MS.to_string()),
        ],
    };
    let core = match Core::start(settings, &backend, &setup).await {
        Ok(core) => core,
        Err(e) => return Section::Failed(format!("{e:#}")),
    };
    let result = grow(settings, &core).await;
    core.stop().await;
    match result {
        Ok((sizes, shared_buffers)) => Section::Done(ScaleRun {
            sizes,
            total: started.elapsed(),
            shared_buffers,
        }),
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

/// What every size shares: the Core's administrator, nodes and tariff.
struct Fleet {
    admin: String,
    nodes: Vec<BenchNode>,
    tariff: String,
}

/// Sets up, then seeds and measures each size in turn. A size's failed measurement is its own
/// row; a failed seeding ends the run.
/// Every size's figures, and PostgreSQL's `shared_buffers`.
async fn grow(settings: &Settings, core: &Core) -> anyhow::Result<(Vec<SizeRow>, String)> {
    core.hold_job_lock("nodes", "revisions", JOB_HOLD).await?;
    core.hold_job_lock("nodes", "usage", JOB_HOLD).await?;
    let mut db = core.connect_database("scale").await?;
    let shared_buffers: String = sqlx::query_scalar("SHOW shared_buffers")
        .fetch_one(&mut db)
        .await
        .context("cannot read PostgreSQL's shared_buffers")?;
    let mut second = core.connect_database("scale").await?;
    let admin = core.admin_token(settings).await?;
    let nodes = subscriptions::create_nodes(core, &admin).await?;
    let fleet = Fleet {
        tariff: seed::tariff(&mut db).await?,
        admin,
        nodes,
    };
    let hash = nexuma_host::iface::passwords::hash(PASSWORD.into()).await?;
    let mut rows = Vec::new();
    let mut seeded = 0;
    for users in SIZES {
        eprintln!("== Scale: {users} users");
        let started = Instant::now();
        seed_to(&mut db, &mut second, &fleet.tariff, &hash, seeded, users).await?;
        seeded = users;
        let seeded_in = started.elapsed();
        eprintln!("   seeded in {:.1} s", seeded_in.as_secs_f64());
        let outcome = measure(settings, core, &mut db, &fleet, users)
            .await
            .map_err(|e| {
                eprintln!("   failed: {e:#}");
                format!("{e:#}")
            });
        rows.push(SizeRow {
            users,
            seeded_in,
            outcome,
        });
    }
    let _ = second.close().await;
    let _ = db.close().await;
    Ok((rows, shared_buffers))
}

/// Clients `from + 1` to `to`, in chunks, two statements at a time on two connections (the
/// machine's two vCPUs; the rows are disjoint, so they never wait on each other), then
/// `VACUUM ANALYZE` as autovacuum would leave tables this size.
async fn seed_to(
    db: &mut PgConnection,
    second: &mut PgConnection,
    tariff: &str,
    hash: &str,
    from: u64,
    to: u64,
) -> anyhow::Result<()> {
    let mut next = from + 1;
    while next <= to {
        let a = (next, (next + SEED_CHUNK - 1).min(to));
        let b = (a.1 + 1, (a.1 + SEED_CHUNK).min(to));
        if b.0 <= b.1 {
            let (x, y) = tokio::join!(
                seed::clients_with_login(db, tariff, a.0, a.1, hash),
                seed::clients_with_login(second, tariff, b.0, b.1, hash),
            );
            x?;
            y?;
            next = b.1 + 1;
        } else {
            seed::clients_with_login(db, tariff, a.0, a.1, hash).await?;
            next = a.1 + 1;
        }
    }
    sqlx::raw_sql("VACUUM ANALYZE users, subscriptions, subscription_links")
        .execute(&mut *db)
        .await
        .context("cannot VACUUM ANALYZE the seeded tables")?;
    // The seed leaves gigabytes of dirty pages; written back during the runs, they stalled
    // requests behind the disk and showed as the seed's cost in the p99 of the larger sizes.
    sqlx::raw_sql("CHECKPOINT")
        .execute(&mut *db)
        .await
        .context("cannot CHECKPOINT after seeding")?;
    Ok(())
}

async fn measure(
    settings: &Settings,
    core: &Core,
    db: &mut PgConnection,
    fleet: &Fleet,
    users: u64,
) -> anyhow::Result<SizeFigures> {
    let (warm, cold) = subscription_runs(settings, core, db).await?;
    let me = me_run(settings, core, db).await?;
    let login = login_run(settings, core, users).await?;
    let (users_first, users_deep) = admin_users_runs(settings, core, db, &fleet.admin).await?;
    eprintln!(
        "   usage: {USAGE_RUNS} reports of {} clients",
        nodes::REPORT_CLIENTS
    );
    let node = &fleet.nodes[0];
    let ingest = nodes::ingest(
        core,
        db,
        &fleet.admin,
        &node.id,
        node.key.clone(),
        USAGE_RUNS,
    )
    .await
    .map_err(|e| {
        eprintln!("     failed: {e:#}");
        format!("{e:#}")
    });
    let build = builds(core, db, &fleet.admin, node, users)
        .await
        .map_err(|e| {
            eprintln!("     failed: {e:#}");
            format!("{e:#}")
        });
    let rss = Rss::of(core);
    let database_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut *db)
        .await
        .context("cannot read the database's size")?;
    eprintln!(
        "   {}, database {:.1} MiB",
        rss.map_or_else(|| "RSS not read".into(), |r| r.describe()),
        database_bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(SizeFigures {
        warm,
        cold,
        me,
        login,
        users_first,
        users_deep,
        ingest,
        build,
        rss,
        database_bytes,
    })
}

fn plan(settings: &Settings, connections: usize) -> Plan {
    Plan {
        warmup: settings.warmup,
        measure: settings.measure,
        connections,
    }
}

/// `/sub/:uuid` (v2ray) checked, then warm over [`subscriptions::WARM_LINKS`] links cached
/// beforehand and cold over [`COLD_SAMPLE`] random links.
async fn subscription_runs(
    settings: &Settings,
    core: &Core,
    db: &mut PgConnection,
) -> anyhow::Result<(LoadRun, LoadRun)> {
    let sample: Vec<String> =
        sqlx::query_scalar("SELECT uuid FROM subscription_links ORDER BY random() LIMIT $1")
            .bind(COLD_SAMPLE)
            .fetch_all(&mut *db)
            .await
            .context("cannot sample the links' UUIDs")?;
    ensure!(
        sample.len() >= subscriptions::WARM_LINKS,
        "only {} links to load",
        sample.len()
    );
    let format = Format::V2ray;
    eprintln!("   {} ({})", format.name(), format.route());
    subscriptions::check(core, format, &sample[0]).await?;
    let warm_links = Arc::new(sample[..subscriptions::WARM_LINKS].to_vec());
    subscriptions::cache(core, format, &warm_links).await?;
    let warm = subscriptions::load_run(settings, core, format, warm_links, Mode::Warm).await?;
    let cold =
        subscriptions::load_run(settings, core, format, Arc::new(sample), Mode::Cold).await?;
    Ok((warm, cold))
}

/// `GET /me` with the tokens of [`TOKENS`] random users in rotation, one answer checked first.
async fn me_run(
    settings: &Settings,
    core: &Core,
    db: &mut PgConnection,
) -> anyhow::Result<Outcome> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE role = 'user' ORDER BY random() LIMIT $1")
            .bind(TOKENS)
            .fetch_all(&mut *db)
            .await
            .context("cannot sample the users")?;
    ensure!(!ids.is_empty(), "no users to sign in as");
    let tokens = Arc::new(seed::access_tokens(&ids)?);
    let me = call(core, Method::GET, "/me", Some(&tokens[0]), None, 200).await?;
    ensure!(
        me["id"] == ids[0].as_str(),
        "GET /me answered another user: {me}"
    );
    eprintln!("   GET /me, {} users in turn", tokens.len());
    let count = tokens.len() as u64;
    let target = Target {
        vary: Some(Vary::new(move |n| Varied {
            path: "/me".into(),
            user_agent: None,
            // In range: `count` is the list's length and not zero.
            bearer: Some(tokens[(n % count) as usize].clone()),
        })),
        ..core.target("/me", None)
    };
    let outcome = load::run(&target, &plan(settings, settings.connections)).await?;
    load::print_outcome(&outcome);
    Ok(outcome)
}

/// `POST /auth/login` of random seeded users, [`LOGIN_WORKERS`] closed loops of one request at
/// a time (each on a connection of its own: the hash dwarfs the connect), for the usual warm-up
/// and measured window. A login counts when it answers 200 with an access token.
async fn login_run(settings: &Settings, core: &Core, users: u64) -> anyhow::Result<Outcome> {
    eprintln!("   POST /auth/login, random users of {users}, {LOGIN_WORKERS} at a time");
    let start = Instant::now() + settings.warmup;
    let end = start + settings.measure;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..LOGIN_WORKERS {
        let target = core.target("/auth/login", None);
        let next = Arc::clone(&next);
        workers.spawn(async move {
            let mut latencies = Latencies::new()?;
            let (mut errors, mut answered, mut first_error) = (0u64, 0u64, None);
            while Instant::now() < end {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let body =
                    json!({ "email": seed::login_email(spread(n, users)), "password": PASSWORD });
                let sent = Instant::now();
                let result = load::timed(
                    &target,
                    Method::POST,
                    Some(Bytes::from(body.to_string())),
                    CALL_TIMEOUT,
                )
                .await;
                let done = Instant::now();
                let counted = done >= start && done < end;
                let failure = match &result {
                    Ok((status, reply, _)) => {
                        answered += 1;
                        let token = serde_json::from_slice::<Value>(reply)
                            .ok()
                            .and_then(|v| v["accessToken"].as_str().map(str::to_string));
                        (status.as_u16() != 200 || token.is_none())
                            .then(|| format!("{status}: {}", String::from_utf8_lossy(reply)))
                    }
                    Err(e) => Some(format!("{e:#}")),
                };
                match failure {
                    None if counted => latencies.record(done - sent),
                    None => {}
                    Some(e) if counted => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(e);
                        }
                    }
                    Some(_) => {}
                }
            }
            anyhow::Ok((latencies, errors, answered, first_error))
        });
    }
    let mut latencies = Latencies::new()?;
    let (mut errors, mut answered, mut first_error) = (0, 0, None);
    while let Some(joined) = workers.join_next().await {
        let (l, e, a, f) = joined.context("a login task panicked")??;
        latencies.merge(&l)?;
        errors += e;
        answered += a;
        first_error = first_error.or(f);
    }
    let outcome = Outcome {
        per_sec: latencies.count() as f64 / settings.measure.as_secs_f64(),
        latency: latencies.summary(),
        errors,
        first_error,
        connects: answered,
        answered,
    };
    load::print_outcome(&outcome);
    Ok(outcome)
}

/// The `n`-th login's client, 1 to `users`: a stride coprime with any size this run takes
/// (a prime), so the logins spread over the whole population and no email repeats soon.
fn spread(n: u64, users: u64) -> u64 {
    const STRIDE: u64 = 7_919;
    (n.wrapping_mul(STRIDE) % users.max(1)) + 1
}

/// `GET /admin/users` at its default page size: the first page, then the deep page (page
/// [`DEEP_PAGE`], or the last full one), asked for as a client paging with `after` would: by
/// the cursor of the row just before it, computed here from that row (the route's cursor
/// format, SDK `cursor::Position`: URL-safe base64 of `[offset, [created_at, id]]`).
async fn admin_users_runs(
    settings: &Settings,
    core: &Core,
    db: &mut PgConnection,
    admin: &str,
) -> anyhow::Result<(Outcome, (u64, Outcome))> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *db)
        .await?;
    let total = u64::try_from(total)?;
    let page = DEEP_PAGE.min(total / PAGE_SIZE).max(2);
    let before = (page - 1) * PAGE_SIZE;
    let (created_at, id): (i64, String) = sqlx::query_as(
        "SELECT created_at, id FROM users ORDER BY created_at, id OFFSET $1 LIMIT 1",
    )
    .bind(i64::try_from(before - 1)?)
    .fetch_one(&mut *db)
    .await
    .context("cannot read the row before the deep page")?;
    let deep_path = format!(
        "/admin/users?after={}",
        cursor(i64::try_from(before)?, created_at, &id)
    );
    let first = call(core, Method::GET, "/admin/users", Some(admin), None, 200).await?;
    ensure!(
        first["total"].as_u64() == Some(total)
            && first["items"].as_array().map(Vec::len) == Some(PAGE_SIZE as usize),
        "GET /admin/users: not the first page of {total} users: total {}",
        first["total"]
    );
    let deep = call(core, Method::GET, &deep_path, Some(admin), None, 200).await?;
    ensure!(
        deep["offset"].as_u64() == Some(before)
            && deep["items"].as_array().map(Vec::len) == Some(PAGE_SIZE as usize),
        "GET /admin/users?after=…: not page {page} (offset {before}): offset {}",
        deep["offset"]
    );
    let plan = plan(settings, ADMIN_CONNECTIONS);
    eprintln!("   GET /admin/users (page 1 of {total} users)");
    let first = load::run(&core.target("/admin/users", Some(admin)), &plan).await?;
    load::print_outcome(&first);
    eprintln!("   GET /admin/users?after=… (page {page})");
    let deep = load::run(&core.target(&deep_path, Some(admin)), &plan).await?;
    load::print_outcome(&deep);
    Ok((first, (page, deep)))
}

/// The SDK's `cursor::Position` encoding: the items before the page, then the sort key.
fn cursor(offset: i64, created_at: i64, id: &str) -> String {
    use base64::Engine as _;
    let wire = json!([offset, [created_at, id]]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(wire)
}

/// [`BUILD_RUNS`] timed builds of `node`'s config, each after its VMess path was changed
/// (`PATCH /admin/nodes/:id`, a node-facing change of that node only), each a
/// `POST /admin/nodes/sync` that must build that one node and store a new revision; then the
/// stored config must list every client.
async fn builds(
    core: &Core,
    db: &mut PgConnection,
    admin: &str,
    node: &BenchNode,
    users: u64,
) -> anyhow::Result<Build> {
    eprintln!("   build: one node's config, {users} clients, {BUILD_RUNS} passes");
    let mut runs = Vec::with_capacity(BUILD_RUNS);
    for pass in 1..=BUILD_RUNS {
        let mut body = subscriptions::node(1, &node.reality_private_key);
        body["inbounds"][1]["path"] = json!(format!("/vm-{users}-{pass}"));
        call(
            core,
            Method::PATCH,
            &format!("/admin/nodes/{}", node.id),
            Some(admin),
            Some(&json!({ "inbounds": body["inbounds"] })),
            200,
        )
        .await?;
        let mark = core.log_mark();
        let (status, reply, took) = load::timed(
            &core.target("/admin/nodes/sync", Some(admin)),
            Method::POST,
            Some(Bytes::from_static(b"{}")),
            CALL_TIMEOUT,
        )
        .await?;
        let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        // An error answer names no cause (a trap, say); the Core's log does.
        let logged = || {
            core.errors_since(mark)
                .ok()
                .and_then(|l| l.first)
                .map_or_else(String::new, |line| format!("; the Core logged: {line}"))
        };
        let built = status.as_u16() == 200 && reply["revisionsBumped"] == 1;
        // A build the component refused (too many clients, say) is shown on the node.
        let refusal = if built {
            String::new()
        } else {
            let shown = call(
                core,
                Method::GET,
                &format!("/admin/nodes/{}", node.id),
                Some(admin),
                None,
                200,
            )
            .await
            .unwrap_or(Value::Null);
            match shown["lastError"]["message"].as_str() {
                Some(message) => format!("; the node shows: {message}"),
                None => String::new(),
            }
        };
        ensure!(
            built && reply["nodesBuilt"] == 1,
            "POST /admin/nodes/sync did not build and store one new revision ({status}): \
             {reply}{}{refusal}",
            logged()
        );
        eprintln!("     pass {pass}: {:.0} ms", took.as_secs_f64() * 1000.0);
        runs.push(took);
    }
    let (clients, config_bytes): (i64, i64) = sqlx::query_as(
        "SELECT clients, CAST(octet_length(body) AS BIGINT) FROM node_configs WHERE node_id = $1",
    )
    .bind(&node.id)
    .fetch_one(&mut *db)
    .await
    .context("cannot read the stored config")?;
    ensure!(
        u64::try_from(clients).ok() == Some(users),
        "the stored config lists {clients} clients, {users} expected"
    );
    Ok(Build {
        runs,
        clients,
        config_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_spread_over_every_user() {
        let users = 10_000;
        let picked: std::collections::BTreeSet<u64> =
            (0..users).map(|n| spread(n, users)).collect();
        assert_eq!(picked.len() as u64, users);
        assert_eq!(picked.first(), Some(&1));
        assert_eq!(picked.last(), Some(&users));
    }

    #[test]
    fn the_cursor_is_the_routes() {
        // As the SDK encodes Position { offset: 4, key: (5, "u") }: base64 of `[4,[5,"u"]]`.
        assert_eq!(cursor(4, 5, "u"), "WzQsWzUsInUiXV0");
    }
}
