//! Traffic from the agents: `POST /node/usage`, `/node/outbound-usage` (idempotent by report
//! id) and `/node/session-events`. Writes go in batches of many rows per statement, so a
//! 10,000-client report is a few dozen statements, not tens of thousands.

use std::collections::BTreeMap;

use nexuma_sdk::db::{self, Transaction, Value};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use serde::Deserialize;
use serde_json::json;

use crate::private::caller_node;

/// Most entries one report may carry.
pub const MAX_ENTRIES: usize = 10_000;
/// Rows per multi-row statement (5 parameters each, well under every backend's limit).
const CHUNK: usize = 500;
const HOUR_MS: i64 = 3_600_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientUsage {
    name: String,
    up: u64,
    down: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageBody {
    report_id: String,
    collected_at: Option<i64>,
    clients: Vec<ClientUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutboundUsage {
    tag: String,
    up: u64,
    down: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutboundBody {
    report_id: String,
    collected_at: Option<i64>,
    outbounds: Vec<OutboundUsage>,
}

fn report_id(raw: &str) -> Result<&str, ApiError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "reportId",
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(id)
}

fn bytes(field: &str, value: u64) -> Result<i64, ApiError> {
    i64::try_from(value)
        .map_err(|_| ApiError::validation(field, "is larger than a 64-bit signed integer"))
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
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn reply(report: &str, duplicate: bool) -> Result<Response, ApiError> {
    response::json(200, &json!({ "reportId": report, "duplicate": duplicate }))
}

/// `POST /node/usage`: adds each client's traffic to its subscription and to the hourly
/// buckets per user, node and link.
pub fn usage(req: &Request) -> Result<Response, ApiError> {
    let body: UsageBody = req.json()?;
    let report = report_id(&body.report_id)?;
    if body.clients.len() > MAX_ENTRIES {
        return Err(ApiError::validation(
            "clients",
            format!("at most {MAX_ENTRIES} per report; send the rest in another"),
        ));
    }
    // One entry per name (a report may repeat one; they add up).
    let mut per_link: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (i, c) in body.clients.iter().enumerate() {
        let up = bytes(&format!("clients[{i}].up"), c.up)?;
        let down = bytes(&format!("clients[{i}].down"), c.down)?;
        let entry = per_link.entry(c.name.as_str()).or_default();
        entry.0 = entry.0.saturating_add(up);
        entry.1 = entry.1.saturating_add(down);
    }
    let node = caller_node(req)?;
    let now = clock::now_ms();
    let hour = body.collected_at.unwrap_or(now).clamp(0, now + HOUR_MS) / HOUR_MS * HOUR_MS;

    let tx = db::begin()?;
    if !first_time(&tx, &node.id, report, "usage", now)? {
        return reply(report, true);
    }
    let names: Vec<&str> = per_link
        .iter()
        .filter(|(_, (up, down))| up + down > 0)
        .map(|(name, _)| *name)
        .collect();
    // Which links (and whose subscriptions) the names are; unknown names are ignored.
    let mut known: Vec<(String, String, String, i64, i64)> = Vec::with_capacity(names.len());
    for chunk in names.chunks(CHUNK) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<Value> = chunk.iter().map(|n| (*n).into()).collect();
        let rows = tx.query(
            &format!(
                "SELECT id, user_id, subscription_id FROM subscription_links WHERE id IN ({})",
                marks.join(", ")
            ),
            &params,
        )?;
        for row in rows.iter() {
            let link = row.string("id")?;
            let (up, down) = per_link.get(link.as_str()).copied().unwrap_or_default();
            let sub = row.opt_string("subscription_id")?.unwrap_or_default();
            known.push((link, row.string("user_id")?, sub, up, down));
        }
    }
    // Hourly buckets.
    for chunk in known.chunks(CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for (link, user, _, up, down) in chunk {
            params.extend([
                hour.into(),
                user.as_str().into(),
                node.id.as_str().into(),
                link.as_str().into(),
                (*up).into(),
                (*down).into(),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO traffic_hourly (hour, user_id, node_id, link_id, up, down) VALUES {} \
                 ON CONFLICT (hour, user_id, node_id, link_id) DO UPDATE SET \
                 up = traffic_hourly.up + excluded.up, down = traffic_hourly.down + excluded.down",
                placeholders(chunk.len(), 6)
            ),
            &params,
        )?;
    }
    // Used traffic per subscription.
    let mut per_sub: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, _, sub, up, down) in &known {
        if !sub.is_empty() {
            *per_sub.entry(sub.as_str()).or_default() += up.saturating_add(*down);
        }
    }
    let subs: Vec<(&str, i64)> = per_sub.into_iter().collect();
    for chunk in subs.chunks(CHUNK) {
        let mut cases = String::new();
        let mut ids = Vec::with_capacity(chunk.len());
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        for (i, (sub, used)) in chunk.iter().enumerate() {
            cases.push_str(&format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2));
            ids.push(format!("${}", 2 * i + 1));
            params.push((*sub).into());
            params.push((*used).into());
        }
        tx.execute(
            &format!(
                "UPDATE subscriptions SET traffic_used_bytes = traffic_used_bytes + \
                 CAST(CASE id{cases} ELSE 0 END AS BIGINT) WHERE id IN ({})",
                ids.join(", ")
            ),
            &params,
        )?;
    }
    tx.commit()?;
    reply(report, false)
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
        if o.tag.is_empty() || o.tag.len() > 100 {
            return Err(ApiError::validation(
                format!("outbounds[{i}].tag"),
                "must be 1 to 100 characters",
            ));
        }
        let entry = per_tag.entry(o.tag.as_str()).or_default();
        entry.0 = entry
            .0
            .saturating_add(bytes(&format!("outbounds[{i}].up"), o.up)?);
        entry.1 = entry
            .1
            .saturating_add(bytes(&format!("outbounds[{i}].down"), o.down)?);
    }
    let node = caller_node(req)?;
    let now = clock::now_ms();
    let hour = body.collected_at.unwrap_or(now).clamp(0, now + HOUR_MS) / HOUR_MS * HOUR_MS;
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
    }
    tx.commit()?;
    reply(report, false)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionEvent {
    name: String,
    kind: String,
    at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsBody {
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
        let online = match e.kind.as_str() {
            "online" => true,
            "offline" => false,
            _ => {
                return Err(ApiError::validation(
                    format!("events[{i}].kind"),
                    "must be online or offline",
                ))
            }
        };
        if e.name.is_empty() || e.name.len() > 100 {
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
