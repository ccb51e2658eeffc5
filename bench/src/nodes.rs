//! The `nodes` component at the sizes of its issue, on the servers backend (PostgreSQL + Redis):
//!
//! - **Config build**: one node with three inbounds, N clients seeded straight into PostgreSQL
//!   (one free tariff for every node, N users, N active subscriptions, N enabled links), then
//!   timed `POST /admin/nodes/sync` passes, each after an administrator reset one link's UUID
//!   (`POST /admin/subscriptions/links/:id/reset`), so every pass really builds and stores a new
//!   revision. For every size: the config's size and the `nodes` component's memory peak.
//! - **Usage ingest**: the node registered with a one-time code, then timed `POST /node/usage`
//!   reports of 10,000 clients, each checked (200, not a duplicate) and, at the end, the
//!   subscriptions' used traffic checked against what was sent.
//!
//! The `revisions` job would otherwise take the outbox rows the timed pass is meant to take, or
//! build the same config at the same time: the run holds that job's key-value lock, as another
//! replica running it would, so every build is the timed one.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::api::{call, raw, CALL_TIMEOUT};
use crate::child::{Backend, Core, Setup};
use crate::cpu::{self, Snapshot};
use crate::load::{self, Target};
use crate::memory::Rss;
use crate::report::Section;
use crate::seed::{self, now_ms};
use crate::settings::Settings;

/// Clients per node config, in the order they are measured (each seeds the difference).
pub const SIZES: [u64; 2] = [10_000, 100_000];
/// Timed sync passes per size.
pub const BUILD_RUNS: usize = 5;
/// Clients in one usage report: the most the protocol allows.
pub const REPORT_CLIENTS: usize = 10_000;
/// Timed usage reports.
pub const USAGE_RUNS: usize = 10;
/// `COMPONENT_MEMORY_MB` of the main run: the host's default, set explicitly so the figure
/// stated is the one in force.
pub const DEFAULT_CAP_MB: u64 = 64;
/// `COMPONENT_MEMORY_MB` for sizes the default cap cannot build.
pub const LARGER_CAP_MB: u64 = 256;

/// Longer than any run, so the `revisions` job never ticks while the bench runs.
const JOB_HOLD: Duration = Duration::from_secs(4 * 3600);
const COMPONENTS: [&str; 3] = ["auth", "billing", "nodes"];
const MEMORY_METRIC: &str = "nexuma_component_memory_peak_bytes";

pub struct NodesRun {
    /// Builds in measuring order; a size the default cap could not build is measured again
    /// with [`LARGER_CAP_MB`] in a row of its own.
    pub builds: Vec<BuildRow>,
    pub ingest: Result<Ingest, String>,
    /// Average vCPUs used outside `nexuma-bench` and its `nexuma` child (PostgreSQL included).
    pub others_cpu: Option<f64>,
    /// The main run's Core's memory after its builds and the ingest.
    pub rss: Option<Rss>,
}

pub struct BuildRow {
    pub clients: u64,
    pub cap_mb: u64,
    /// The figures, or the first failure (e.g. the Core's error answer).
    pub outcome: Result<Build, String>,
}

impl BuildRow {
    /// The failure was the component's memory cap.
    pub fn over_cap(&self) -> bool {
        matches!(&self.outcome, Err(e) if e.contains("memory_limit_exceeded"))
    }
}

pub struct Build {
    /// Each pass, in order: the first is the first build after the clients were seeded.
    pub runs: Vec<Duration>,
    /// `GET /admin/nodes/:id/config`, bytes.
    pub config_bytes: usize,
    /// The `nodes` component's memory peak (largest instance since the Core started) right
    /// after the passes of this size.
    pub memory_peak: Option<u64>,
}

impl Build {
    pub fn first(&self) -> Duration {
        self.runs.first().copied().unwrap_or_default()
    }

    pub fn median(&self) -> Duration {
        median(&self.runs)
    }
}

pub struct Ingest {
    pub clients: usize,
    /// One report's body, bytes.
    pub report_bytes: usize,
    /// `POST /node/usage`: the report taken (durable and acknowledged).
    pub runs: Vec<Duration>,
    /// `POST /admin/nodes/sync` right after each report: that report counted into the
    /// subscriptions and the hourly buckets.
    pub counted: Vec<Duration>,
    /// Bytes (up + down) every run added, in total.
    pub bytes_per_report: i64,
}

