//! Traffic from the agents: `POST /node/usage`, `/node/outbound-usage` (idempotent by report
//! id) and `/node/session-events`.
//!
//! A usage report is taken in two steps. The request checks it, passes its id through
//! `node_reports` (a retry is a duplicate) and stores it in `usage_inbox`: the agent has its
//! answer in milliseconds and the report is durable. The `usage` job (every second, and
//! `POST /admin/nodes/sync`) then counts every waiting report in one pass — entries of the same
//! link and hour added up first, then per batch one statement each for the subscriptions' used
//! traffic, the hourly and the daily buckets — and deletes them in the same transaction:
//! counted exactly once, and ten nodes reporting at once cost about what one does.

use std::collections::BTreeMap;

use nexuma_sdk::db::{self, Transaction, Value};
use nexuma_sdk::notify::{self, format, names, Event};
use nexuma_sdk::{cache, clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use usage_report::{
    Counted, Invalid, UsageBody, MAX_ENTRIES, MAX_REPORTED_BYTES, REPORT_ID_PATTERN,
};

use crate::private::caller_node;

/// Rows per multi-row statement (at most 5 parameters each: well under every backend's limit).
const CHUNK: usize = 1000;
/// Entries per counting statement (5 parameters each: 30,000, under SQLite's 32,766), so the
/// subscriptions are scanned once per 6,000 entries rather than once per few hundred.
const APPLY_CHUNK: usize = 6_000;
/// Entries per counting statement of one node and hour: the two shared as the first
/// parameters, 3 per entry (30,002, under SQLite's 32,766).
const SHARED_CHUNK: usize = 10_000;
/// Entries of one node and hour from which they are counted with the node and hour shared: a
/// big report's 30,000 values parsed and bound three times cost a fifth of its counting, but
/// 1,000 nodes' small reports each in statements of their own cost a statement per node.
const SHARED_RUN: usize = 1_000;
/// Waiting reports one pass counts at most.
const INBOX_BATCH: i64 = 50;
/// Bytes of waiting entries (JSON, about 55 a client) one pass takes at most, the first report
/// always: about 18,000 clients, counted in a few seconds at a million subscribers. A bound by
/// reports alone let 50 reports of 10,000 clients make one pass longer than the component's
/// deadline, which then rolled back and took the same reports again, for ever.
const INBOX_BYTES: i64 = 1 << 20;
/// How long the `usage` job keeps taking batches while reports wait: half the component's
/// default deadline (10 s), so a tick never gets cut. One batch a tick counted at most 50
/// reports a second, and 1,000 nodes reporting every 10 s send 100 (the bench's `fleet` part
/// found the inbox growing without end).
const DRAIN_BUDGET_MS: i64 = 5_000;

/// Bytes of an outbound tag or a client name in these reports.
const NAME_MAX: usize = 100;
/// For the JSON Schemas: printable ASCII, where a schema's characters are the checks' bytes.
const NAME_PATTERN: &str = "^[ -~]*$";

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OutboundUsage {
    #[schemars(length(min = 1, max = NAME_MAX), regex(pattern = NAME_PATTERN))]
    tag: String,
    #[schemars(range(max = MAX_REPORTED_BYTES))]
    up: u64,
    #[schemars(range(max = MAX_REPORTED_BYTES))]
    down: u64,
}

/// `POST /node/outbound-usage`'s body (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboundBody {
    #[schemars(regex(pattern = REPORT_ID_PATTERN))]
    report_id: String,
    /// Epoch milliseconds; absent: now.
    collected_at: Option<i64>,
    /// A tag may repeat: its entries add up (within the same bound per report).
    #[schemars(length(max = MAX_ENTRIES))]
    outbounds: Vec<OutboundUsage>,
}

/// A report taken, or recognised as one taken before.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Acknowledged<'a> {
    report_id: &'a str,
    /// Taken before: not counted again.
    duplicate: bool,
}

fn refused(e: Invalid) -> ApiError {
    ApiError::validation(e.field, e.message)
}

fn report_id(raw: &str) -> Result<&str, ApiError> {
    usage_report::report_id(raw).map_err(refused)
}

