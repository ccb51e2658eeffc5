//! The `rollup` pass (a job every minute, also `POST /admin/usage/rollup`): deletes hourly
//! usage rows past the retention ([`crate::retention`]). Nothing needs adding up first: the
//! daily tables are written in the transaction that writes the hours (`traffic_daily` by the
//! usage count, `outbound_traffic_daily` by `/node/outbound-usage`), and the Node Manager's
//! `usage_hourly` is read for the last 24 hours only (its totals live in `node_users`).
//!
//! When there is anything to delete, the pass first moves the mark of what is kept
//! (`usage_rollups`, never back), so reads stop asking for those hours before any goes; then
//! deletes in batches of [`BATCH`] rows, each its
//! own statement (a short lock, however big the backlog), until nothing is left or its time
//! [`BUDGET_MS`] is spent; the next tick goes on. Running it twice changes nothing.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::{clock, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::retention::{self, Kept, ROLLUP};

/// Rows one delete takes at most.
const BATCH: i64 = 5_000;
/// Milliseconds of deleting one pass allows itself: well inside a job tick's deadline (10 s by
/// default), and a backlog goes at tens of thousands of rows a second anyway.
const BUDGET_MS: i64 = 4_000;

/// An hourly table: its name and a key that names each row once.
struct Table {
    name: &'static str,
    key: &'static str,
}

const TABLES: [Table; 3] = [
    Table {
        name: "traffic_hourly",
        key: "user_id, hour, node_id, link_id",
    },
    Table {
        name: "outbound_traffic_hourly",
        key: "hour, node_id, tag",
    },
    Table {
        name: "usage_hourly",
        key: "user_id, node_id, hour",
    },
];

/// What one pass did.
#[derive(Serialize, JsonSchema, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Pass {
    /// Epoch milliseconds: hourly rows before this are gone (or going: see `done`).
    hourly_kept_from: i64,
    /// Rows deleted from `traffic_hourly`.
    traffic_hourly: u64,
    /// Rows deleted from `outbound_traffic_hourly`.
    outbound_traffic_hourly: u64,
    /// Rows deleted from the Node Manager's `usage_hourly`.
    usage_hourly: u64,
    /// False when the pass stopped at its time budget with rows left; the next one goes on.
    done: bool,
}

/// Moves the mark to `cutoff` unless it is already later; the mark now.
fn advance(cutoff: i64, now: i64) -> Result<i64, ApiError> {
    Pool.execute(
        "INSERT INTO usage_rollups (name, kept_from, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET kept_from = excluded.kept_from, \
         updated_at = excluded.updated_at WHERE usage_rollups.kept_from < excluded.kept_from",
        &[ROLLUP.into(), cutoff.into(), now.into()],
    )?;
    Pool.query(
        "SELECT kept_from FROM usage_rollups WHERE name = $1",
        &[ROLLUP.into()],
    )?
    .first()
    .map(|row| row.i64("kept_from"))
    .transpose()?
    .ok_or_else(|| ApiError::internal("usage_rollups: the mark is missing"))
}

/// Deletes `table`'s rows before `kept_from`, a batch at a time until none is left (true) or
/// `deadline` passes (false).
fn clear(
    table: &Table,
    kept_from: i64,
    deadline: i64,
    deleted: &mut u64,
) -> Result<bool, ApiError> {
    let Table { name, key } = table;
    let sql = format!(
        "DELETE FROM {name} WHERE ({key}) IN \
         (SELECT {key} FROM {name} WHERE hour < $1 LIMIT $2)"
    );
    loop {
        let n = Pool.execute(&sql, &[kept_from.into(), BATCH.into()])?;
        *deleted += n;
        if n < BATCH as u64 {
            return Ok(true);
        }
        if clock::now_ms() >= deadline {
            return Ok(false);
        }
    }
}

/// Whether any table holds a row before `kept_from` (an index probe each).
fn anything_before(kept_from: i64) -> Result<bool, ApiError> {
    for Table { name, .. } in &TABLES {
        let sql = format!("SELECT hour FROM {name} WHERE hour < $1 LIMIT 1");
        if !Pool.query(&sql, &[kept_from.into()])?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One pass at `now`. With nothing to delete the mark stays where it is: nothing is gone, so
/// an operator who keeps hours longer later reads every hour there is.
pub fn run(now: i64) -> Result<Pass, ApiError> {
    let kept = Kept::read(now)?;
    if !anything_before(kept.from)? {
        return Ok(Pass {
            hourly_kept_from: kept.from,
            traffic_hourly: 0,
            outbound_traffic_hourly: 0,
            usage_hourly: 0,
            done: true,
        });
    }
    let kept_from = advance(retention::cutoff(kept.days, now), now)?;
    let deadline = now + BUDGET_MS;
    let mut deleted = [0u64; TABLES.len()];
    let mut done = true;
    for (table, count) in TABLES.iter().zip(&mut deleted) {
        done = clear(table, kept_from, deadline, count)?;
        if !done {
            break;
        }
    }
    let [traffic_hourly, outbound_traffic_hourly, usage_hourly] = deleted;
    let pass = Pass {
        hourly_kept_from: kept_from,
        traffic_hourly,
        outbound_traffic_hourly,
        usage_hourly,
        done,
    };
    let total = pass.traffic_hourly + pass.outbound_traffic_hourly + pass.usage_hourly;
    if total > 0 {
        log::info(
            "hourly usage rows past the retention deleted",
            &[
                ("keptFrom", &kept_from.to_string()),
                ("trafficHourly", &pass.traffic_hourly.to_string()),
                (
                    "outboundTrafficHourly",
                    &pass.outbound_traffic_hourly.to_string(),
                ),
                ("usageHourly", &pass.usage_hourly.to_string()),
                ("done", &done.to_string()),
            ],
        );
    }
    Ok(pass)
}

/// `POST /admin/usage/rollup`: a pass now.
pub fn now(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &run(clock::now_ms())?)
}