impl Ingest {
    pub fn median(&self) -> Duration {
        median(&self.runs)
    }

    pub fn max(&self) -> Duration {
        self.runs.iter().max().copied().unwrap_or_default()
    }

    pub fn counted_median(&self) -> Duration {
        median(&self.counted)
    }

    pub fn counted_max(&self) -> Duration {
        self.counted.iter().max().copied().unwrap_or_default()
    }
}

/// The middle run (the upper middle of an even count).
fn median(runs: &[Duration]) -> Duration {
    let mut sorted = runs.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<NodesRun> {
    let before = Snapshot::take();
    match measure(settings, &backend).await {
        Ok(mut run) => {
            run.others_cpu = before
                .zip(Snapshot::take())
                .and_then(|(before, after)| after.others_since(&before, cpu::cpus()));
            Section::Done(run)
        }
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(settings: &Settings, backend: &Backend) -> anyhow::Result<NodesRun> {
    let mut builds = Vec::new();
    let mut bench = Bench::start(settings, backend, DEFAULT_CAP_MB).await?;
    let ingest = bench.main_run(&mut builds).await;
    let rss = Rss::of(&bench.core);
    bench.stop().await;
    let ingest = ingest?;

    // Not hidden: the failed row stays, and the size is measured again with room to spare.
    let over: Vec<u64> = builds
        .iter()
        .filter(|r| r.over_cap())
        .map(|r| r.clients)
        .collect();
    for clients in over {
        eprintln!("   {clients} clients again with COMPONENT_MEMORY_MB={LARGER_CAP_MB}");
        let mut bench = Bench::start(settings, backend, LARGER_CAP_MB).await?;
        let row = bench.build_row(clients).await;
        bench.stop().await;
        builds.push(row?);
    }
    Ok(NodesRun {
        builds,
        ingest,
        others_cpu: None,
        rss,
    })
}

/// One Core with the three components, an administrator, one node, one tariff and the
/// clients seeded so far.
struct Bench {
    core: Core,
    db: PgConnection,
    cap_mb: u64,
    admin: String,
    node: String,
    tariff: String,
    seeded: u64,
}

impl Bench {
    async fn start(settings: &Settings, backend: &Backend, cap_mb: u64) -> anyhow::Result<Bench> {
        let setup = Setup {
            components: &COMPONENTS,
            env: vec![("COMPONENT_MEMORY_MB".into(), cap_mb.to_string())],
        };
        let core = Core::start(settings, backend, &setup).await?;
        match prepare(&core, settings).await {
            Ok((db, admin, node, tariff)) => Ok(Bench {
                core,
                db,
                cap_mb,
                admin,
                node,
                tariff,
                seeded: 0,
            }),
            Err(e) => {
                core.stop().await;
                Err(e)
            }
        }
    }

    async fn stop(self) {
        // Dropping the database follows; a failed close changes nothing.
        let _ = self.db.close().await;
        self.core.stop().await;
    }

    /// Builds at every size, then the usage ingest. A build's or the ingest's failure is
    /// reported as their own; only a broken set-up (seeding, the database) ends the run.
    async fn main_run(
        &mut self,
        builds: &mut Vec<BuildRow>,
    ) -> anyhow::Result<Result<Ingest, String>> {
        for clients in SIZES {
            builds.push(self.build_row(clients).await?);
        }
        eprintln!("   usage: {USAGE_RUNS} reports of {REPORT_CLIENTS} clients");
        Ok(self.ingest().await.map_err(|e| {
            eprintln!("   usage ingest failed: {e:#}");
            format!("{e:#}")
        }))
    }

    async fn build_row(&mut self, clients: u64) -> anyhow::Result<BuildRow> {
        self.seed(clients).await?;
        eprintln!(
            "   build: {clients} clients, COMPONENT_MEMORY_MB={}, {BUILD_RUNS} passes",
            self.cap_mb
        );
        let outcome = self.builds(clients).await.map_err(|e| format!("{e:#}"));
        if let Err(e) = &outcome {
            eprintln!("     failed: {e}");
        }
        Ok(BuildRow {
            clients,
            cap_mb: self.cap_mb,
            outcome,
        })
    }

    /// Clients up to `total` (only the difference to those seeded so far).
    async fn seed(&mut self, total: u64) -> anyhow::Result<()> {
        if total <= self.seeded {
            return Ok(());
        }
        seed::clients(&mut self.db, &self.tariff, self.seeded + 1, total).await?;
        self.seeded = total;
        Ok(())
    }

    /// [`BUILD_RUNS`] timed passes, each after one link's UUID was reset, then the checks that
    /// the stored config is the one built for `clients`.
    async fn builds(&mut self, clients: u64) -> anyhow::Result<Build> {
        let mut runs = Vec::with_capacity(BUILD_RUNS);
        let mut last_reset = None;
        for pass in 1..=BUILD_RUNS {
            last_reset = Some(self.reset_a_link().await?);
            let (status, body, took) = load::timed(
                &self.core.target("/admin/nodes/sync", Some(&self.admin)),
                Method::POST,
                Some(Bytes::from_static(b"{}")),
                CALL_TIMEOUT,
            )
            .await?;
            if status.as_u16() != 200 {
                bail!(
                    "POST /admin/nodes/sync answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let report: Value = serde_json::from_slice(&body)
                .context("POST /admin/nodes/sync: the body is not JSON")?;
            // Anything else would time a pass that did not build, or did not store.
            ensure!(
                report["nodesBuilt"] == 1 && report["revisionsBumped"] == 1,
                "POST /admin/nodes/sync did not build and store one new revision: {report}"
            );
            eprintln!("     pass {pass}: {:.0} ms", took.as_secs_f64() * 1000.0);
            runs.push(took);
        }
        // Read before the config is fetched: serving it is a `nodes` call of its own.
        let memory_peak = memory_peak(&self.core, "nodes").await?;
        let config = raw(
            &self.core,
            &format!("/admin/nodes/{}/config", self.node),
            Some(&self.admin),
        )
        .await?;
        let parsed: Value = serde_json::from_slice(&config)
            .context("GET /admin/nodes/:id/config: the body is not JSON")?;
        let listed = parsed["clients"]
            .as_array()
            .context("the config has no clients list")?;
        ensure!(
            listed.len() as u64 == clients,
            "the config lists {} clients, {clients} expected",
            listed.len()
        );
        ensure!(
            listed
                .iter()
                .all(|c| c["inbounds"].as_array().map(Vec::len) == Some(3)),
            "a client of the config is not in all three inbounds"
        );
        if let Some((link, uuid)) = last_reset {
            ensure!(
                listed
                    .iter()
                    .any(|c| c["name"] == link.as_str() && c["key"] == uuid.as_str()),
                "the stored config lacks link {link}'s new UUID: it is not the last pass's build"
            );
        }
        eprintln!(
            "     config {} bytes, nodes memory peak {}",
            config.len(),
            memory_peak.map_or_else(|| "not reported".into(), |b| format!("{b} bytes"))
        );
        Ok(Build {
            runs,
            config_bytes: config.len(),
            memory_peak,
        })
    }

    /// An administrator's UUID reset of a random link (billing records the node-facing
    /// change); (link id, its new UUID).
    async fn reset_a_link(&mut self) -> anyhow::Result<(String, String)> {
        let link: String =
            sqlx::query_scalar("SELECT id FROM subscription_links ORDER BY random() LIMIT 1")
                .fetch_one(&mut self.db)
                .await
                .context("cannot pick a link")?;
        let reply = call(
            &self.core,
            Method::POST,
            &format!("/admin/subscriptions/links/{link}/reset"),
            Some(&self.admin),
            Some(&json!({})),
            200,
        )
        .await?;
        let uuid = reply["links"][0]["uuid"]
            .as_str()
            .map(str::to_string)
            .context("the link reset answered no new UUID")?;
        Ok((link, uuid))
    }

    /// Registers the node's agent, then [`ingest`]s [`USAGE_RUNS`] reports.
    async fn ingest(&mut self) -> anyhow::Result<Ingest> {
        let code = call(
            &self.core,
            Method::POST,
            &format!("/admin/nodes/{}/registration-code", self.node),
            Some(&self.admin),
            Some(&json!({})),
            201,
        )
        .await?["code"]
            .as_str()
            .map(str::to_string)
            .context("no registration code")?;
        let registered = call(
            &self.core,
            Method::POST,
            "/node/register",
            None,
            Some(&json!({ "protocol": 1, "code": code, "hostname": "bench-1",
                          "agentVersion": "bench", "coreVersion": "Xray 25.9.11",
                          "coreFlavor": "xray" })),
            201,
        )
        .await?;
        ensure!(
            registered["nodeId"] == self.node.as_str(),
            "POST /node/register: another node id in {registered}"
        );
        let key = registered["key"]
            .as_str()
            .map(str::to_string)
            .context("POST /node/register: no key")?;
        ingest(
            &self.core,
            &mut self.db,
            &self.admin,
            &self.node,
            key,
            USAGE_RUNS,
        )
        .await
    }
}

/// `runs` timed `POST /node/usage` reports of [`REPORT_CLIENTS`] clients as the agent of
/// `node` with `key`, each counted by a timed `POST /admin/nodes/sync` (the `usage` job held
/// off); then checks that exactly what was sent was counted, against what the subscriptions and
/// the node's hourly buckets held before, so it can run on a database that already has traffic.
pub async fn ingest(
    core: &Core,
    db: &mut PgConnection,
    admin: &str,
    node: &str,
    key: String,
    runs: usize,
) -> anyhow::Result<Ingest> {
    let limit = i64::try_from(REPORT_CLIENTS)?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT id FROM subscription_links ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(&mut *db)
            .await
            .context("cannot read link ids")?;
    ensure!(
        names.len() == REPORT_CLIENTS,
        "only {} links to report on",
        names.len()
    );
    let before = Counted::read(db, &names, node).await?;
    // Different amounts per client, so a swapped or dropped entry shows in the check.
    let amounts: Vec<(i64, i64)> = (0..limit).map(|i| (1_000 + i, 50_000 + 7 * i)).collect();
    let clients: Vec<Value> = names
        .iter()
        .zip(&amounts)
        .map(|(name, (up, down))| json!({ "name": name, "up": up, "down": down }))
        .collect();
    let target = Target {
        node_key: Some(key),
        ..core.target("/node/usage", None)
    };

    let mut taken = Vec::with_capacity(runs);
    let mut counted = Vec::with_capacity(runs);
    let mut report_bytes = 0;
    for run in 1..=runs {
        let report_id = uuid::Uuid::new_v4().to_string();
        let body = json!({ "reportId": report_id, "collectedAt": now_ms(), "clients": clients });
        let body = Bytes::from(body.to_string());
        report_bytes = body.len();
        let (status, reply, took) =
            load::timed(&target, Method::POST, Some(body), CALL_TIMEOUT).await?;
        let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        ensure!(
            status.as_u16() == 200
                && reply["reportId"] == report_id.as_str()
                && reply["duplicate"] == false,
            "POST /node/usage (report {run}) answered {status}: {reply}"
        );
        // The usage job is held off: this pass counts the report just taken.
        let sync_target = core.target("/admin/nodes/sync", Some(admin));
        let (status, reply, counting) =
            load::timed(&sync_target, Method::POST, None, CALL_TIMEOUT).await?;
        let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        ensure!(
            status.as_u16() == 200 && reply["usageReports"] == 1,
            "POST /admin/nodes/sync after report {run} answered {status}: {reply}"
        );
        eprintln!(
            "     report {run}: taken in {:.0} ms, counted in {:.0} ms",
            took.as_secs_f64() * 1000.0,
            counting.as_secs_f64() * 1000.0
        );
        taken.push(took);
        counted.push(counting);
    }

    let after = Counted::read(db, &names, node).await?;
    let runs_i64 = i64::try_from(runs)?;
    let grown = after
        .used
        .iter()
        .zip(&before.used)
        .zip(&amounts)
        .filter(|((after, before), (up, down))| **after - **before == (up + down) * runs_i64)
        .count();
    ensure!(
        grown == REPORT_CLIENTS && after.used.len() == REPORT_CLIENTS,
        "{} of {REPORT_CLIENTS} subscriptions did not grow by exactly what was reported",
        REPORT_CLIENTS - grown
    );
    let sent: i64 = amounts.iter().map(|(up, down)| up + down).sum::<i64>() * runs_i64;
    ensure!(
        after.total - before.total == sent,
        "the subscriptions' used traffic grew by {}, {sent} expected",
        after.total - before.total
    );
    let sent_up: i64 = amounts.iter().map(|(up, _)| up).sum::<i64>() * runs_i64;
    let sent_down: i64 = amounts.iter().map(|(_, down)| down).sum::<i64>() * runs_i64;
    let (up, down) = (after.up - before.up, after.down - before.down);
    ensure!(
        (up, down) == (sent_up, sent_down),
        "the hourly buckets grew by {up} up / {down} down, {sent_up} / {sent_down} expected"
    );
    Ok(Ingest {
        clients: REPORT_CLIENTS,
        report_bytes,
        runs: taken,
        counted,
        bytes_per_report: amounts.iter().map(|(up, down)| up + down).sum(),
    })
}

/// What the database holds of the traffic an ingest adds to.
struct Counted {
    /// Used traffic of each named link's subscription, in the names' order.
    used: Vec<i64>,
    /// Used traffic of all subscriptions.
    total: i64,
    /// The node's hourly buckets, summed.
    up: i64,
    down: i64,
}

impl Counted {
    async fn read(db: &mut PgConnection, names: &[String], node: &str) -> anyhow::Result<Counted> {
        let used: Vec<i64> = sqlx::query_scalar(
            "SELECT s.traffic_used_bytes FROM unnest($1::text[]) WITH ORDINALITY AS e(link_id, n) \
             JOIN subscription_links l ON l.id = e.link_id \
             JOIN subscriptions s ON s.id = l.subscription_id ORDER BY e.n",
        )
        .bind(names)
        .fetch_all(&mut *db)
        .await
        .context("cannot read the used traffic")?;
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(traffic_used_bytes), 0) AS BIGINT) FROM subscriptions",
        )
        .fetch_one(&mut *db)
        .await?;
        let (up, down): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(up), 0) AS BIGINT), CAST(COALESCE(SUM(down), 0) AS BIGINT) \
             FROM traffic_hourly WHERE node_id = $1",
        )
        .bind(node)
        .fetch_one(&mut *db)
        .await?;
        Ok(Counted {
            used,
            total,
            up,
            down,
        })
    }
}

