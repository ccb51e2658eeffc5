//! `BENCHMARKS.md`: the machine, the method, the figures and the goals, rendered as Markdown.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::fleet::FleetRun;
use crate::http::{HttpRun, FORGED_PATH, WHOAMI_PATH};
use crate::inprocess::Figures;
use crate::nodes::{self, BuildRow, Ingest, NodesRun};
use crate::retention::RetentionRun;
use crate::settings::Settings;
use crate::stats::format_us;
use crate::subscriptions::SubscriptionsRun;
use crate::swaps::SwapsRun;
use crate::traffic::TrafficRun;

mod fleet;
mod retention;
pub mod scale;
mod subscriptions;
mod swaps;
mod traffic;

/// The no-I/O component route must keep at least this share of `/health`'s throughput.
const THROUGHPUT_GOAL: f64 = 0.5;
/// One instantiate + call + drop must take less than this, in microseconds.
const INSTANTIATE_GOAL_US: f64 = 50.0;
/// A node's config for this many clients must be built (and stored) within [`BUILD_GOAL`].
const BUILD_GOAL_CLIENTS: u64 = 100_000;
const BUILD_GOAL: Duration = Duration::from_secs(1);
/// A usage report of [`nodes::REPORT_CLIENTS`] clients must be taken within this.
const INGEST_GOAL: Duration = Duration::from_millis(200);

/// A part of the run: its figures, or why there are none.
pub enum Section<T> {
    Done(T),
    Skipped(String),
    Failed(String),
}

pub struct Machine {
    date: String,
    cpus: String,
    cpu_model: String,
    memory: String,
    os: String,
    kernel: String,
    rustc: String,
    load: String,
    postgres: String,
}

impl Machine {
    /// The machine, and the settings of the PostgreSQL at `pg_admin_url` that decide how much
    /// of the database it keeps in memory and how often it checkpoints.
    pub fn collect(pg_admin_url: &str) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Machine {
            date: command("date", &["-u"]).unwrap_or_else(|| "unknown".into()),
            cpus: command("nproc", &[])
                .or_else(|| {
                    std::thread::available_parallelism()
                        .ok()
                        .map(|n| n.to_string())
                })
                .unwrap_or_else(|| "unknown".into()),
            cpu_model: field(&cpuinfo, "model name", ':').unwrap_or_else(|| "unknown".into()),
            memory: field(&meminfo, "MemTotal", ':')
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
                .unwrap_or_else(|| "unknown".into()),
            os: field(&os_release, "PRETTY_NAME", '=')
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_else(|| "unknown".into()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            rustc: command("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            load: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
                .unwrap_or_else(|| "unknown".into()),
            postgres: command(
                "psql",
                &[
                    pg_admin_url,
                    "-tAc",
                    "SELECT current_setting('server_version') || ': shared_buffers ' || \
                     current_setting('shared_buffers') || ', max_wal_size ' || \
                     current_setting('max_wal_size') || ', checkpoint_timeout ' || \
                     current_setting('checkpoint_timeout')",
                ],
            )
            .unwrap_or_else(|| "unknown (psql could not read it)".into()),
        }
    }
}

/// The first `name<sep>value` line's value.
fn field(text: &str, name: &str, sep: char) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(sep)?;
        (key.trim() == name).then(|| value.trim().to_string())
    })
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

pub struct Report<'a> {
    pub settings: &'a Settings,
    pub machine: Machine,
    pub embedded: Section<HttpRun>,
    pub servers: Section<HttpRun>,
    pub in_process: Section<Figures>,
    pub nodes: Section<NodesRun>,
    pub subscriptions: Section<SubscriptionsRun>,
    pub traffic: Section<TrafficRun>,
    pub swaps: Section<SwapsRun>,
    pub fleet: Section<FleetRun>,
    pub retention: Section<RetentionRun>,
    pub total: Duration,
}

