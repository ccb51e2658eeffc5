//! A thousand nodes against one Core (issue 20), on the servers backend: [`AGENTS`] simulated
//! pull agents (testkit's `fleet`: the real agent's client and wire types, its intervals) each
//! register with a one-time code, heartbeat every 10 s, fetch and confirm a moved revision and
//! report usage every 10 s. Measured over the window: the Core's CPU share, the heartbeats'
//! latency, how long a routing change that touches every node takes to reach all of them, and
//! that every acknowledged usage report is counted exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use http::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use testkit::fleet::{Fleet, FleetSettings, Totals};

use crate::api::call;
use crate::child::{Backend, Core, LoggedErrors, Setup};
use crate::cpu::{self, Split, Usage};
use crate::report::Section;
use crate::seed;
use crate::settings::Settings;
use crate::stats::{Latencies, Summary};

/// Simulated agents, one node each.
pub const AGENTS: usize = 1_000;
/// Clients in every node's config (one tariff for every node); each report names them all.
pub const CLIENTS: u64 = 100;
/// The measured window unless `NEXUMA_BENCH_FLEET_SECS` says otherwise.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(180);
/// The routing change is made this far into the window.
pub const CHANGE_AT: Duration = Duration::from_secs(60);
/// How long the fleet may take to first converge (registration included), and a change.
const CONVERGE_WITHIN: Duration = Duration::from_secs(300);
/// How long counting may take after the agents stopped.
const COUNT_WITHIN: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);
const COMPONENTS: [&str; 3] = ["auth", "billing", "nodes"];