/// (database connection, admin token, node id, tariff id) of a freshly started Core.
async fn prepare(
    core: &Core,
    settings: &Settings,
) -> anyhow::Result<(PgConnection, String, String, String)> {
    core.hold_job_lock("nodes", "revisions", JOB_HOLD).await?;
    core.hold_job_lock("nodes", "usage", JOB_HOLD).await?;
    let mut db = core.connect_database("nodes").await?;
    let admin = core.admin_token(settings).await?;
    let body = json!({
        "name": "bench-1",
        "address": "node.example.com",
        "inbounds": [
            { "tag": "vless-in", "protocol": "vless", "port": 20001 },
            { "tag": "vmess-in", "protocol": "vmess", "port": 20002, "network": "ws", "path": "/vm" },
            { "tag": "trojan-in", "protocol": "trojan", "port": 20003 }
        ]
    });
    let node = call(
        core,
        Method::POST,
        "/admin/nodes",
        Some(&admin),
        Some(&body),
        201,
    )
    .await?["id"]
        .as_str()
        .map(str::to_string)
        .context("POST /admin/nodes: no id")?;
    let tariff = seed::tariff(&mut db).await?;
    Ok((db, admin, node, tariff))
}

/// `component`'s memory peak gauge from `/metrics`; none before its first call.
async fn memory_peak(core: &Core, component: &str) -> anyhow::Result<Option<u64>> {
    let text = raw(core, "/metrics", None).await?;
    Ok(gauge(
        &String::from_utf8_lossy(&text),
        MEMORY_METRIC,
        component,
    ))
}

/// The value of `metric{component="…"}` in a Prometheus text exposition.
fn gauge(text: &str, metric: &str, component: &str) -> Option<u64> {
    let series = format!("{metric}{{component=\"{component}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_reads_one_component_series() {
        let text = "# TYPE nexuma_component_memory_peak_bytes gauge\n\
                    nexuma_component_memory_peak_bytes{component=\"auth\"} 1179648\n\
                    nexuma_component_memory_peak_bytes{component=\"nodes\"} 48627712\n";
        assert_eq!(gauge(text, MEMORY_METRIC, "nodes"), Some(48_627_712));
        assert_eq!(gauge(text, MEMORY_METRIC, "billing"), None);
    }

    #[test]
    fn median_is_the_middle_run() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(30), ms(10), ms(20)]), ms(20));
        assert_eq!(median(&[ms(40), ms(10), ms(30), ms(20)]), ms(30));
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