impl Report<'_> {
    /// False when a part failed (skipped is fine: it says why).
    pub fn all_ran(&self) -> bool {
        !matches!(self.embedded, Section::Failed(_))
            && !matches!(self.servers, Section::Failed(_))
            && !matches!(self.in_process, Section::Failed(_))
            && !matches!(self.nodes, Section::Failed(_))
            && !matches!(self.subscriptions, Section::Failed(_))
            && !matches!(self.traffic, Section::Failed(_))
            && !matches!(self.swaps, Section::Failed(_))
            && !matches!(self.fleet, Section::Failed(_))
            && !matches!(self.retention, Section::Failed(_))
    }

    pub fn render(&self) -> String {
        let mut md = String::new();
        self.header(&mut md);
        self.method(&mut md);
        md.push_str("## HTTP: embedded backend (SQLite + in-process key-value store)\n\n");
        http_table(&mut md, &self.embedded, self.settings.connections, None);
        md.push_str("## HTTP: servers backend (PostgreSQL + Redis)\n\n");
        http_table(
            &mut md,
            &self.servers,
            self.settings.connections,
            Some(" (this includes PostgreSQL and Redis serving the requests)"),
        );
        self.in_process_section(&mut md);
        self.nodes_section(&mut md);
        subscriptions::section(&mut md, &self.subscriptions, self.settings.connections);
        traffic::section(&mut md, &self.traffic);
        swaps::section(&mut md, &self.swaps);
        fleet::section(&mut md, &self.fleet);
        retention::section(&mut md, &self.retention);
        self.goals(&mut md);
        md
    }

    fn header(&self, md: &mut String) {
        let m = &self.machine;
        md.push_str("# Nexuma benchmarks\n\n");
        let _ = writeln!(
            md,
            "Generated by `make bench` on {}: the Core's figures by `nexuma-bench` (the run took \
             {} s), then the node agent's section appended by `nexuma-node-bench`. The file is \
             rewritten on every run, so edits here are lost.\n",
            m.date,
            self.total.as_secs()
        );
        md.push_str("## Machine\n\n| | |\n| --- | --- |\n");
        for (name, value) in [
            ("vCPUs (`nproc`)", &m.cpus),
            ("CPU", &m.cpu_model),
            ("Memory", &m.memory),
            ("OS", &m.os),
            ("Kernel", &m.kernel),
            ("rustc", &m.rustc),
            ("Load average at start (1 / 5 / 15 min)", &m.load),
            ("PostgreSQL (servers backend)", &m.postgres),
        ] {
            let _ = writeln!(md, "| {name} | {value} |");
        }
        md.push('\n');
    }

    fn method(&self, md: &mut String) {
        let s = self.settings;
        let _ = writeln!(
            md,
            "## Method\n\n\
             - **Build**: release profile; components from \
               `handlers/target/wasm32-wasip2/release`: `auth` and `probe` for HTTP and in \
               process, `auth`, `billing` and `nodes` for the nodes figures, and `subscriptions` \
               besides them for the subscriptions figures, `auth`, `billing`, `nodes` and `usage` \
               for the traffic figures, and `auth`, `versioned` and `versioned_next` for the \
               component swaps.{other}\n\
             - **Server**: `target/release/nexuma serve` as a child process, bound to 127.0.0.1, \
               `RUST_LOG=warn`, default component limits, compiled components cached in \
               `target/nexuma-bench-cache`. One server per backend: *embedded* is \
               `DATABASE_URL=sqlite://<tmp>/nexuma.db` + `REDIS_URL=memory://`; *servers* is \
               PostgreSQL on 127.0.0.1:5432 (a fresh database, created for the run and dropped \
               after) + Redis on 127.0.0.1:6379 (a unique `KV_PREFIX`, its keys removed after).\n\
             - **Load**: one user is registered (`POST /auth/register`), then each route is \
               loaded in turn with {conns} HTTP/1.1 keep-alive connections in a closed loop (each \
               connection sends its next request when the previous answer is read): {warm} s \
               warm-up, then {meas} s measured. Only requests completing inside the measured \
               window count; req/s is successful requests / {meas} s; latency runs from send to \
               the last body byte, in an HDR histogram. Errors are non-2xx answers, transport \
               errors and requests over 10 s. The account check's pair — `/test/maybe-whoami` \
               with the user's token altered in one payload character (its signature is computed \
               and fails, so the route runs as anonymous: the JWT check without the account \
               check) and `/test/whoami` with the token (JWT and account check) — is loaded \
               alternately, three runs each, and each route's median-throughput run is shown.\n\
             - **Client**: the load generator is Rust (hyper client) in the `nexuma-bench` \
               process on a single-threaded tokio runtime, so it uses at most one vCPU, on \
               loopback. Client and server share the machine's {cpus} vCPUs, so the figures are \
               for the pair, not the server alone.\n\
             - **In process**: the probe component is loaded through the library \
               (`Runtime::new`, `LoadedComponent::load`, embedded stores) and \
               `LoadedComponent::handle` for `GET /test/echo` is timed {calls} times in sequence \
               after {calls_warmup} untimed calls: each is a fresh store and instance from the \
               pre-linked `InstancePre` and the pooling allocator, the guest call, and the drop. \
               No HTTP.\n\
             - **Nodes** (servers backend only): a Core with `auth`, `billing` and `nodes` and \
               `COMPONENT_MEMORY_MB={cap}` set explicitly (the default); an administrator made \
               with `nexuma admin create`, then `POST /auth/login`; one node created over the \
               API with three inbounds (VLESS TCP, VMess WebSocket `/vm`, Trojan TCP); one free \
               tariff for every protocol and node, then N users, N active subscriptions and N \
               enabled links (random UUID ids and keys) inserted in PostgreSQL by one set-based \
               `generate_series` statement, then `ANALYZE`. For N = {sizes} (the difference \
               seeded after the first size): {build_runs} passes, each after an administrator \
               reset a random link's UUID (`POST /admin/subscriptions/links/:id/reset`, which \
               records the node-facing change), each a timed `POST /admin/nodes/sync` (send to \
               last byte) that must report one node built and one new revision stored. The \
               `revisions` job (every second) is held off by holding its key-value lock, as \
               another replica would, so every build is the timed one. Config size: the body of \
               `GET /admin/nodes/:id/config`, checked to list the N clients, each in all three \
               inbounds, with the last reset's new UUID. Memory: \
               `nexuma_component_memory_peak_bytes{{component=\"nodes\"}}` from `/metrics` right \
               after a size's passes (the largest `nodes` instance since the Core started). A \
               size that fails at the default cap is measured again on a fresh Core with \
               `COMPONENT_MEMORY_MB={larger}`. Usage: the node registered \
               (`POST /admin/nodes/:id/registration-code`, `POST /node/register`), then \
               {usage_runs} timed `POST /node/usage` reports of {report} clients (names = link \
               ids, a new `reportId` each), each required to answer 200 with \
               `duplicate: false` and followed by a timed `POST /admin/nodes/sync` that must \
               count exactly that one report (the `usage` job is held off like the `revisions` \
               job); then every reported subscription's `traffic_used_bytes` must \
               have grown by exactly what was sent, no other subscription's at all, and the \
               node's hourly buckets must hold the sums. The billing component's `lifecycle` \
               job runs as usual meanwhile (every 2 s; nothing is due).\n\
             {subscriptions}\n\
             {traffic}\n\
             {swaps}\n\
             {fleet}\n\
             {retention}\n\
             - One run, no repetitions. On a shared VM one route's figures can move by tens of \
               percent from one run to the next: compare routes within a run, and rerun before \
               reading much into a difference between runs.\n",
            conns = s.connections,
            other = other_core(s),
            warm = fmt_secs(s.warmup),
            meas = fmt_secs(s.measure),
            cpus = self.machine.cpus,
            calls = s.calls,
            calls_warmup = s.calls_warmup,
            cap = nodes::DEFAULT_CAP_MB,
            sizes = nodes::SIZES
                .iter()
                .map(|n| thousands(*n))
                .collect::<Vec<_>>()
                .join(" and "),
            build_runs = nodes::BUILD_RUNS,
            larger = nodes::LARGER_CAP_MB,
            usage_runs = nodes::USAGE_RUNS,
            report = thousands(nodes::REPORT_CLIENTS as u64),
            subscriptions = {
                let mut text = String::new();
                subscriptions::method(
                    &mut text,
                    s.connections,
                    &fmt_secs(s.warmup),
                    &fmt_secs(s.measure),
                );
                text
            },
            traffic = {
                let mut text = String::new();
                traffic::method(&mut text, &fmt_secs(s.warmup), &fmt_secs(s.measure));
                text
            },
            swaps = {
                let mut text = String::new();
                swaps::method(&mut text, &fmt_secs(s.warmup), &fmt_secs(s.measure));
                text
            },
            fleet = {
                let mut text = String::new();
                fleet::method(&mut text);
                text
            },
            retention = {
                let mut text = String::new();
                retention::method(&mut text);
                text
            },
        );
    }

    fn in_process_section(&self, md: &mut String) {
        md.push_str("## In process: instantiate + call + drop (probe `GET /test/echo`)\n\n");
        match &self.in_process {
            Section::Done(f) => {
                md.push_str(
                    "| calls | p50 | p99 | mean | errors |\n| ---: | ---: | ---: | ---: | ---: |\n",
                );
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |\n",
                    f.calls,
                    format_us(f.latency.p50_us),
                    format_us(f.latency.p99_us),
                    format_us(f.latency.mean_us),
                    f.errors
                );
                if let Some(e) = &f.first_error {
                    let _ = writeln!(md, "First error: `{}`\n", one_line(e));
                }
                if let Some(others) = f.others_cpu {
                    let _ = writeln!(
                        md,
                        "Other processes used {others:.2} vCPU on average during the timed calls.{}\n",
                        disturbed(others)
                    );
                }
            }
            other => not_done(md, other),
        }
    }

    fn nodes_section(&self, md: &mut String) {
        md.push_str("## Nodes: config build and usage ingest (servers backend)\n\n");
        let run = match &self.nodes {
            Section::Done(run) => run,
            other => return not_done(md, other),
        };
        md.push_str(
            "| clients | `COMPONENT_MEMORY_MB` | passes | first | median | max | config size | \
             `nodes` memory peak |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for row in &run.builds {
            match &row.outcome {
                Ok(b) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        thousands(row.clients),
                        row.cap_mb,
                        b.runs.len(),
                        fmt_ms(b.first()),
                        fmt_ms(b.median()),
                        fmt_ms(b.runs.iter().max().copied().unwrap_or_default()),
                        mib(b.config_bytes as u64),
                        b.memory_peak.map_or_else(|| "not reported".into(), mib),
                    );
                }
                Err(_) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | failed | | | | | |",
                        thousands(row.clients),
                        row.cap_mb
                    );
                }
            }
        }
        md.push('\n');
        for row in &run.builds {
            if let Err(e) = &row.outcome {
                let _ = writeln!(
                    md,
                    "- {} clients at `COMPONENT_MEMORY_MB={}`: `{}`",
                    thousands(row.clients),
                    row.cap_mb,
                    one_line(e)
                );
            }
        }
        if run.builds.iter().any(|r| r.outcome.is_err()) {
            md.push('\n');
        }
        md.push_str(
            "In every row with figures, each timed pass built the node's config and stored it \
             under a new revision, and the stored config held exactly that many clients.\n\n",
        );
        match &run.ingest {
            Ok(i) => {
                md.push_str(
                    "| usage report | body | reports | taken p50 | taken max | counted p50 | counted max |\n\
                     | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
                );
                let _ = writeln!(
                    md,
                    "| {} clients | {} | {} | {} | {} | {} | {} |\n",
                    thousands(i.clients as u64),
                    kib(i.report_bytes as u64),
                    i.runs.len(),
                    fmt_ms(i.median()),
                    fmt_ms(i.max()),
                    fmt_ms(i.counted_median()),
                    fmt_ms(i.counted_max()),
                );
                md.push_str(
                    "*Taken*: `POST /node/usage` until its answer — the report checked, its id \
                     recorded (a retry is a duplicate) and the report stored: durable and \
                     acknowledged. *Counted*: the `POST /admin/nodes/sync` right after it, which \
                     adds that report into the subscriptions' used traffic and the hourly buckets \
                     (what the `usage` job does every second, for all reports waiting then).\n\n",
                );
                let _ = writeln!(
                    md,
                    "Every report answered 200 with `duplicate: false`; afterwards each of the {} \
                     subscriptions had grown by exactly what was reported for it ({} bytes per \
                     report in all), no other subscription had, and the node's hourly buckets held \
                     the sums. The first report creates the hour's rows, the later ones add to \
                     them.\n",
                    thousands(i.clients as u64),
                    thousands(u64::try_from(i.bytes_per_report).unwrap_or(0))
                );
            }
            Err(e) => {
                let _ = writeln!(md, "Usage ingest **failed**: `{}`\n", one_line(e));
            }
        }
        if let Some(others) = run.others_cpu {
            let _ = writeln!(
                md,
                "Other processes used {others:.2} vCPU on average during this part (this \
                 includes PostgreSQL serving the requests and the seeding).\n"
            );
        }
        let _ = writeln!(md, "{}", crate::memory::line(run.rss));
    }

    fn goals(&self, md: &mut String) {
        md.push_str("## Goals\n\n");
        md.push_str(
            "1. **The no-I/O component route keeps at least half the throughput of `/health`.**\n",
        );
        for (label, section) in [("Embedded", &self.embedded), ("Servers", &self.servers)] {
            let _ = writeln!(md, "   - {label}: {}", throughput_goal(section));
        }
        md.push_str("2. **One instantiate+call stays under 50 µs.**\n");
        let _ = writeln!(md, "   - {}", instantiate_goal(&self.in_process));
        md.push_str("3. **A node's config for 100,000 clients is built in under 1 s.**\n");
        let _ = writeln!(md, "   - {}", build_goal(&self.nodes));
        md.push_str("4. **A 10,000-client usage report is ingested in under 200 ms.**\n");
        let _ = writeln!(md, "   - {}", ingest_goal(&self.nodes));
        md.push_str(
            "5. **The account check on authenticated routes costs under 5% of `GET /me` \
             throughput.**\n",
        );
        for (label, section) in [("Embedded", &self.embedded), ("Servers", &self.servers)] {
            let _ = writeln!(md, "   - {label}: {}", account_check_goal(section));
        }
        subscriptions::goals(md, &self.subscriptions, 6);
        traffic::goals(md, &self.traffic, 9);
        swaps::goals(md, &self.swaps, 11);
        fleet::goals(md, &self.fleet, 12);
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (label, section) in [("embedded", &self.embedded), ("servers", &self.servers)] {
            let _ = writeln!(out, "{label}: {}", throughput_goal(section));
        }
        for (label, section) in [("embedded", &self.embedded), ("servers", &self.servers)] {
            let _ = writeln!(
                out,
                "{label} account check: {}",
                account_check_goal(section)
            );
        }
        let _ = writeln!(out, "in process: {}", instantiate_goal(&self.in_process));
        let _ = writeln!(out, "node config build: {}", build_goal(&self.nodes));
        let _ = writeln!(out, "usage ingest: {}", ingest_goal(&self.nodes));
        out.push_str(&subscriptions::summary(&self.subscriptions));
        out.push('\n');
        out.push_str(&traffic::summary(&self.traffic));
        out.push('\n');
        out.push_str(&swaps::summary(&self.swaps));
        out.push('\n');
        out.push_str(&fleet::summary(&self.fleet));
        out.push_str(&retention::summary(&self.retention));
        out
    }
}

