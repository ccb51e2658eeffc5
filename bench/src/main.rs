//! `nexuma-bench`: measures Nexuma Core and writes `BENCHMARKS.md`.
//!
//! 1. HTTP: starts `target/release/nexuma serve` once per backend (embedded: SQLite + the
//!    in-process store; servers: PostgreSQL + Redis on 127.0.0.1) and load-tests three routes
//!    over keep-alive connections on loopback.
//! 2. In process: times instantiate + call + drop of the probe component through the library.
//! 3. Nodes (servers backend only): the `nodes` component building a node's config for 10,000
//!    and 100,000 clients, and ingesting 10,000-client usage reports.
//! 4. Subscriptions (servers backend only): `GET /sub/:uuid` with 10,000 subscribers and 10
//!    nodes × 3 protocols, in each format, cached (warm) and not (cold).
//! 5. Traffic reads (servers backend only): `GET /me/traffic?period=month` and the first page of
//!    `GET /admin/usage` for one day, with 10,000 users and 90 days of hourly traffic.
//! 6. Component swaps (servers backend only): three replicas on one database and Redis prefix;
//!    how long until every replica serves an activation (20 swaps), and `GET /test/version`
//!    under load with a swap every 500 ms against without.
//! 7. A thousand nodes (servers backend only): 1,000 simulated pull agents against one Core
//!    (`fleet.rs`): the Core's CPU, heartbeat latency, a change reaching every node, nothing
//!    lost.
//! 8. Usage retention (servers backend only): rows and bytes per day of the usage tables, the
//!    rollup's delete rate, and the counting job's time per 10,000-client report while 100
//!    nodes report every minute.
//! 9. Writes the figures, the machine and the goals to `BENCHMARKS.md`, replacing the file but
//!    keeping its scale section.
//!
//! `nexuma-bench --scale` runs the scaling curve instead (`scale.rs`: 10,000 to 1,000,000
//! users on PostgreSQL) and replaces only the scale section of `BENCHMARKS.md`.
//!
//! Knobs (environment, all optional): `NEXUMA_BENCH_WARMUP_SECS` (2), `NEXUMA_BENCH_SECS` (8),
//! `NEXUMA_BENCH_CONNECTIONS` (32), `NEXUMA_BENCH_CALLS` (20000), `NEXUMA_BENCH_PG`
//! (`postgres://postgres@127.0.0.1:5432/postgres`), `NEXUMA_BENCH_REDIS`
//! (`redis://127.0.0.1:6379/0`), `NEXUMA_BENCH_OUT` (`BENCHMARKS.md` at the repository root),
//! `NEXUMA_BENCH_ONLY` (comma-separated parts to run: `http`, `inprocess`, `nodes`,
//! `subscriptions`, `traffic`, `swaps`, `fleet`, `retention`; the others are reported as skipped — point `NEXUMA_BENCH_OUT` elsewhere),
//! `NEXUMA_BENCH_FLEET_SECS` (180, the `fleet` part's measured window),
//! `NEXUMA_BENCH_KEEP_DATABASE` (set: the servers backend's databases are left in place, their
//! names printed, for a look at what a part built; drop them yourself).

mod api;
mod child;
mod cpu;
mod fleet;
mod http;
mod inprocess;
mod load;
mod memory;
mod nodes;
mod report;
mod retention;
mod scale;
mod seed;
mod settings;
mod stats;
mod subscriptions;
mod swaps;
mod traffic;

use std::time::Duration;

use anyhow::Context;