/// Marks the report taken; false when it was already (a retry).
fn first_time(
    tx: &Transaction,
    node: &str,
    report: &str,
    kind: &str,
    now: i64,
) -> Result<bool, ApiError> {
    Ok(tx.execute(
        "INSERT INTO node_reports (node_id, report_id, kind, received_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (node_id, report_id) DO NOTHING",
        &[node.into(), report.into(), kind.into(), now.into()],
    )? == 1)
}

/// `$a, $b, ...` groups of `width` placeholders for `rows` rows, numbered from 1.
fn placeholders(rows: usize, width: usize) -> String {
    placeholders_after(0, rows, width)
}

/// [`placeholders`] numbered from `first + 1`.
fn placeholders_after(first: usize, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width)
                .map(|c| format!("${}", first + r * width + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn reply(report: &str, duplicate: bool) -> Result<Response, ApiError> {
    response::json(
        200,
        &Acknowledged {
            report_id: report,
            duplicate,
        },
    )
}

/// `POST /node/usage`: adds each client's traffic to its subscription and to the hourly
/// buckets per user, node and link.
pub fn usage(req: &Request) -> Result<Response, ApiError> {
    let body: UsageBody = req.json()?;
    let Counted {
        report_id: report,
        entries,
    } = body.count().map_err(refused)?;
    let node = caller_node(req)?;
    let now = clock::now_ms();
    let hour = usage_report::hour(body.collected_at, now);

    let tx = db::begin()?;
    if !first_time(&tx, &node.id, report, "usage", now)? {
        return reply(report, true);
    }
    if !entries.is_empty() {
        let entries = serde_json::to_string(&entries).map_err(ApiError::internal)?;
        let size = entries.len() as i64;
        tx.execute(
            "INSERT INTO usage_inbox (node_id, hour, size, entries, received_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                node.id.as_str().into(),
                hour.into(),
                size.into(),
                entries.into(),
                now.into(),
            ],
        )?;
    }
    tx.commit()?;
    reply(report, false)
}

/// What one pass over the inbox counted.
#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub reports: u32,
    pub entries: u32,
}

/// Milliseconds in a UTC day: `traffic_daily` rows start at multiples of it.
const DAY_MS: i64 = 86_400_000;

/// Node, hour, link.
type Bucket = (String, i64, String);

/// The traffic alert level (percent of the limit: 0, 80 or 100) an active subscription's used
/// traffic is at, as SQL over the row (written without products, which could pass BIGINT).
const TRAFFIC_LEVEL: &str = "CASE WHEN traffic_limit_bytes IS NULL OR status <> 'active' THEN 0 \
     WHEN traffic_used_bytes >= traffic_limit_bytes THEN 100 \
     WHEN traffic_used_bytes >= traffic_limit_bytes - traffic_limit_bytes / 5 THEN 80 \
     ELSE 0 END AS traffic_level";

