//! The thousand-nodes part of `BENCHMARKS.md` (issue 20): its method, its table and its goal.

use std::fmt::Write as _;
use std::time::Duration;

use super::{fmt_ms, not_done, one_line, thousands, Section};
use crate::fleet::{self, FleetRun};
use crate::stats::format_us;

/// A change reaches every agent within two of their heartbeat intervals.
const REACH_GOAL: Duration = Duration::from_secs(20);

/// The Method bullet, without a line end.
pub fn method(md: &mut String) {
    let _ = write!(
        md,
        "- **A thousand nodes** (servers backend only): a Core with `auth`, `billing` and \
         `nodes`; {clients} subscribers seeded in PostgreSQL as for the nodes figures (one free \
         tariff for every node), one routing rule set, and {agents} nodes made over the API, \
         each with one VLESS inbound and the rule set, each with a one-time registration code. \
         Then {agents} simulated pull agents (testkit's `fleet`: the real agent's HTTP client \
         and wire types, its default intervals, no proxy core; each its own keep-alive \
         connection, all in the bench's single-threaded runtime, their starts spread over one \
         heartbeat interval) register, heartbeat every 10 s, fetch a moved revision with \
         `If-None-Match`, check it as the agent does and confirm it, and every 10 s report the \
         traffic of all {clients} clients of their config (`POST /node/usage`) and of their \
         first outbound (`POST /node/outbound-usage`), each report under a new id and sent \
         again, unchanged, until the Core answers 200. Once every agent runs its node's first \
         revision and the Core holds every confirmation, a window of {window} s is measured: \
         the Core process's CPU time from `/proc` (and the bench's, and everything else's: \
         PostgreSQL and Redis), every heartbeat's round trip (send to answer read) in an HDR \
         histogram, and {change} s in, a `PATCH /admin/routing-rule-sets/:id` that adds a rule \
         (every node's config changes), timed until every node has a new revision and every \
         agent runs it. Then the agents stop, each getting its last report taken, and the \
         database must hold exactly what they had acknowledged: the subscriptions' used \
         traffic, one `node_reports` row per distinct report, and the client and outbound \
         hourly buckets.",
        agents = thousands(fleet::AGENTS as u64),
        clients = fleet::CLIENTS,
        window = window_secs(),
        change = fleet::CHANGE_AT.as_secs(),
    );
}

fn window_secs() -> String {
    match std::env::var("NEXUMA_BENCH_FLEET_SECS") {
        Ok(v) => v,
        Err(_) => fleet::DEFAULT_WINDOW.as_secs().to_string(),
    }
}

pub fn section(md: &mut String, section: &Section<FleetRun>) {
    md.push_str(
        "## A thousand nodes: simulated pull agents against one Core (servers backend)\n\n",
    );
    let run = match section {
        Section::Done(run) => run,
        other => return not_done(md, other),
    };
    let t = &run.totals;
    md.push_str("| | |\n| --- | ---: |\n");
    let mut row = |label: &str, value: String| {
        let _ = writeln!(md, "| {label} | {value} |");
    };
    row("agents", thousands(run.agents as u64));
    row(
        "registered and on the first revision after",
        fmt_ms(run.first_converged),
    );
    row("measured window", fmt_ms(run.window));
    if let Some(cpu) = run.cpu {
        row(
            "**the Core's CPU** (vCPUs, average)",
            format!("**{:.2}**", cpu.core),
        );
        row("the simulator's CPU (vCPUs)", format!("{:.2}", cpu.bench));
        row(
            "everything else (PostgreSQL, Redis, …) (vCPUs)",
            format!("{:.2}", cpu.others),
        );
    }
    row("heartbeats in the window", thousands(run.heartbeats));
    row(
        "heartbeat p50 / **p99** / max",
        format!(
            "{} / **{}** / {}",
            format_us(run.heartbeat.p50_us),
            format_us(run.heartbeat.p99_us),
            fmt_ms(run.heartbeat_max)
        ),
    );
    row(
        "the routing change answered in",
        fmt_ms(run.change_answered),
    );
    row(
        "the change reached half the agents after",
        fmt_ms(run.reached_p50),
    );
    row(
        "**the change reached all agents after**",
        format!("**{}**", fmt_ms(run.reached_all)),
    );
    row(
        "configs fetched (200) / unchanged (304) / confirmed",
        format!("{} / {} / {}", t.configs, t.unchanged, t.confirmed),
    );
    row(
        "usage reports taken (clients / outbounds; duplicates)",
        format!(
            "{} / {} ({})",
            thousands(t.usage_reports),
            thousands(t.outbound_reports),
            t.duplicates
        ),
    );
    row(
        "client traffic acknowledged / counted (bytes)",
        format!(
            "{} / {}",
            thousands(run.bytes_sent),
            thousands(run.bytes_counted)
        ),
    );
    row(
        "everything counted after the agents stopped, within",
        fmt_ms(run.counted_after),
    );
    row(
        "errors the agents saw (5xx / other)",
        format!("{} / {}", t.server_errors, t.other_errors),
    );
    row(
        "ERROR lines in the Core's log",
        run.logged.count.to_string(),
    );
    md.push('\n');
    if let Some(first) = &run.logged.first {
        let _ = writeln!(md, "First logged error: `{}`\n", one_line(first));
    }
}

pub fn goals(md: &mut String, section: &Section<FleetRun>, number: usize) {
    let _ = writeln!(
        md,
        "{number}. **With 1,000 nodes on one Core, a change reaches every node within 20 s (two \
         heartbeat intervals), no call fails and every usage report is counted exactly once.**\n   \
         - {}",
        verdict_of(section)
    );
}

pub fn summary(section: &Section<FleetRun>) -> String {
    format!("a thousand nodes: {}", verdict_of(section))
}

fn verdict_of(section: &Section<FleetRun>) -> String {
    let run = match section {
        Section::Done(run) => run,
        Section::Skipped(_) => return "not measured (skipped, see above).".into(),
        Section::Failed(_) => return "not measured (the run failed, see above).".into(),
    };
    let t = &run.totals;
    let clean = t.server_errors == 0
        && t.other_errors == 0
        && t.rejected == 0
        && run.bytes_sent == run.bytes_counted;
    let cpu = run.cpu.map_or_else(String::new, |c| {
        format!(", the Core used {:.2} vCPU", c.core)
    });
    let met = if run.reached_all <= REACH_GOAL && clean {
        "met"
    } else {
        "**not met**"
    };
    format!(
        "{met}: all {} agents ran the change after {}, heartbeat p99 {}{cpu}, {} of {} bytes \
         counted, {} failed calls.",
        run.agents,
        fmt_ms(run.reached_all),
        format_us(run.heartbeat.p99_us),
        thousands(run.bytes_counted),
        thousands(run.bytes_sent),
        t.server_errors + t.other_errors
    )
}