use crate::child::Backend;
use crate::report::{Report, Section};
use crate::settings::Settings;

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nexuma-bench: cannot start the tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    match runtime.block_on(run()) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("nexuma-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

const NOT_SELECTED: &str = "not selected (NEXUMA_BENCH_ONLY)";

/// Runs everything; `Ok(false)` when a part failed (the report says which).
async fn run() -> anyhow::Result<bool> {
    let settings = Settings::from_env()?;
    settings.check_inputs()?;
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--scale") => return run_scale(&settings).await,
        Some(other) => anyhow::bail!("unknown argument {other:?}; the only one is --scale"),
    }
    let started = std::time::Instant::now();
    let machine = report::Machine::collect(&settings.pg_admin_url);

    let reachable = child::servers_reachable(&settings).await;
    // The servers backend for `part`, or why it is skipped.
    let servers_or_skip = |part: &str| -> Result<Backend, String> {
        if !settings.runs(part) {
            return Err(NOT_SELECTED.to_string());
        }
        reachable
            .clone()
            .inspect_err(|reason| eprintln!("   skipped: {reason}"))
    };

    eprintln!("== HTTP, embedded backend (SQLite + in-process store)");
    let embedded = if settings.runs("http") {
        http::run(&settings, Backend::Embedded).await
    } else {
        Section::Skipped(NOT_SELECTED.into())
    };

    eprintln!("== HTTP, servers backend (PostgreSQL + Redis)");
    let servers = match servers_or_skip("http") {
        Ok(backend) => http::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    eprintln!(
        "== In process: instantiate + call + drop of probe /test/echo ({} calls)",
        settings.calls
    );
    let in_process = if !settings.runs("inprocess") {
        Section::Skipped(NOT_SELECTED.into())
    } else {
        match inprocess::measure(&settings).await {
            Ok(figures) => Section::Done(figures),
            Err(e) => {
                eprintln!("   failed: {e:#}");
                Section::Failed(format!("{e:#}"))
            }
        }
    };

    eprintln!("== Nodes: config build and usage ingest (PostgreSQL + Redis)");
    let nodes = match servers_or_skip("nodes") {
        Ok(backend) => nodes::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    eprintln!("== Subscriptions: GET /sub/:uuid, warm and cold (PostgreSQL + Redis)");
    let subscriptions = match servers_or_skip("subscriptions") {
        Ok(backend) => subscriptions::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    eprintln!("== Traffic reads: /me/traffic and /admin/usage (PostgreSQL + Redis)");
    let traffic = match servers_or_skip("traffic") {
        Ok(backend) => traffic::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    eprintln!("== Component swaps: three replicas following activations (PostgreSQL + Redis)");
    let swaps = match servers_or_skip("swaps") {
        Ok(backend) => swaps::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    eprintln!("== A thousand nodes: simulated pull agents against one Core (PostgreSQL + Redis)");
    let fleet = match servers_or_skip("fleet") {
        Ok(backend) => fleet::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    eprintln!("== Usage retention: sizes, rollup, counting under load (PostgreSQL + Redis)");
    let retention = match servers_or_skip("retention") {
        Ok(backend) => retention::run(&settings, backend).await,
        Err(reason) => Section::Skipped(reason),
    };

    let report = Report {
        settings: &settings,
        machine,
        embedded,
        servers,
        in_process,
        nodes,
        subscriptions,
        traffic,
        swaps,
        fleet,
        retention,
        total: round_secs(started.elapsed()),
    };
    let ok = report.all_ran();
    let text = report::scale::carry_over(&settings.out, report.render());
    write_atomically(&settings.out, &text)?;
    println!("{}", report.summary());
    println!("wrote {}", settings.out.display());
    Ok(ok)
}

/// `--scale`: the scaling curve alone, written into the scale section of the output file.
async fn run_scale(settings: &Settings) -> anyhow::Result<bool> {
    let section = scale::run(settings).await;
    let ok = !matches!(section, Section::Failed(_));
    let text = report::scale::render(&section, settings.connections);
    let previous = std::fs::read_to_string(&settings.out).unwrap_or_default();
    write_atomically(&settings.out, &report::scale::splice(&previous, &text))?;
    println!("wrote the scale section of {}", settings.out.display());
    Ok(ok)
}

fn round_secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}
