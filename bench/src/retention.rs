//! Usage data over time (issue 20), on the servers backend (PostgreSQL + Redis):
//!
//! - **Rows and bytes per day**: one node's day — 24 hourly `POST /node/usage` reports of
//!   [`REPORT_CLIENTS`] clients (one per hour of yesterday) and 24 outbound reports of
//!   [`TAGS`] tags, counted by the real `usage` pass — then `VACUUM ANALYZE` and each usage
//!   table's size with its indexes (`pg_total_relation_size`) over its rows; report ids are
//!   [`REPORT_IDS`] rows written as `/node/*` writes them. Bytes per subscriber and day follow.
//! - **Counting under load**: [`NODES`] registered nodes each send a report of
//!   [`REPORT_CLIENTS`] clients once a minute (one every [`REPORT_EVERY`], in turn) for
//!   [`SUSTAIN`], counted by the real `usage` job; the inbox is sampled every second, and every
//!   byte sent must be counted: the time until then over the reports is the job's time per
//!   report while it keeps busy.
//! - **Rollup**: yesterday's hours moved past the retention, then `POST /admin/usage/rollup`
//!   until done: rows deleted per second.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};
use sqlx::PgConnection;

use crate::api::{call, CALL_TIMEOUT};
use crate::child::{Backend, Core, Setup};
use crate::load::{self, Target};
use crate::report::Section;
use crate::seed::{self, now_ms};
use crate::settings::Settings;

/// Subscribers seeded; node `i` reports clients `(i % 10) × 10,000` onwards.
pub const CLIENTS: u64 = 100_000;
pub const NODES: usize = 100;
pub const REPORT_CLIENTS: usize = 10_000;
/// 100 nodes once a minute.
pub const REPORT_EVERY: Duration = Duration::from_millis(600);
pub const SUSTAIN: Duration = Duration::from_secs(180);
/// Outbound tags per node.
pub const TAGS: usize = 5;
/// `node_reports` rows measured.
pub const REPORT_IDS: i64 = 100_000;
/// A subscriber's day: active every hour on one node (the most rows a day can hold).
pub const HOURS: i64 = 24;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const COMPONENTS: [&str; 4] = ["auth", "billing", "nodes", "usage"];
const JOB_HOLD: Duration = Duration::from_secs(4 * 3600);
/// Bytes each client sends up and down in every report.
const UP: i64 = 1;
const DOWN: i64 = 2;

/// One usage table after one node's day.
pub struct TableSize {
    pub table: &'static str,
    pub rows: i64,
    /// With its indexes.
    pub bytes: i64,
}

impl TableSize {
    pub fn per_row(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.bytes as f64 / self.rows as f64
        }
    }
}

pub struct Counting {
    /// One 10,000-client report counted alone (`POST /admin/nodes/sync` in the day's hours).
    pub alone: Vec<Duration>,
    pub sent: usize,
    /// Reports counted by the end (all of them, unless the count fell behind for good).
    pub counted: i64,
    /// From the first report sent until the last one was counted (or the wait ended).
    pub took: Duration,
    /// Most reports seen waiting in `usage_inbox` (sampled every second).
    pub backlog_max: i64,
    /// Waiting when the last report was sent.
    pub backlog_at_end: i64,
}

impl Counting {
    /// The median time to count one report alone.
    pub fn alone_median(&self) -> Duration {
        let mut sorted = self.alone.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }

    /// The `usage` job's time per report: while reports wait it counts without pause, so
    /// the whole time over the reports is its time per report (an upper bound when it idled).
    pub fn per_report(&self) -> Duration {
        self.took / u32::try_from(self.counted.max(1)).unwrap_or(u32::MAX)
    }
}

pub struct Rollup {
    pub rows: u64,
    pub took: Duration,
    pub passes: usize,
}