/// Records that subscription `id` reached `level` and tells its user, once per level and period
/// (the conditional update: a concurrent pass that saw the same crossing writes nothing).
fn tell_traffic(tx: &Transaction, id: &str, level: i64, now: i64) -> Result<(), ApiError> {
    let rows = tx.query(
        "UPDATE subscriptions SET traffic_alerted = $2 WHERE id = $1 AND traffic_alerted < $2 \
         RETURNING user_id, tariff_id, renewals, traffic_used_bytes, traffic_limit_bytes",
        &[id.into(), level.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let tariff = tx
        .query(
            "SELECT name FROM tariffs WHERE id = $1",
            &[row.str("tariff_id")?.into()],
        )?
        .first()
        .map(|t| t.string("name"))
        .transpose()?
        .unwrap_or_default();
    let kind = if level >= 100 {
        names::TRAFFIC_EXHAUSTED
    } else {
        names::TRAFFIC_WARNING
    };
    let event = Event::new(kind, format!("{id}:{}", row.i64("renewals")?))
        .param("tariff", tariff)
        .param("percent", format!("{level}%"))
        .param("used", format::bytes(row.i64("traffic_used_bytes")?))
        .param(
            "limit",
            format::bytes(row.opt_i64("traffic_limit_bytes")?.unwrap_or(0)),
        );
    notify::user(tx, row.str("user_id")?, &event, now)
}

/// The `usage` job's tick: batches of [`apply_pending`] while reports wait, for at most
/// [`DRAIN_BUDGET_MS`]. Each batch commits on its own, so a tick cut short keeps what it did.
pub fn drain() -> Result<Applied, ApiError> {
    let started = clock::now_ms();
    let mut total = Applied::default();
    loop {
        let batch = apply_pending()?;
        total.reports += batch.reports;
        total.entries += batch.entries;
        if batch.reports == 0 || clock::now_ms() - started >= DRAIN_BUDGET_MS {
            return Ok(total);
        }
    }
}

/// Counts the oldest waiting usage reports (up to [`INBOX_BATCH`] of them and [`INBOX_BYTES`] of
/// entries) and deletes them, in one transaction.
pub fn apply_pending() -> Result<Applied, ApiError> {
    let now = clock::now_ms();
    let tx = db::begin()?;
    // Claiming is the first statement, a write: a concurrent pass cannot take the same rows.
    // A report is taken while the entries before it stay under the byte bound (their stored
    // size: the entries themselves are read only for the reports taken).
    let claimed = tx.query(
        "DELETE FROM usage_inbox WHERE seq IN \
         (SELECT seq FROM \
            (SELECT seq, SUM(size) OVER (ORDER BY seq) - size AS before \
             FROM (SELECT seq, size FROM usage_inbox ORDER BY seq LIMIT $1) oldest) taken \
          WHERE before < $2) \
         RETURNING node_id, hour, entries",
        &[INBOX_BATCH.into(), INBOX_BYTES.into()],
    )?;
    if claimed.is_empty() {
        return Ok(Applied::default());
    }
    let sums = sum_claimed(&claimed)?;
    // Subscriptions whose used traffic grew: exports showing it are retired after the commit.
    let mut counted: Vec<String> = Vec::new();
    // Subscriptions that reached a traffic alert level they were not told of, with the level.
    let mut crossed: Vec<(String, i64)> = Vec::new();
    for batch in batches(&sums) {
        count_batch(&tx, &batch, &mut counted, &mut crossed)?;
    }
    for (id, level) in &crossed {
        tell_traffic(&tx, id, *level, now)?;
    }
    tx.commit()?;
    counted.sort_unstable();
    counted.dedup();
    cache::traffic_counted(&counted);
    Ok(Applied {
        reports: claimed.len() as u32,
        entries: sums.len() as u32,
    })
}

/// (node, hour, link) → (up, down), every claimed report added up.
fn sum_claimed(claimed: &db::Rows) -> Result<BTreeMap<Bucket, (i64, i64)>, ApiError> {
    let mut sums: BTreeMap<Bucket, (i64, i64)> = BTreeMap::new();
    for row in claimed.iter() {
        let (node, hour) = (row.string("node_id")?, row.i64("hour")?);
        let entries: Vec<(String, i64, i64)> = serde_json::from_str(row.str("entries")?)
            .map_err(|e| ApiError::internal(format!("usage_inbox entries: {e}")))?;
        for (link, up, down) in entries {
            let slot = sums.entry((node.clone(), hour, link)).or_default();
            slot.0 = slot.0.saturating_add(up);
            slot.1 = slot.1.saturating_add(down);
        }
    }
    Ok(sums)
}

/// One summed entry of a pass: its bucket and (up, down).
type Entry<'a> = (&'a Bucket, &'a (i64, i64));

/// Entries for one round of the counting statements: the relation
/// `v (node_id, hour, link_id, up, down)` as the SQL of a `WITH` list, and its parameters.
struct Batch {
    relation: String,
    params: Vec<Value>,
}

/// The pass's sums in batches: a node and hour with [`SHARED_RUN`] entries or more (a big
/// report) in batches sharing them, the rest (many small reports) mixed, 5 parameters an entry.
fn batches(sums: &BTreeMap<Bucket, (i64, i64)>) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut mixed: Vec<Entry<'_>> = Vec::new();
    let entries: Vec<Entry<'_>> = sums.iter().collect();
    // The map is ordered by node, then hour: one node and hour's entries are one run.
    for run in entries.chunk_by(|a, b| a.0 .0 == b.0 .0 && a.0 .1 == b.0 .1) {
        if run.len() >= SHARED_RUN {
            out.extend(run.chunks(SHARED_CHUNK).map(shared_batch));
        } else {
            mixed.extend_from_slice(run);
        }
    }
    out.extend(mixed.chunks(APPLY_CHUNK).map(mixed_batch));
    out
}

/// Entries of any nodes and hours, 5 parameters each.
fn mixed_batch(chunk: &[Entry<'_>]) -> Batch {
    let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
    for ((node, hour, link), (up, down)) in chunk {
        params.extend([
            node.as_str().into(),
            (*hour).into(),
            link.as_str().into(),
            (*up).into(),
            (*down).into(),
        ]);
    }
    Batch {
        relation: format!(
            "v (node_id, hour, link_id, up, down) AS (VALUES {})",
            placeholders(chunk.len(), 5)
        ),
        params,
    }
}

/// Entries of one node and hour: those two as `$1` and `$2`, then 3 parameters an entry.
fn shared_batch(chunk: &[Entry<'_>]) -> Batch {
    let ((node, hour, _), _) = chunk[0];
    let mut params: Vec<Value> = Vec::with_capacity(2 + chunk.len() * 3);
    params.extend([node.as_str().into(), (*hour).into()]);
    for ((_, _, link), (up, down)) in chunk {
        params.extend([link.as_str().into(), (*up).into(), (*down).into()]);
    }
    Batch {
        relation: format!(
            "e (link_id, up, down) AS (VALUES {}), \
             v (node_id, hour, link_id, up, down) AS (SELECT $1, $2, link_id, up, down FROM e)",
            placeholders_after(2, chunk.len(), 3)
        ),
        params,
    }
}

/// Adds one batch to the subscriptions' used traffic and to the hourly and daily buckets,
/// noting the subscriptions counted and the alert levels crossed. Names the Core does not know
/// (deleted links) fall out of the joins: ignored.
fn count_batch(
    tx: &Transaction,
    batch: &Batch,
    counted: &mut Vec<String>,
    crossed: &mut Vec<(String, i64)>,
) -> Result<(), ApiError> {
    let Batch { relation, params } = batch;
    let updated = tx.query(
        &format!(
            "WITH {relation} \
             UPDATE subscriptions SET traffic_used_bytes = subscriptions.traffic_used_bytes + x.used \
             FROM (SELECT l.subscription_id AS sid, CAST(SUM(v.up + v.down) AS BIGINT) AS used \
                   FROM v JOIN subscription_links l ON l.id = v.link_id \
                   WHERE l.subscription_id IS NOT NULL GROUP BY l.subscription_id) AS x \
             WHERE subscriptions.id = x.sid RETURNING id, traffic_alerted, {TRAFFIC_LEVEL}"
        ),
        params,
    )?;
    for row in updated.iter() {
        let (id, level) = (row.string("id")?, row.i64("traffic_level")?);
        if level > row.i64("traffic_alerted")? {
            crossed.push((id.clone(), level));
        }
        counted.push(id);
    }
    tx.execute(
        &format!(
            "WITH {relation} \
             INSERT INTO traffic_hourly (hour, user_id, node_id, link_id, up, down) \
             SELECT v.hour, l.user_id, v.node_id, l.id, v.up, v.down \
             FROM v JOIN subscription_links l ON l.id = v.link_id WHERE TRUE \
             ON CONFLICT (hour, user_id, node_id, link_id) DO UPDATE SET \
             up = traffic_hourly.up + excluded.up, down = traffic_hourly.down + excluded.down"
        ),
        params,
    )?;
    // The same traffic per UTC day, for sums over days (migration 0012).
    tx.execute(
        &format!(
            "WITH {relation} \
             INSERT INTO traffic_daily (day, user_id, node_id, link_id, up, down) \
             SELECT v.hour - v.hour % {DAY_MS}, l.user_id, v.node_id, l.id, \
                    SUM(v.up), SUM(v.down) \
             FROM v JOIN subscription_links l ON l.id = v.link_id WHERE TRUE \
             GROUP BY v.hour - v.hour % {DAY_MS}, l.user_id, v.node_id, l.id \
             ON CONFLICT (day, user_id, node_id, link_id) DO UPDATE SET \
             up = traffic_daily.up + excluded.up, down = traffic_daily.down + excluded.down"
        ),
        params,
    )?;
    Ok(())
}

/// `POST /node/outbound-usage`: hourly buckets per node and outbound tag.
pub fn outbound_usage(req: &Request) -> Result<Response, ApiError> {
    let body: OutboundBody = req.json()?;
    let report = report_id(&body.report_id)?;
    if body.outbounds.len() > MAX_ENTRIES {
        return Err(ApiError::validation(
            "outbounds",
            format!("at most {MAX_ENTRIES} per report"),
        ));
    }
    let mut per_tag: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (i, o) in body.outbounds.iter().enumerate() {
        if o.tag.is_empty() || o.tag.len() > NAME_MAX {
            return Err(ApiError::validation(
                format!("outbounds[{i}].tag"),
                "must be 1 to 100 characters",
            ));
        }
        let sums = per_tag.entry(o.tag.as_str()).or_default();
        usage_report::add_bytes(sums, &format!("outbounds[{i}]"), &o.tag, o.up, o.down)
            .map_err(refused)?;
    }
    let node = caller_node(req)?;
    let now = clock::now_ms();
    let hour = usage_report::hour(body.collected_at, now);
    let tx = db::begin()?;
    if !first_time(&tx, &node.id, report, "outbound-usage", now)? {
        return reply(report, true);
    }
    let rows: Vec<(&str, (i64, i64))> = per_tag.into_iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
        for (tag, (up, down)) in chunk {
            params.extend([
                hour.into(),
                node.id.as_str().into(),
                (*tag).into(),
                (*up).into(),
                (*down).into(),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO outbound_traffic_hourly (hour, node_id, tag, up, down) VALUES {} \
                 ON CONFLICT (hour, node_id, tag) DO UPDATE SET \
                 up = outbound_traffic_hourly.up + excluded.up, \
                 down = outbound_traffic_hourly.down + excluded.down",
                placeholders(chunk.len(), 5)
            ),
            &params,
        )?;
        // The same traffic per UTC day (migration 0018): past the hourly retention the days
        // still hold every byte.
        tx.execute(
            &format!(
                "WITH v (hour, node_id, tag, up, down) AS (VALUES {}) \
                 INSERT INTO outbound_traffic_daily (day, node_id, tag, up, down) \
                 SELECT v.hour - v.hour % {DAY_MS}, v.node_id, v.tag, SUM(v.up), SUM(v.down) \
                 FROM v WHERE TRUE GROUP BY v.hour - v.hour % {DAY_MS}, v.node_id, v.tag \
                 ON CONFLICT (day, node_id, tag) DO UPDATE SET \
                 up = outbound_traffic_daily.up + excluded.up, \
                 down = outbound_traffic_daily.down + excluded.down",
                placeholders(chunk.len(), 5)
            ),
            &params,
        )?;
    }
    tx.commit()?;
    reply(report, false)
}

/// What a session event says of its client.
const EVENT_KINDS: [&str; 2] = ["online", "offline"];

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SessionEvent {
    /// The client's name in the node's config: a link id.
    #[schemars(length(min = 1, max = NAME_MAX), regex(pattern = NAME_PATTERN))]
    name: String,
    #[schemars(extend("enum" = EVENT_KINDS))]
    kind: String,
    /// Epoch milliseconds; a client's latest event wins.
    at: i64,
}

/// `POST /node/session-events`'s body (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventsBody {
    #[schemars(length(max = MAX_ENTRIES))]
    events: Vec<SessionEvent>,
}

/// `POST /node/session-events`: which clients are active on the node now.
pub fn session_events(req: &Request) -> Result<Response, ApiError> {
    let body: EventsBody = req.json()?;
    if body.events.len() > MAX_ENTRIES {
        return Err(ApiError::validation(
            "events",
            format!("at most {MAX_ENTRIES} per request"),
        ));
    }
    // The latest event per client wins.
    let mut latest: BTreeMap<&str, (bool, i64)> = BTreeMap::new();
    for (i, e) in body.events.iter().enumerate() {
        let online = match EVENT_KINDS.iter().position(|k| *k == e.kind) {
            Some(0) => true,
            Some(_) => false,
            None => {
                return Err(ApiError::validation(
                    format!("events[{i}].kind"),
                    format!("must be {}", EVENT_KINDS.join(" or ")),
                ))
            }
        };
        if e.name.is_empty() || e.name.len() > NAME_MAX {
            return Err(ApiError::validation(
                format!("events[{i}].name"),
                "must be 1 to 100 characters",
            ));
        }
        let slot = latest.entry(e.name.as_str()).or_insert((online, e.at));
        if e.at >= slot.1 {
            *slot = (online, e.at);
        }
    }
    let node = caller_node(req)?;
    let rows: Vec<(&str, (bool, i64))> = latest.into_iter().collect();
    let tx = db::begin()?;
    for chunk in rows.chunks(CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for (name, (online, at)) in chunk {
            params.extend([
                node.id.as_str().into(),
                (*name).into(),
                (*online).into(),
                (*at).into(),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO link_presence (node_id, link_id, online, changed_at) VALUES {} \
                 ON CONFLICT (node_id, link_id) DO UPDATE SET online = excluded.online, \
                 changed_at = excluded.changed_at WHERE excluded.changed_at >= link_presence.changed_at",
                placeholders(chunk.len(), 4)
            ),
            &params,
        )?;
    }
    tx.commit()?;
    response::no_content()
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_reports_state_the_checks() {
        let events = nexuma_sdk::schema_of::<EventsBody>();
        assert_eq!(events["properties"]["events"]["maxItems"], MAX_ENTRIES);
        let event = &events["properties"]["events"]["items"];
        assert_eq!(event["properties"]["kind"]["enum"], json!(EVENT_KINDS));
        assert_eq!(event["required"], json!(["name", "kind", "at"]));
        assert_eq!(event["properties"]["name"]["maxLength"], NAME_MAX);

        let outbound = nexuma_sdk::schema_of::<OutboundBody>();
        assert_eq!(outbound["required"], json!(["reportId", "outbounds"]));
        let entry = &outbound["properties"]["outbounds"]["items"];
        assert_eq!(entry["properties"]["up"]["maximum"], MAX_REPORTED_BYTES);
        let body: OutboundBody = serde_json::from_value(
            json!({ "reportId": "r", "outbounds": [{ "tag": "warp", "up": 1, "down": 2 }] }),
        )
        .expect("parses");
        assert_eq!(report_id(&body.report_id).ok(), Some("r"));
        let ack = nexuma_sdk::answer_schema_of::<Acknowledged>();
        assert_eq!(ack["required"], json!(["reportId", "duplicate"]));
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    /// Sums of `links` entries each for `runs` of (node, hour).
    fn sums_of(runs: &[(&str, i64, usize)]) -> BTreeMap<Bucket, (i64, i64)> {
        let mut sums = BTreeMap::new();
        for (node, hour, links) in runs {
            for l in 0..*links {
                sums.insert((node.to_string(), *hour, format!("link-{l:05}")), (1, 2));
            }
        }
        sums
    }

    #[test]
    fn a_big_report_shares_its_node_and_hour_and_small_ones_mix() {
        let sums = sums_of(&[
            ("a", 0, SHARED_RUN + SHARED_CHUNK),
            ("b", 0, 3),
            ("b", 3_600_000, 2),
        ]);
        let batches = batches(&sums);
        // The big run in two shared batches, then the small ones in one mixed batch.
        let sizes: Vec<usize> = batches.iter().map(|b| b.params.len()).collect();
        assert_eq!(sizes, [2 + SHARED_CHUNK * 3, 2 + SHARED_RUN * 3, 5 * 5]);
        let second = &batches[1];
        assert!(second
            .relation
            .starts_with("e (link_id, up, down) AS (VALUES ($3, $4, $5), "));
        assert!(second.relation.ends_with(&format!(
            "(${}, ${}, ${})), v (node_id, hour, link_id, up, down) AS (SELECT $1, $2, link_id, up, down FROM e)",
            SHARED_RUN * 3, SHARED_RUN * 3 + 1, SHARED_RUN * 3 + 2
        )));
        assert_eq!(
            batches[2].relation,
            format!(
                "v (node_id, hour, link_id, up, down) AS (VALUES {})",
                placeholders(5, 5)
            )
        );
        // Every entry in exactly one batch.
        let entries: usize = batches
            .iter()
            .map(|b| {
                if b.relation.starts_with('e') {
                    (b.params.len() - 2) / 3
                } else {
                    b.params.len() / 5
                }
            })
            .sum();
        assert_eq!(entries, sums.len());
    }
}
