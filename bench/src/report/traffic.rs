//! The traffic-reads part of `BENCHMARKS.md` (issue 16): its method, its table and its goals.

use std::fmt::Write as _;

use super::{not_done, thousands, Section};
use crate::load::Outcome;
use crate::stats::format_us;
use crate::traffic::{self, TrafficRun};

/// p99 goals, in microseconds: a user's month, and the operator's first page of a day.
const MONTH_P99_GOAL_US: f64 = 20_000.0;
const ADMIN_DAY_P99_GOAL_US: f64 = 50_000.0;

/// The Method bullet, without a line end.
pub fn method(md: &mut String, warmup: &str, measure: &str) {
    let _ = write!(
        md,
        "- **Traffic reads** (servers backend only): a Core with `auth`, `billing`, `nodes` and \
         `usage`; {users} users with an active subscription and one link each, seeded in \
         PostgreSQL as for the nodes figures, and for every link {days} days of hourly traffic \
         ending with the current hour ({rows} rows of `traffic_hourly`, spread over {nodes} node \
         ids), written one day at a time in time order as the `usage` job writes it, then \
         `VACUUM ANALYZE`. An access token per user is signed with the Core's secret by the \
         host library's own signer, so every request passes the host's account check. First \
         one answer of each route is checked: a month of daily buckets with traffic; a full \
         first page whose totals equal the table's sums for that day. Then, {connections} \
         connections for {warmup} s warm-up and {measure} s measured: **month** — \
         `GET /me/traffic?period=month`, each request as the next user in turn (random order); \
         **admin day** — `GET /admin/usage` for yesterday (UTC), every user, first page of \
         {page} rows with the day's totals, as the administrator.",
        users = thousands(traffic::USERS),
        days = traffic::DAYS,
        rows = thousands(traffic::USERS * traffic::DAYS as u64 * 24),
        nodes = traffic::NODES,
        connections = traffic::CONNECTIONS,
        page = traffic::PAGE,
    );
}

pub fn section(md: &mut String, section: &Section<TrafficRun>) {
    md.push_str("## Traffic reads: `/me/traffic` and `/admin/usage` (servers backend)\n\n");
    let run = match section {
        Section::Done(run) => run,
        other => return not_done(md, other),
    };
    let _ = writeln!(
        md,
        "{} hourly rows seeded in {:.0} s.\n",
        thousands(run.rows),
        run.seeded_in.as_secs_f64()
    );
    md.push_str("| route | req/s | p50 | p99 | errors |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (label, o) in [
        ("`GET /me/traffic?period=month`", &run.month),
        ("`GET /admin/usage` (one day, first page)", &run.admin_day),
    ] {
        super::outcome_row(md, label, o);
    }
    md.push('\n');
    let _ = writeln!(md, "{}", crate::memory::line(run.rss));
}

pub fn goals(md: &mut String, section: &Section<TrafficRun>, first: usize) {
    let [month, admin] = verdicts(section);
    let _ = writeln!(
        md,
        "{first}. **`GET /me/traffic?period=month` with 10,000 users × 90 days of hourly traffic: \
         p99 under 20 ms.**\n   - {month}"
    );
    let _ = writeln!(
        md,
        "{}. **`GET /admin/usage`, one day of every user, first page: p99 under 50 ms.**\n   - \
         {admin}",
        first + 1
    );
}

pub fn summary(section: &Section<TrafficRun>) -> String {
    let [month, admin] = verdicts(section);
    format!("traffic month: {month}\ntraffic admin day: {admin}")
}

fn verdicts(section: &Section<TrafficRun>) -> [String; 2] {
    match section {
        Section::Done(run) => [
            verdict(&run.month, MONTH_P99_GOAL_US),
            verdict(&run.admin_day, ADMIN_DAY_P99_GOAL_US),
        ],
        Section::Skipped(_) => [
            "not measured (skipped, see above).".into(),
            "not measured (skipped, see above).".into(),
        ],
        Section::Failed(_) => [
            "not measured (the run failed, see above).".into(),
            "not measured (the run failed, see above).".into(),
        ],
    }
}

/// Met only when the p99 holds and the run had no errors.
fn verdict(o: &Outcome, goal_us: f64) -> String {
    let p99 = o.latency.p99_us;
    let met = p99 < goal_us && o.errors == 0;
    format!(
        "**{}**: p99 {} against {} (p50 {}, {:.0} req/s, {} errors).",
        if met { "met" } else { "missed" },
        format_us(p99),
        format_us(goal_us),
        format_us(o.latency.p50_us),
        o.per_sec,
        o.errors
    )
}