/// `servers_note` says what the other processes' CPU includes when the stores are servers.
fn http_table(
    md: &mut String,
    section: &Section<HttpRun>,
    connections: usize,
    servers_note: Option<&str>,
) {
    let Section::Done(run) = section else {
        return not_done(md, section);
    };
    let routes = &run.routes;
    md.push_str(
        "| Route | What it exercises | req/s | p50 | p99 | errors |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in routes {
        let o = &r.outcome;
        let _ = writeln!(
            md,
            "| `GET {}` | {} | {:.0} | {} | {} | {} |",
            r.path,
            r.what,
            o.per_sec,
            format_us(o.latency.p50_us),
            format_us(o.latency.p99_us),
            o.errors
        );
    }
    md.push('\n');
    for r in routes {
        let o = &r.outcome;
        if let Some(e) = &o.first_error {
            let _ = writeln!(md, "- `{}`: first error: `{}`", r.path, one_line(e));
        }
    }
    if routes.iter().any(|r| r.outcome.first_error.is_some()) {
        md.push('\n');
    }
    let reopened: Vec<String> = routes
        .iter()
        .filter(|r| r.outcome.connects > connections as u64)
        .map(|r| format!("`{}` opened {}", r.path, r.outcome.connects))
        .collect();
    if reopened.is_empty() {
        let _ = writeln!(
            md,
            "Keep-alive held: every route ran on its {connections} connections throughout.\n"
        );
    } else {
        let _ = writeln!(
            md,
            "Connections were reopened ({connections} expected per route): {}.\n",
            reopened.join(", ")
        );
    }
    if let Some(others) = run.others_cpu {
        let tail = match servers_note {
            Some(note) => format!("{note}."),
            None => format!(".{}", disturbed(others)),
        };
        let _ = writeln!(
            md,
            "Other processes used {others:.2} vCPU on average while this backend ran{tail}\n"
        );
    }
    let _ = writeln!(md, "{}", crate::memory::line(run.rss));
}

