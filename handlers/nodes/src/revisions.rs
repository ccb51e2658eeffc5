//! Config revisions. The `revisions` job (and `POST /admin/nodes/sync`) takes the unprocessed
//! rows of the `node_changes` outbox, works out which nodes they can touch, rebuilds those
//! nodes' configs and bumps a node's revision only when its config's hash changed — so a
//! revision moves whenever anything node-facing changed, and only then.
//!
//! Safe to run concurrently: a bump is conditional on the hash it replaces, so two passes that
//! built the same content bump once.

use std::collections::BTreeSet;

use nexuma_sdk::db::{self, Executor, Pool, Value};
use nexuma_sdk::{log, ApiError};
use serde::Serialize;

use crate::build;
use crate::model::{self, Node};

/// Outbox rows one pass takes at most.
const BATCH: i64 = 5_000;

/// Which nodes a batch of changes can touch.
enum Targets {
    All,
    Some(BTreeSet<String>),
}

impl Targets {
    fn add(&mut self, node: String) {
        if let Targets::Some(set) = self {
            set.insert(node);
        }
    }

    /// A tariff's node list (JSON text): empty means every node.
    fn add_tariff_nodes(&mut self, raw: &str) {
        let ids: Vec<String> = serde_json::from_str(raw).unwrap_or_default();
        if ids.is_empty() {
            *self = Targets::All;
        } else {
            for id in ids {
                self.add(id);
            }
        }
    }
}

#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub changes: u32,
    pub nodes_built: u32,
    pub revisions_bumped: u32,
}

/// One pass at `now`.
pub fn sync(now: i64) -> Result<Report, ApiError> {
    let changes = db::query(
        "SELECT seq, kind, user_id, subscription_id, tariff_id, node_id, detail FROM node_changes \
         WHERE processed_at IS NULL ORDER BY seq LIMIT $1",
        &[BATCH.into()],
    )?;
    let mut report = Report::default();
    let mut targets = Targets::Some(BTreeSet::new());
    let mut seqs: Vec<i64> = Vec::with_capacity(changes.len());
    let mut subscriptions: BTreeSet<String> = BTreeSet::new();
    let mut users: BTreeSet<String> = BTreeSet::new();
    let mut tariffs: BTreeSet<String> = BTreeSet::new();
    for row in changes.iter() {
        seqs.push(row.i64("seq")?);
        if let Some(node) = row.opt_string("node_id")? {
            targets.add(node);
        }
        if row.str("kind")? == "tariff.permissions" {
            // Nodes the tariff served before and serves now.
            let detail = row.opt_str("detail")?.unwrap_or("{}");
            let detail: serde_json::Value = serde_json::from_str(detail).unwrap_or_default();
            for side in ["before", "after"] {
                targets.add_tariff_nodes(&detail[side]["nodeIds"].to_string());
            }
        } else if let Some(tariff) = row.opt_string("tariff_id")? {
            tariffs.insert(tariff);
        }
        match (
            row.opt_string("subscription_id")?,
            row.opt_string("user_id")?,
        ) {
            (Some(sub), _) => {
                subscriptions.insert(sub);
            }
            (None, Some(user)) => {
                users.insert(user);
            }
            _ => {}
        }
    }
    report.changes = seqs.len() as u32;
    tariffs.extend(tariffs_of(&Pool, "subscriptions", "id", &subscriptions)?);
    tariffs.extend(tariffs_of(&Pool, "subscriptions", "user_id", &users)?);
    for raw in node_lists(&Pool, &tariffs)? {
        targets.add_tariff_nodes(&raw);
        if matches!(targets, Targets::All) {
            break;
        }
    }

    // Nodes never built yet are always due.
    let nodes: Vec<Node> = model::all(&Pool)?
        .into_iter()
        .filter(|n| {
            n.config_hash.is_none()
                || match &targets {
                    Targets::All => true,
                    Targets::Some(set) => set.contains(&n.id),
                }
        })
        .collect();
    for node in &nodes {
        report.nodes_built += 1;
        match rebuild(&node.id, now) {
            Ok(true) => report.revisions_bumped += 1,
            Ok(false) => {}
            Err(err) => {
                log::warn(
                    "node config not built",
                    &[("nodeId", &node.id), ("error", &err.to_string())],
                );
                // A refusal the operator can act on (too many clients, say) is shown on the
                // node; a failure of ours (5xx) is the log's.
                if err.status < 500 {
                    show_refusal(node, &err.message, now)?;
                }
            }
        }
    }
    for chunk in seqs.chunks(500) {
        let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let mut params: Vec<Value> = vec![now.into()];
        params.extend(chunk.iter().map(|s| Value::Int(*s)));
        db::execute(
            &format!(
                "UPDATE node_changes SET processed_at = $1 WHERE seq IN ({})",
                marks.join(", ")
            ),
            &params,
        )?;
    }
    if report.revisions_bumped > 0 {
        log::info(
            "node revisions moved",
            &[
                ("changes", &report.changes.to_string()),
                ("nodesBuilt", &report.nodes_built.to_string()),
                ("revisionsBumped", &report.revisions_bumped.to_string()),
            ],
        );
    }
    Ok(report)
}