pub struct FleetRun {
    pub agents: usize,
    pub window: Duration,
    /// From the first agent's start until every agent ran its node's first revision.
    pub first_converged: Duration,
    /// Average vCPUs over the window.
    pub cpu: Option<Usage>,
    pub heartbeats: u64,
    pub heartbeat: Summary,
    pub heartbeat_max: Duration,
    /// `PATCH /admin/routing-rule-sets/:id`'s answer.
    pub change_answered: Duration,
    /// From sending the change until each agent ran its node's new revision: p50 and the last.
    pub reached_p50: Duration,
    pub reached_all: Duration,
    pub totals: Totals,
    /// Client traffic the agents had acknowledged, and what the subscriptions hold.
    pub bytes_sent: u64,
    pub bytes_counted: u64,
    /// From the agents' stop until the last report was counted.
    pub counted_after: Duration,
    pub logged: LoggedErrors,
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<FleetRun> {
    match measure(settings, &backend).await {
        Ok(run) => Section::Done(run),
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

/// `NEXUMA_BENCH_FLEET_SECS`, at least a little past the change.
fn window() -> anyhow::Result<Duration> {
    let Ok(value) = std::env::var("NEXUMA_BENCH_FLEET_SECS") else {
        return Ok(DEFAULT_WINDOW);
    };
    let secs: u64 = value
        .parse()
        .with_context(|| format!("NEXUMA_BENCH_FLEET_SECS={value} is not whole seconds"))?;
    let window = Duration::from_secs(secs);
    ensure!(
        window >= CHANGE_AT + Duration::from_secs(30),
        "NEXUMA_BENCH_FLEET_SECS must be at least {} s",
        (CHANGE_AT + Duration::from_secs(30)).as_secs()
    );
    Ok(window)
}

async fn measure(settings: &Settings, backend: &Backend) -> anyhow::Result<FleetRun> {
    let window = window()?;
    let setup = Setup {
        components: &COMPONENTS,
        env: Vec::new(),
    };
    let core = Core::start(settings, backend, &setup).await?;
    let result = async {
        let mut db = core.connect_database("fleet").await?;
        let run = drive(settings, &core, &mut db, window).await;
        let _ = db.close().await;
        run
    }
    .await;
    core.stop().await;
    result
}

async fn drive(
    settings: &Settings,
    core: &Core,
    db: &mut PgConnection,
    window: Duration,
) -> anyhow::Result<FleetRun> {
    let admin = core.admin_token(settings).await?;
    let tariff = seed::tariff(db).await?;
    seed::clients(db, &tariff, 1, CLIENTS).await?;
    let set = rule_set(core, &admin, 1).await?;
    let made = Instant::now();
    let mut codes = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        codes.push(node_with_code(core, &admin, i, &set).await?);
    }
    eprintln!(
        "   {AGENTS} nodes and codes made in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    let fleet_settings = FleetSettings {
        clients_per_report: CLIENTS as usize,
        ..FleetSettings::agent_defaults(&format!("http://{}", core.addr))
    };
    let started = Instant::now();
    let mut fleet = Fleet::start(fleet_settings, codes).context("cannot start the fleet")?;
    let outcome = observe(core, db, &fleet, &admin, &set, started, window).await;
    eprintln!("   stopping the agents (each gets its last report taken)");
    let stopped = Instant::now();
    let totals = fleet.stop().await;
    let mut run = outcome?;
    // Failed calls are figures (the goal counts them), not the end of the run: the agents
    // retried them as the real agent does, so nothing may be lost either way.
    eprintln!("   {totals:?}");
    let (bytes_sent, bytes_counted) = nothing_lost(db, &fleet, &totals).await?;
    run.counted_after = stopped.elapsed();
    run.bytes_sent = bytes_sent;
    run.bytes_counted = bytes_counted;
    run.totals = totals;
    Ok(run)
}

/// The window: converge, measure, change at [`CHANGE_AT`], measure on.
async fn observe(
    core: &Core,
    db: &mut PgConnection,
    fleet: &Fleet,
    admin: &str,
    set: &str,
    started: Instant,
    window: Duration,
) -> anyhow::Result<FleetRun> {
    let first = converge(db, fleet, CONVERGE_WITHIN).await?;
    let first_converged = first.saturating_duration_since(started);
    eprintln!(
        "   {AGENTS} agents registered and on their first revision after {:.1} s",
        first_converged.as_secs_f64()
    );
    fleet.tally().take_heartbeat_latencies();
    let mark = core.log_mark();
    let pid = core.pid().context("the Core is not running")?;
    let cpu_before = Split::take(pid);
    let opened = Instant::now();

    tokio::time::sleep(CHANGE_AT).await;
    let before = revisions(db).await?;
    let sent = Instant::now();
    rule_set_change(core, admin, set).await?;
    let change_answered = sent.elapsed();
    let reached = reach(db, fleet, &before, sent).await?;
    eprintln!(
        "   the change reached every agent after {:.1} s (p50 {:.1} s)",
        reached.1.as_secs_f64(),
        reached.0.as_secs_f64()
    );

    tokio::time::sleep(window.saturating_sub(opened.elapsed())).await;
    let cpu = cpu_before
        .zip(Split::take(pid))
        .and_then(|(before, after)| after.since(&before, cpu::cpus()));
    let latencies = fleet.tally().take_heartbeat_latencies();
    let mut histogram = Latencies::new()?;
    for took in &latencies {
        histogram.record(*took);
    }
    let summary = histogram.summary();
    eprintln!(
        "   heartbeats: {} in the window, p50 {:.1} ms, p99 {:.1} ms; the Core used {} vCPU",
        histogram.count(),
        summary.p50_us / 1000.0,
        summary.p99_us / 1000.0,
        cpu.map_or_else(|| "?".into(), |c| format!("{:.2}", c.core))
    );
    Ok(FleetRun {
        agents: fleet.len(),
        window: opened.elapsed(),
        first_converged,
        cpu,
        heartbeats: histogram.count(),
        heartbeat: summary,
        heartbeat_max: latencies.iter().max().copied().unwrap_or_default(),
        change_answered,
        reached_p50: reached.0,
        reached_all: reached.1,
        totals: Totals::default(),
        bytes_sent: 0,
        bytes_counted: 0,
        counted_after: Duration::ZERO,
        logged: core.errors_since(mark)?,
    })
}

async fn rule_set(core: &Core, admin: &str, rules: usize) -> anyhow::Result<String> {
    let body = json!({ "name": "bench-fleet", "rules": rules_of(rules) });
    let reply = call(
        core,
        Method::POST,
        "/admin/routing-rule-sets",
        Some(admin),
        Some(&body),
        201,
    )
    .await?;
    reply["id"]
        .as_str()
        .map(str::to_string)
        .context("POST /admin/routing-rule-sets: no id")
}

/// `n` blocking rules.
fn rules_of(n: usize) -> serde_json::Value {
    (0..n)
        .map(|i| {
            json!({ "type": "field", "domain": [format!("domain:ads-{i}.example")],
                    "outboundTag": "block" })
        })
        .collect()
}

/// The change every node follows: the shared rule set gets a second rule.
async fn rule_set_change(core: &Core, admin: &str, set: &str) -> anyhow::Result<()> {
    call(
        core,
        Method::PATCH,
        &format!("/admin/routing-rule-sets/{set}"),
        Some(admin),
        Some(&json!({ "rules": rules_of(2) })),
        200,
    )
    .await?;
    Ok(())
}

/// A node using rule set `set`, and a one-time registration code for it.
async fn node_with_code(core: &Core, admin: &str, i: usize, set: &str) -> anyhow::Result<String> {
    let body = json!({
        "name": format!("sim-{i}"),
        "address": format!("sim-{i}.example.com"),
        "inbounds": [{ "tag": "vless-in", "protocol": "vless", "port": 20001 }],
        "ruleSetIds": [set],
    });
    let node = call(
        core,
        Method::POST,
        "/admin/nodes",
        Some(admin),
        Some(&body),
        201,
    )
    .await?;
    let id = node["id"].as_str().context("POST /admin/nodes: no id")?;
    let code = call(
        core,
        Method::POST,
        &format!("/admin/nodes/{id}/registration-code"),
        Some(admin),
        Some(&json!({})),
        201,
    )
    .await?;
    code["code"]
        .as_str()
        .map(str::to_string)
        .context("POST /admin/nodes/:id/registration-code: no code")
}

/// Every node's latest revision.
async fn revisions(db: &mut PgConnection) -> anyhow::Result<HashMap<String, u64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT id, revision FROM nodes")
        .fetch_all(&mut *db)
        .await
        .context("cannot read the nodes' revisions")?;
    Ok(rows
        .into_iter()
        .map(|(id, r)| (id, u64::try_from(r).unwrap_or(0)))
        .collect())
}

/// Waits until every agent runs its node's latest revision and the Core holds its
/// confirmation; when the last agent got it.
async fn converge(
    db: &mut PgConnection,
    fleet: &Fleet,
    within: Duration,
) -> anyhow::Result<Instant> {
    let until = Instant::now() + within;
    loop {
        let latest = revisions(db).await?;
        let state = fleet.converged(&latest);
        let unconfirmed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM nodes WHERE applied_revision IS DISTINCT FROM revision",
        )
        .fetch_one(&mut *db)
        .await?;
        match state {
            Ok(at) if unconfirmed == 0 => return Ok(at),
            Ok(_) => {
                if Instant::now() >= until {
                    bail!("{unconfirmed} nodes never confirmed their latest revision");
                }
            }
            Err(e) => {
                if Instant::now() >= until {
                    bail!("{e}; {:?}", fleet.tally().totals());
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every node's revision moved past `before` and every agent runs it; (p50, last)
/// of the delays from `sent`.
async fn reach(
    db: &mut PgConnection,
    fleet: &Fleet,
    before: &HashMap<String, u64>,
    sent: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let until = sent + CONVERGE_WITHIN;
    loop {
        let latest = revisions(db).await?;
        let moved = latest
            .iter()
            .filter(|(id, r)| before.get(*id).is_some_and(|b| *r > b))
            .count();
        if moved == before.len() && fleet.converged(&latest).is_ok() {
            let mut delays: Vec<Duration> = fleet
                .agents()
                .iter()
                .filter_map(|a| a.applied.map(|(_, at)| at.saturating_duration_since(sent)))
                .collect();
            delays.sort();
            let p50 = delays.get(delays.len() / 2).copied().unwrap_or_default();
            let last = delays.last().copied().unwrap_or_default();
            return Ok((p50, last));
        }
        if Instant::now() >= until {
            bail!(
                "after {CONVERGE_WITHIN:?}, {moved} of {} nodes have a new revision; {}",
                before.len(),
                fleet.converged(&latest).err().unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the database holds exactly what the agents had acknowledged: the subscriptions'
/// used traffic, one row per distinct report, and the hourly buckets of clients and outbounds;
/// (bytes sent, bytes counted).
async fn nothing_lost(
    db: &mut PgConnection,
    fleet: &Fleet,
    totals: &Totals,
) -> anyhow::Result<(u64, u64)> {
    let sent = fleet.sent();
    let want = (
        sent.values().map(|s| s.up + s.down).sum::<u64>(),
        totals.usage_reports + totals.outbound_reports - totals.duplicates,
        sent.values().map(|s| s.up).sum::<u64>(),
        sent.values().map(|s| s.down).sum::<u64>(),
        sent.values().map(|s| s.outbound_up).sum::<u64>(),
        sent.values().map(|s| s.outbound_down).sum::<u64>(),
    );
    let until = Instant::now() + COUNT_WITHIN;
    loop {
        let have = counted(db).await?;
        if have == want {
            return Ok((want.0, have.0));
        }
        if Instant::now() >= until {
            bail!(
                "lost or doubled usage: (used bytes, reports, up, down, outbound up, outbound \
                 down) are {have:?} in the database, {want:?} acknowledged"
            );
        }
        tokio::time::sleep(POLL * 5).await;
    }
}

async fn counted(db: &mut PgConnection) -> anyhow::Result<(u64, u64, u64, u64, u64, u64)> {
    let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
    let used: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(traffic_used_bytes), 0) AS BIGINT) FROM subscriptions",
    )
    .fetch_one(&mut *db)
    .await?;
    let reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM node_reports")
        .fetch_one(&mut *db)
        .await?;
    let (up, down): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(up), 0) AS BIGINT), CAST(COALESCE(SUM(down), 0) AS BIGINT) \
         FROM traffic_hourly",
    )
    .fetch_one(&mut *db)
    .await?;
    let (out_up, out_down): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(up), 0) AS BIGINT), CAST(COALESCE(SUM(down), 0) AS BIGINT) \
         FROM outbound_traffic_hourly",
    )
    .fetch_one(&mut *db)
    .await?;
    Ok((
        as_u64(used),
        as_u64(reports),
        as_u64(up),
        as_u64(down),
        as_u64(out_up),
        as_u64(out_down),
    ))
}
