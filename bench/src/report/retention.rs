//! The usage-retention part of `BENCHMARKS.md` (issue 20): its method, its tables and the
//! arithmetic to a million subscribers.

use std::fmt::Write as _;

use super::{not_done, thousands, Section};
use crate::retention::{self, RetentionRun};

/// The scale the issue asks about.
const SUBSCRIBERS: f64 = 1_000_000.0;
/// Hourly rows are kept this many days by default.
const KEPT_DAYS: f64 = 90.0;
/// Report ids are kept this many days (`nodes` housekeeping).
const REPORT_IDS_KEPT_DAYS: f64 = 30.0;

/// The Method bullet, without a line end.
pub fn method(md: &mut String) {
    let _ = write!(
        md,
        "- **Usage retention** (servers backend only): a Core with `auth`, `billing`, `nodes` \
         and `usage`, {clients} subscribers seeded as for the nodes figures, {nodes} nodes with \
         agent keys. *Sizes*: one node's day through the real routes — 24 `POST /node/usage` \
         reports of {report} clients (one per hour of yesterday) and 24 outbound reports of \
         {tags} tags, each counted by `POST /admin/nodes/sync` — then `VACUUM ANALYZE` and each \
         table's `pg_total_relation_size` (indexes included) over its rows; report ids measured \
         on {ids} rows written as the routes write them. *Rollup*: those hours moved 100 days \
         back, then `POST /admin/usage/rollup` until a pass is done. *Counting*: every node sends \
         a {report}-client report once a minute (one every {every} ms, in turn; node i reports \
         clients (i mod 10) × 10,000 onwards) for {secs} s, counted by the real `usage` job \
         (every second, up to 50 waiting reports a tick); `usage_inbox` sampled every second; \
         the time from the first report until every byte sent is counted, over the reports, is \
         the job's time per report while it keeps busy.",
        clients = thousands(retention::CLIENTS),
        nodes = retention::NODES,
        report = thousands(retention::REPORT_CLIENTS as u64),
        tags = retention::TAGS,
        ids = thousands(retention::REPORT_IDS as u64),
        every = retention::REPORT_EVERY.as_millis(),
        secs = retention::SUSTAIN.as_secs(),
    );
}

fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

fn per_row(run: &RetentionRun, table: &str) -> f64 {
    run.sizes
        .iter()
        .find(|s| s.table == table)
        .map_or(0.0, |s| s.per_row())
}

pub fn section(md: &mut String, section: &Section<RetentionRun>) {
    md.push_str("## Usage retention: rows, bytes, counting and rollup (servers backend)\n\n");
    let run = match section {
        Section::Done(run) => run,
        other => return not_done(md, other),
    };
    md.push_str("One node's day, as stored:\n\n| table | rows | bytes (with indexes) | bytes a row |\n| --- | ---: | ---: | ---: |\n");
    for s in &run.sizes {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {:.0} |",
            s.table,
            thousands(s.rows.max(0) as u64),
            thousands(s.bytes.max(0) as u64),
            s.per_row()
        );
    }
    let (hourly, daily, ids) = (
        per_row(run, "traffic_hourly"),
        per_row(run, "traffic_daily"),
        per_row(run, "node_reports"),
    );
    let hours = retention::HOURS as f64;
    let per_day = SUBSCRIBERS * (hours * hourly + daily);
    let reports_a_day = retention::NODES as f64 * 1440.0 * 2.0;
    let _ = writeln!(
        md,
        "\nA million subscribers, each moving traffic every hour on one node (the most rows a \
         day can hold; fewer active hours scale the hourly figures down): \
         `traffic_hourly` 1,000,000 × {hours} = {hrows:.0} M rows a day × {hourly:.0} B = {hb}; \
         `traffic_daily` 1,000,000 rows × {daily:.0} B = {db} a day; together {all} a day. \
         Kept: hours for {kept} days = {kh} at most, then only the days: {dy} a year. Report \
         ids: {nodes} nodes × 1,440 minutes × 2 kinds = {reports} rows a day × {ids:.0} B, kept \
         {idk} days = {ib}; `usage_inbox` holds only reports not yet counted (deleted as they \
         are).\n",
        hrows = SUBSCRIBERS * hours / 1e6,
        hb = gib(SUBSCRIBERS * hours * hourly),
        db = gib(SUBSCRIBERS * daily),
        all = gib(per_day),
        kept = KEPT_DAYS,
        kh = gib(SUBSCRIBERS * hours * hourly * KEPT_DAYS),
        dy = gib(SUBSCRIBERS * daily * 365.0),
        nodes = retention::NODES,
        reports = thousands(reports_a_day as u64),
        idk = REPORT_IDS_KEPT_DAYS,
        ib = gib(reports_a_day * ids * REPORT_IDS_KEPT_DAYS),
    );
    let r = &run.rollup;
    let rate = r.rows as f64 / r.took.as_secs_f64().max(1e-9);
    let _ = writeln!(
        md,
        "Rollup: {} hourly rows deleted in {:.2} s ({} passes): {} rows/s, so a million \
         subscribers' day of hours ({:.0} M rows) takes {:.0} s of the `rollup` job's time, \
         in 5,000-row statements.\n",
        thousands(r.rows),
        r.took.as_secs_f64(),
        r.passes,
        thousands(rate as u64),
        SUBSCRIBERS * hours / 1e6,
        SUBSCRIBERS * hours / rate.max(1e-9),
    );
    let c = &run.counting;
    let needed = retention::NODES as f64 / 60.0;
    let alone = c.alone_median().as_secs_f64();
    let _ = writeln!(
        md,
        "Counting one {clients}-client report alone (`POST /admin/nodes/sync`, the day's 24 \
         reports): median {alone:.0} ms, so one counting replica takes {cap:.2} reports/s; \
         {nodes} nodes reporting once a minute send {needed:.2}.\n",
        clients = thousands(retention::REPORT_CLIENTS as u64),
        alone = alone * 1000.0,
        cap = 1.0 / alone.max(1e-9),
        nodes = retention::NODES,
    );
    let outcome = if c.counted as usize == c.sent {
        format!(
            "all counted {:.0} s after the first: {:.0} ms a report",
            c.took.as_secs_f64(),
            c.per_report().as_secs_f64() * 1000.0
        )
    } else {
        format!(
            "**the count fell behind for good**: {} counted, then nothing for a minute (a \
             `usage` tick takes up to 50 waiting reports in one transaction; 50 × {} entries \
             do not fit the 10 s deadline, so the tick is cut, rolled back and tried again)",
            c.counted,
            thousands(retention::REPORT_CLIENTS as u64),
        )
    };
    let _ = writeln!(
        md,
        "Under load, the real `usage` job: {sent} reports sent in {secs} s; {outcome}; at most \
         {most} reports waited ({end} when the last was sent).\n",
        sent = c.sent,
        secs = retention::SUSTAIN.as_secs(),
        most = c.backlog_max,
        end = c.backlog_at_end,
    );
}

pub fn summary(section: &Section<RetentionRun>) -> String {
    match section {
        Section::Done(run) => format!(
            "retention: counting {:.0} ms per 10,000-client report alone, {} of {} counted under load, traffic_hourly {:.0} B a row",
            run.counting.alone_median().as_secs_f64() * 1000.0,
            run.counting.counted,
            run.counting.sent,
            per_row(run, "traffic_hourly"),
        ),
        Section::Failed(e) => format!("retention: failed: {e}"),
        Section::Skipped(why) => format!("retention: skipped ({why})"),
    }
}