/// Shows why a node's config was not built on the node (`lastError`) and in its error list,
/// once: a node never built is retried every pass.
fn show_refusal(node: &Node, message: &str, now: i64) -> Result<(), ApiError> {
    if node.last_error.as_deref() == Some(message) {
        return Ok(());
    }
    let tx = db::begin()?;
    model::keep_error(&tx, &node.id, "config_build", message, now, now)?;
    tx.commit()?;
    Ok(())
}

/// How long processed outbox rows stay (for operators looking back).
const CHANGES_KEPT_MS: i64 = 7 * 24 * 3_600_000;
/// How long a usage report id is remembered: far longer than any agent keeps retrying one.
const REPORTS_KEPT_MS: i64 = 30 * 24 * 3_600_000;

/// Deletes processed outbox rows and report ids past their time.
pub fn housekeeping(now: i64) -> Result<(), ApiError> {
    let changes = db::execute(
        "DELETE FROM node_changes WHERE processed_at IS NOT NULL AND processed_at < $1",
        &[(now - CHANGES_KEPT_MS).into()],
    )?;
    let reports = db::execute(
        "DELETE FROM node_reports WHERE received_at < $1",
        &[(now - REPORTS_KEPT_MS).into()],
    )?;
    if changes + reports > 0 {
        log::info(
            "housekeeping",
            &[
                ("changesDeleted", &changes.to_string()),
                ("reportIdsDeleted", &reports.to_string()),
            ],
        );
    }
    Ok(())
}

/// Distinct tariff ids of the rows of `table` whose `column` is one of `keys`.
fn tariffs_of(
    db: &impl Executor,
    table: &str,
    column: &str,
    keys: &BTreeSet<String>,
) -> Result<Vec<String>, ApiError> {
    let keys: Vec<&String> = keys.iter().collect();
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<Value> = chunk.iter().map(|k| k.as_str().into()).collect();
        for row in db
            .query(
                &format!(
                    "SELECT DISTINCT tariff_id FROM {table} WHERE {column} IN ({})",
                    marks.join(", ")
                ),
                &params,
            )?
            .iter()
        {
            out.push(row.string("tariff_id")?);
        }
    }
    Ok(out)
}

/// The node lists (JSON text) of these tariffs.
fn node_lists(db: &impl Executor, tariffs: &BTreeSet<String>) -> Result<Vec<String>, ApiError> {
    let ids: Vec<&String> = tariffs.iter().collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<Value> = chunk.iter().map(|k| k.as_str().into()).collect();
        for row in db
            .query(
                &format!(
                    "SELECT node_ids FROM tariffs WHERE id IN ({})",
                    marks.join(", ")
                ),
                &params,
            )?
            .iter()
        {
            out.push(row.string("node_ids")?);
        }
    }
    Ok(out)
}

/// Builds node `id`'s config and, when it differs from the last one, stores it under the next
/// revision. True when the revision moved. When another pass moved it meanwhile, builds again
/// from what is there now, so the newest content always ends up stored.
pub fn rebuild(id: &str, now: i64) -> Result<bool, ApiError> {
    for _ in 0..3 {
        let node = model::load(&Pool, id)?;
        let built = build::build(&Pool, &node)?;
        if node.config_hash.as_deref() == Some(built.hash.as_str()) {
            return Ok(false);
        }
        let tx = db::begin()?;
        let bumped = tx.query(
            "UPDATE nodes SET revision = revision + 1, config_hash = $2 \
             WHERE id = $1 AND COALESCE(config_hash, '') = $3 RETURNING revision",
            &[
                node.id.as_str().into(),
                built.hash.as_str().into(),
                node.config_hash.clone().unwrap_or_default().into(),
            ],
        )?;
        let Some(revision) = bumped.first().map(|r| r.i64("revision")).transpose()? else {
            continue;
        };
        tx.execute(
            "INSERT INTO node_configs (node_id, revision, body, clients, built_at, inbounds) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id) DO UPDATE SET \
             revision = excluded.revision, body = excluded.body, clients = excluded.clients, \
             built_at = excluded.built_at, inbounds = excluded.inbounds",
            &[
                node.id.as_str().into(),
                revision.into(),
                built.body.into(),
                built.clients.into(),
                now.into(),
                built.inbounds.into(),
            ],
        )?;
        tx.commit()?;
        return Ok(true);
    }
    Err(ApiError::unavailable(
        "node_busy",
        format!("node {id}'s config kept changing while it was built; the next pass retries"),
    ))
}