/// Above this many vCPUs used by other processes, a measurement shared the machine.
const DISTURBED_CPU: f64 = 0.25;

fn disturbed(others: f64) -> &'static str {
    if others > DISTURBED_CPU {
        " **Another workload competed for the CPU during this measurement, so these figures \
         are lower than the machine allows.**"
    } else {
        ""
    }
}

/// A table row: label, req/s, p50, p99, errors.
fn outcome_row(md: &mut String, label: &str, o: &crate::load::Outcome) {
    let _ = writeln!(
        md,
        "| {label} | {:.0} | {} | {} | {} |",
        o.per_sec,
        format_us(o.latency.p50_us),
        format_us(o.latency.p99_us),
        o.errors
    );
}

fn not_done<T>(md: &mut String, section: &Section<T>) {
    match section {
        Section::Done(_) => {}
        Section::Skipped(reason) => {
            let _ = writeln!(md, "**Skipped**: {}\n", one_line(reason));
        }
        Section::Failed(reason) => {
            let _ = writeln!(md, "**Failed**: `{}`\n", one_line(reason));
        }
    }
}

fn throughput_goal(section: &Section<HttpRun>) -> String {
    let routes = match section {
        Section::Done(run) => &run.routes,
        Section::Skipped(_) => return "not measured (skipped, see above).".into(),
        Section::Failed(_) => return "not measured (the run failed, see above).".into(),
    };
    let rate = |path: &str| {
        routes
            .iter()
            .find(|r| r.path == path)
            .map(|r| r.outcome.per_sec)
    };
    let (Some(health), Some(echo)) = (rate("/health"), rate("/test/echo")) else {
        return "not measured.".into();
    };
    if health <= 0.0 {
        return "not measurable: `/health` completed no request.".into();
    }
    let share = echo / health;
    let needed = health * THROUGHPUT_GOAL;
    if share >= THROUGHPUT_GOAL {
        let note = if share > 1.0 {
            " `/health` is the slower route here: it pings the database and the key-value \
             store on every request, which `/test/echo` does not."
        } else {
            ""
        };
        format!(
            "**met**: `/test/echo` {echo:.0} req/s is {:.0}% of `/health` {health:.0} req/s \
             (goal ≥ 50%, i.e. ≥ {needed:.0} req/s).{note}",
            share * 100.0
        )
    } else {
        format!(
            "**missed**: `/test/echo` {echo:.0} req/s is {:.0}% of `/health` {health:.0} req/s; \
             the goal (≥ 50%, i.e. ≥ {needed:.0} req/s) is missed by {:.0} req/s \
             ({:.0} percentage points).",
            share * 100.0,
            needed - echo,
            (THROUGHPUT_GOAL - share) * 100.0
        )
    }
}