pub struct RetentionRun {
    pub sizes: Vec<TableSize>,
    pub counting: Counting,
    pub rollup: Rollup,
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<RetentionRun> {
    match measure(settings, &backend).await {
        Ok(run) => Section::Done(run),
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(settings: &Settings, backend: &Backend) -> anyhow::Result<RetentionRun> {
    let setup = Setup {
        components: &COMPONENTS,
        env: Vec::new(),
    };
    let core = Core::start(settings, backend, &setup).await?;
    let outcome = measure_on(&core, settings).await;
    core.stop().await;
    outcome
}

async fn measure_on(core: &Core, settings: &Settings) -> anyhow::Result<RetentionRun> {
    for (component, job) in [
        ("nodes", "usage"),
        ("nodes", "revisions"),
        ("usage", "rollup"),
    ] {
        core.hold_job_lock(component, job, JOB_HOLD).await?;
    }
    let mut db = core.connect_database("retention").await?;
    let admin = core.admin_token(settings).await?;
    let tariff = seed::tariff(&mut db).await?;
    seed::clients(&mut db, &tariff, 1, CLIENTS).await?;
    let keys = nodes(&mut db).await?;
    let links: Vec<String> = sqlx::query_scalar("SELECT id FROM subscription_links ORDER BY id")
        .fetch_all(&mut db)
        .await
        .context("cannot read link ids")?;
    let bodies = client_lists(&links)?;

    eprintln!("   one node's day: 24 reports of {REPORT_CLIENTS} clients");
    let alone = one_day(core, &admin, &keys[0], &bodies[0]).await?;
    let sizes = sizes(&mut db, &keys[0].0).await?;
    for s in &sizes {
        eprintln!(
            "     {}: {} rows, {} bytes ({:.0} a row)",
            s.table,
            s.rows,
            s.bytes,
            s.per_row()
        );
    }
    let rollup = rollup(core, &admin, &mut db).await?;
    eprintln!(
        "   rollup: {} rows in {:.2} s",
        rollup.rows,
        rollup.took.as_secs_f64()
    );
    eprintln!("   counting: {NODES} nodes, a report every {REPORT_EVERY:?} for {SUSTAIN:?}");
    let mut counting = sustained(core, &keys, &bodies, &mut db).await?;
    counting.alone = alone;
    Ok(RetentionRun {
        sizes,
        counting,
        rollup,
    })
}

/// [`NODES`] nodes, built already (so no pass builds their configs), each with an agent key;
/// (node id, key).
async fn nodes(db: &mut PgConnection) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(NODES);
    let now = now_ms();
    for i in 0..NODES {
        let (id, key) = (format!("bench-node-{i}"), uuid::Uuid::new_v4().to_string());
        sqlx::query(
            "INSERT INTO nodes (id, name, address, revision, config_hash, created_at, updated_at) \
             VALUES ($1, $1, 'node.example.com', 1, 'bench', $2, $2)",
        )
        .bind(&id)
        .bind(now)
        .execute(&mut *db)
        .await
        .context("cannot seed a node")?;
        sqlx::query(
            "INSERT INTO node_credentials (key_hash, node_id, created_at) \
             VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), $2, $3)",
        )
        .bind(&key)
        .bind(&id)
        .bind(now)
        .execute(&mut *db)
        .await
        .context("cannot seed a node key")?;
        out.push((id, key));
    }
    Ok(out)
}

/// The `clients` JSON array of each of the 10 client lists.
fn client_lists(links: &[String]) -> anyhow::Result<Vec<String>> {
    ensure!(
        links.len() >= 10 * REPORT_CLIENTS,
        "{} links seeded",
        links.len()
    );
    Ok(links
        .chunks(REPORT_CLIENTS)
        .take(10)
        .map(|chunk| {
            let clients: Vec<Value> = chunk
                .iter()
                .map(|name| json!({ "name": name, "up": UP, "down": DOWN }))
                .collect();
            Value::Array(clients).to_string()
        })
        .collect())
}

fn usage_body(clients: &str, at: i64) -> Bytes {
    let id = uuid::Uuid::new_v4();
    Bytes::from(format!(
        "{{\"reportId\":\"{id}\",\"collectedAt\":{at},\"clients\":{clients}}}"
    ))
}

async fn send(core: &Core, key: &str, path: &str, body: Bytes) -> anyhow::Result<()> {
    let target = Target {
        node_key: Some(key.to_string()),
        ..core.target(path, None)
    };
    let (status, reply, _) = load::timed(&target, Method::POST, Some(body), CALL_TIMEOUT).await?;
    ensure!(
        status.as_u16() == 200,
        "POST {path} answered {status}: {}",
        String::from_utf8_lossy(&reply)
    );
    Ok(())
}

/// `POST /admin/nodes/sync`: (reports counted, time).
async fn sync(core: &Core, admin: &str) -> anyhow::Result<(u32, Duration)> {
    let target = core.target("/admin/nodes/sync", Some(admin));
    let (status, reply, took) = load::timed(&target, Method::POST, None, CALL_TIMEOUT).await?;
    let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
    ensure!(
        status.as_u16() == 200,
        "POST /admin/nodes/sync answered {status}: {reply}"
    );
    let reports = reply["usageReports"].as_u64().unwrap_or(0);
    Ok((u32::try_from(reports)?, took))
}

/// Yesterday's 24 hours of one node: client and outbound reports, counted.
async fn one_day(
    core: &Core,
    admin: &str,
    (_, key): &(String, String),
    clients: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut alone = Vec::new();
    let yesterday = now_ms() / DAY_MS * DAY_MS - DAY_MS;
    for hour in 0..HOURS {
        let at = yesterday + hour * HOUR_MS;
        send(core, key, "/node/usage", usage_body(clients, at)).await?;
        let tags: Vec<Value> = (0..TAGS)
            .map(|t| json!({ "tag": format!("out-{t}"), "up": 10, "down": 20 }))
            .collect();
        let body = json!({ "reportId": uuid::Uuid::new_v4().to_string(), "collectedAt": at,
                           "outbounds": tags });
        send(
            core,
            key,
            "/node/outbound-usage",
            Bytes::from(body.to_string()),
        )
        .await?;
        let (counted, took) = sync(core, admin).await?;
        ensure!(counted == 1, "hour {hour}: {counted} reports counted");
        alone.push(took);
    }
    Ok(alone)
}

/// Each usage table's rows and bytes after `VACUUM ANALYZE`; report ids measured on
/// [`REPORT_IDS`] rows shaped as the routes write them (removed afterwards).
async fn sizes(db: &mut PgConnection, node: &str) -> anyhow::Result<Vec<TableSize>> {
    sqlx::query(
        "INSERT INTO node_reports (node_id, report_id, kind, received_at) \
         SELECT $1, gen_random_uuid()::text, 'usage', $2 + i FROM generate_series(1, $3) AS i",
    )
    .bind(node)
    .bind(now_ms())
    .bind(REPORT_IDS)
    .execute(&mut *db)
    .await
    .context("cannot write report ids")?;
    let tables = [
        "traffic_hourly",
        "traffic_daily",
        "outbound_traffic_hourly",
        "outbound_traffic_daily",
        "node_reports",
    ];
    sqlx::raw_sql(&format!("VACUUM ANALYZE {}", tables.join(", ")))
        .execute(&mut *db)
        .await
        .context("cannot VACUUM ANALYZE")?;
    let mut out = Vec::new();
    for table in tables {
        let (rows, bytes): (i64, i64) = sqlx::query_as(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(pg_total_relation_size('{table}') AS BIGINT) \
             FROM {table}"
        ))
        .fetch_one(&mut *db)
        .await
        .with_context(|| format!("cannot size {table}"))?;
        out.push(TableSize { table, rows, bytes });
    }
    sqlx::query("DELETE FROM node_reports WHERE kind = 'usage' AND node_id = $1")
        .bind(node)
        .execute(&mut *db)
        .await?;
    Ok(out)
}

/// Yesterday's hours moved 100 days back (past the default 90 days' retention), then rollup
/// passes until one is done.
async fn rollup(core: &Core, admin: &str, db: &mut PgConnection) -> anyhow::Result<Rollup> {
    let back = 100 * DAY_MS;
    for table in ["traffic_hourly", "outbound_traffic_hourly"] {
        sqlx::query(&format!("UPDATE {table} SET hour = hour - $1"))
            .bind(back)
            .execute(&mut *db)
            .await
            .with_context(|| format!("cannot age {table}"))?;
    }
    sqlx::raw_sql("VACUUM ANALYZE traffic_hourly, outbound_traffic_hourly")
        .execute(&mut *db)
        .await?;
    let started = Instant::now();
    let (mut rows, mut passes) = (0u64, 0usize);
    loop {
        let pass = call(
            core,
            Method::POST,
            "/admin/usage/rollup",
            Some(admin),
            Some(&json!({})),
            200,
        )
        .await?;
        passes += 1;
        for field in ["trafficHourly", "outboundTrafficHourly", "usageHourly"] {
            rows += pass[field].as_u64().unwrap_or(0);
        }
        if pass["done"] == true {
            break;
        }
    }
    let took = started.elapsed();
    let left: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM traffic_hourly")
        .fetch_one(&mut *db)
        .await?;
    ensure!(left == 0, "{left} hourly rows left after the rollup");
    Ok(Rollup { rows, took, passes })
}

async fn waiting(db: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM usage_inbox")
            .fetch_one(&mut *db)
            .await?,
    )
}