/// Most of `GET /me`'s time per request the account check may take.
const ACCOUNT_CHECK_GOAL: f64 = 0.05;

/// The account check's share of `GET /me`: `/test/whoami` (token verified, account checked) less
/// `/test/maybe-whoami` with a forged token (the signature computed and found wrong, no account
/// check), the same no-I/O instance behind both, is the check's time per request.
fn account_check_goal(section: &Section<HttpRun>) -> String {
    let routes = match section {
        Section::Done(run) => &run.routes,
        Section::Skipped(_) => return "not measured (skipped, see above).".into(),
        Section::Failed(_) => return "not measured (the run failed, see above).".into(),
    };
    let rate = |path: &str| {
        routes
            .iter()
            .find(|r| r.path == path && r.outcome.per_sec > 0.0)
            .map(|r| r.outcome.per_sec)
    };
    let (Some(unchecked), Some(checked), Some(me)) =
        (rate(FORGED_PATH), rate(WHOAMI_PATH), rate("/me"))
    else {
        return "not measured.".into();
    };
    let extra_us = (1.0 / checked - 1.0 / unchecked) * 1e6;
    let share = (extra_us / (1e6 / me)).max(0.0);
    let verdict = if share < ACCOUNT_CHECK_GOAL {
        "**met**"
    } else {
        "**missed**"
    };
    format!(
        "{verdict}: `{WHOAMI_PATH}` {checked:.0} req/s against `{FORGED_PATH}` with a forged \
         token {unchecked:.0} req/s (medians of alternating runs) is {extra_us:.1} µs more per \
         request for the account check, {:.1}% of `GET /me`'s {:.1} µs per request at {me:.0} \
         req/s (goal < 5%; a negative difference is noise and reads as 0).",
        share * 100.0,
        1e6 / me
    )
}