async fn used(db: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(traffic_used_bytes), 0) AS BIGINT) FROM subscriptions",
    )
    .fetch_one(&mut *db)
    .await?)
}

/// How long the count may go without counting anything before it is taken to have stalled.
const STALL: Duration = Duration::from_secs(60);

/// Reports from every node in turn, one every [`REPORT_EVERY`], counted by the real `usage`
/// job (every second, up to 50 waiting reports a tick); the inbox sampled every second.
async fn sustained(
    core: &Core,
    keys: &[(String, String)],
    bodies: &[String],
    db: &mut PgConnection,
) -> anyhow::Result<Counting> {
    let used_before = used(db).await?;
    // Let the job tick again (the lock held so far goes in a millisecond).
    core.hold_job_lock("nodes", "usage", Duration::from_millis(1))
        .await?;
    let started = Instant::now();
    let sending = std::cell::Cell::new(true);
    let sender = async {
        let mut sent = 0usize;
        let mut tick = tokio::time::interval(REPORT_EVERY);
        while started.elapsed() < SUSTAIN {
            tick.tick().await;
            let (_, key) = &keys[sent % NODES];
            let body = usage_body(&bodies[sent % NODES % 10], now_ms());
            send(core, key, "/node/usage", body).await?;
            sent += 1;
        }
        sending.set(false);
        anyhow::Ok(sent)
    };
    let sampler = async {
        let (mut most, mut tick) = (0, tokio::time::interval(Duration::from_secs(1)));
        while sending.get() {
            tick.tick().await;
            most = most.max(waiting(db).await?);
        }
        let at_end = waiting(db).await?;
        anyhow::Ok((most.max(at_end), at_end))
    };
    let (sent, (backlog_max, backlog_at_end)) = tokio::try_join!(sender, sampler)?;
    let per_report = REPORT_CLIENTS as i64 * (UP + DOWN);
    let (mut grown, mut progress) = (used(db).await? - used_before, Instant::now());
    while grown < sent as i64 * per_report && progress.elapsed() < STALL {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = used(db).await? - used_before;
        if now > grown {
            (grown, progress) = (now, Instant::now());
        }
    }
    let took = if grown < sent as i64 * per_report {
        started.elapsed() - STALL
    } else {
        started.elapsed()
    };
    Ok(Counting {
        alone: Vec::new(),
        sent,
        counted: grown / per_report,
        took,
        backlog_max,
        backlog_at_end,
    })
}