fn instantiate_goal(section: &Section<Figures>) -> String {
    let f = match section {
        Section::Done(f) => f,
        Section::Skipped(_) => return "not measured (skipped, see above).".into(),
        Section::Failed(_) => return "not measured (the run failed, see above).".into(),
    };
    let l = &f.latency;
    let rest = format!(
        "(mean {}, p99 {}, over {} calls).",
        format_us(l.mean_us),
        format_us(l.p99_us),
        f.calls
    );
    if l.p50_us < INSTANTIATE_GOAL_US {
        let tail = if l.p99_us < INSTANTIATE_GOAL_US {
            "p99 is under the goal too".to_string()
        } else {
            format!(
                "the tail is not: p99 is over 50 µs by {}",
                format_us(l.p99_us - INSTANTIATE_GOAL_US)
            )
        };
        format!(
            "**met** at the median: p50 {} < 50 µs, {:.0}% of the budget; {tail} {rest}",
            format_us(l.p50_us),
            l.p50_us / INSTANTIATE_GOAL_US * 100.0
        )
    } else {
        format!(
            "**missed**: p50 {} is over 50 µs by {} ({:.1}×) {rest}",
            format_us(l.p50_us),
            format_us(l.p50_us - INSTANTIATE_GOAL_US),
            l.p50_us / INSTANTIATE_GOAL_US
        )
    }
}

/// The build goal, judged on the median at the default memory cap; a larger cap's figures are
/// added, never put in its place.
fn build_goal(section: &Section<NodesRun>) -> String {
    let run = match section {
        Section::Done(run) => run,
        Section::Skipped(_) => return "not measured (skipped, see above).".into(),
        Section::Failed(_) => return "not measured (the run failed, see above).".into(),
    };
    let rows: Vec<&BuildRow> = run
        .builds
        .iter()
        .filter(|r| r.clients == BUILD_GOAL_CLIENTS)
        .collect();
    let at_default = rows.iter().find(|r| r.cap_mb == nodes::DEFAULT_CAP_MB);
    let larger = rows.iter().find(|r| r.cap_mb != nodes::DEFAULT_CAP_MB);
    let verdict = |b: &nodes::Build| {
        let median = b.median();
        if median < BUILD_GOAL {
            format!(
                "**met**: median {} < 1 s ({:.0}% of the budget; first pass {})",
                fmt_ms(median),
                median.as_secs_f64() / BUILD_GOAL.as_secs_f64() * 100.0,
                fmt_ms(b.first())
            )
        } else {
            format!(
                "**missed**: median {} is over 1 s by {} ({:.1}×; first pass {})",
                fmt_ms(median),
                fmt_ms(median - BUILD_GOAL),
                median.as_secs_f64() / BUILD_GOAL.as_secs_f64(),
                fmt_ms(b.first())
            )
        }
    };
    let mut out = match at_default.map(|r| &r.outcome) {
        None => return "not measured.".into(),
        Some(Ok(b)) => format!(
            "{} at the default `COMPONENT_MEMORY_MB={}`.",
            verdict(b),
            nodes::DEFAULT_CAP_MB
        ),
        Some(Err(e)) => format!(
            "**missed**: at the default `COMPONENT_MEMORY_MB={}` the build failed (`{}`).",
            nodes::DEFAULT_CAP_MB,
            one_line(e)
        ),
    };
    if let Some(r) = larger {
        let _ = match &r.outcome {
            Ok(b) => write!(
                out,
                " With `COMPONENT_MEMORY_MB={}` it builds: {}.",
                r.cap_mb,
                verdict(b)
            ),
            Err(e) => write!(
                out,
                " With `COMPONENT_MEMORY_MB={}` it failed too (`{}`).",
                r.cap_mb,
                one_line(e)
            ),
        };
    }
    out
}

fn ingest_goal(section: &Section<NodesRun>) -> String {
    let i: &Ingest = match section {
        Section::Done(NodesRun { ingest: Ok(i), .. }) => i,
        Section::Done(_) => return "not measured (the ingest failed, see above).".into(),
        Section::Skipped(_) => return "not measured (skipped, see above).".into(),
        Section::Failed(_) => return "not measured (the run failed, see above).".into(),
    };
    let (p50, max) = (i.median(), i.max());
    let rest = format!(
        "(over {} reports of {} clients; taken = durable and acknowledged; counting one then \
         takes p50 {}, max {}).",
        i.runs.len(),
        thousands(i.clients as u64),
        fmt_ms(i.counted_median()),
        fmt_ms(i.counted_max())
    );
    if p50 < INGEST_GOAL {
        let tail = if max < INGEST_GOAL {
            "the slowest report is under the goal too".to_string()
        } else {
            format!(
                "the slowest is not: max {} is over 200 ms by {}",
                fmt_ms(max),
                fmt_ms(max - INGEST_GOAL)
            )
        };
        format!(
            "**met** at the median: p50 {} < 200 ms, {:.0}% of the budget; {tail} {rest}",
            fmt_ms(p50),
            p50.as_secs_f64() / INGEST_GOAL.as_secs_f64() * 100.0
        )
    } else {
        format!(
            "**missed**: p50 {} is over 200 ms by {} ({:.1}×; max {}) {rest}",
            fmt_ms(p50),
            fmt_ms(p50 - INGEST_GOAL),
            p50.as_secs_f64() / INGEST_GOAL.as_secs_f64(),
            fmt_ms(max)
        )
    }
}

/// `812 ms`, `1.27 s`: milliseconds to a second, then seconds.
fn fmt_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn kib(bytes: u64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// `100,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs}")
    }
}

/// Markdown-safe single line.
fn one_line(text: &str) -> String {
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('`', "'")
        .replace('|', "/");
    if line.chars().count() > 400 {
        let cut: String = line.chars().take(400).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// Names the other checkout when `NEXUMA_BENCH_CORE` measured one: its Core binary and
/// components, driven by this checkout's bench.
fn other_core(s: &Settings) -> String {
    if s.core == s.root {
        return String::new();
    }
    format!(
        " Measured here: the Core and components of `{}` (`NEXUMA_BENCH_CORE`), driven by this \
         checkout's bench, to compare two builds with the same measuring code (the in-process \
         figures run this checkout's host library on that checkout's probe component).",
        s.core.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(909_960_000), "909,960,000");
    }

    #[test]
    fn durations_read_in_ms_then_s() {
        assert_eq!(fmt_ms(Duration::from_micros(42_250)), "42.2 ms");
        assert_eq!(fmt_ms(Duration::from_millis(196)), "196 ms");
        assert_eq!(fmt_ms(Duration::from_millis(2_830)), "2.83 s");
    }
}
