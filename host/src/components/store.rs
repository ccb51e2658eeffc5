//! The components' tables (`migrations/*/0013_components.sql`, `0015_component_canary.sql`):
//! versions by content hash, the active version per name with its canary, the active set's
//! revision, and the audit rows of every change.
//!
//! Every statement is portable SQL; each change that moves the active set bumps the revision in
//! the caller's transaction, so a replica that reads the revision and then the active rows can
//! never miss a change (it sees the new revision on its next look at the latest).

use serde_json::Value as Json;

use crate::bindings::nexuma::core::db::Value;
use crate::iface::db::{Database, Transaction};

/// A stored version, without its bytes.
#[derive(Debug, Clone)]
pub struct Version {
    pub hash: String,
    pub name: String,
    pub size: i64,
    /// `[{"method","path","auth"}]` as text.
    pub routes: String,
    /// `[{"name","intervalMs"}]` as text.
    pub jobs: String,
    pub factory: bool,
    pub uploaded_by: Option<String>,
    pub uploaded_at: i64,
    /// The contract version it targets, e.g. `0.1.1` (none for versions stored before 0014).
    pub contract: Option<String>,
    /// `[{"version","name"}]` as text: the schema steps it declares.
    pub migrations: Option<String>,
}

/// A schema step some version of a component ran.
#[derive(Debug, Clone)]
pub struct Applied {
    pub component: String,
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub applied_by: String,
    pub applied_at: i64,
}

/// A name's active version.
#[derive(Debug, Clone)]
pub struct Active {
    pub name: String,
    pub hash: String,
    pub previous_hash: Option<String>,
    pub activated_by: Option<String>,
    pub activated_at: i64,
    /// The canary running beside the active version, if any.
    pub canary: Option<Canary>,
}

/// A canary: another version of the name serving a share of its requests until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    pub hash: String,
    /// 1..=99.
    pub percent: i64,
    /// 0..=1: the failure rate the canary may have above the active version's.
    pub margin: f64,
    pub started_at: i64,
    pub until: i64,
    pub by: Option<String>,
}

/// One row for `audit_log`.
pub struct Audit<'a> {
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub name: &'a str,
    pub ip: Option<&'a str>,
    pub before: Json,
    pub after: Json,
    pub at: i64,
}

const APPLIED_COLUMNS: &str = "component, version, name, checksum, applied_by, applied_at";

const VERSION_COLUMNS: &str =
    "hash, name, size, routes, jobs, factory, uploaded_by, uploaded_at, contract, migrations";
const ACTIVE_COLUMNS: &str = "name, hash, previous_hash, activated_by, activated_at, \
    canary_hash, canary_percent, canary_margin, canary_started_at, canary_until, canary_by";
/// Every canary column cleared: what ends a canary, whichever way.
const NO_CANARY: &str = "canary_hash = NULL, canary_percent = NULL, canary_margin = NULL, \
    canary_started_at = NULL, canary_until = NULL, canary_by = NULL";

/// The active set's revision; 0 before the first activation.
pub async fn revision(db: &Database) -> Result<i64, sqlx::Error> {
    let rows = db
        .query("SELECT revision FROM component_set WHERE id = 1", &[])
        .await?;
    Ok(rows.rows.first().map_or(0, |r| int(r, 0)))
}

pub async fn active(db: &Database) -> Result<Vec<Active>, sqlx::Error> {
    let sql = format!("SELECT {ACTIVE_COLUMNS} FROM component_active ORDER BY name");
    let rows = db.query(&sql, &[]).await?;
    Ok(rows.rows.iter().map(|r| active_row(r)).collect())
}

pub async fn active_of(db: &Database, name: &str) -> Result<Option<Active>, sqlx::Error> {
    let sql = format!("SELECT {ACTIVE_COLUMNS} FROM component_active WHERE name = $1");
    let rows = db.query(&sql, &[text(name)]).await?;
    Ok(rows.rows.first().map(|r| active_row(r)))
}

pub async fn versions(db: &Database) -> Result<Vec<Version>, sqlx::Error> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM component_versions ORDER BY name, uploaded_at, hash"
    );
    let rows = db.query(&sql, &[]).await?;
    Ok(rows.rows.iter().map(|r| version_row(r)).collect())
}

pub async fn version(db: &Database, hash: &str) -> Result<Option<Version>, sqlx::Error> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM component_versions WHERE hash = $1");
    let rows = db.query(&sql, &[text(hash)]).await?;
    Ok(rows.rows.first().map(|r| version_row(r)))
}

/// A version's bytes.
pub async fn wasm(db: &Database, hash: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let rows = db
        .query(
            "SELECT wasm FROM component_versions WHERE hash = $1",
            &[text(hash)],
        )
        .await?;
    Ok(
        match rows
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
        {
            Some(Value::Blob(bytes)) => Some(bytes),
            _ => None,
        },
    )
}

/// Stores a version unless its hash is stored already; whether it was new.
pub async fn insert_version(
    tx: &mut Transaction,
    v: &Version,
    wasm: &[u8],
) -> Result<bool, sqlx::Error> {
    let inserted = tx
        .execute(
            "INSERT INTO component_versions \
             (hash, name, size, wasm, routes, jobs, factory, uploaded_by, uploaded_at, \
              contract, migrations) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (hash) DO NOTHING",
            &[
                text(&v.hash),
                text(&v.name),
                Value::Int(v.size),
                Value::Blob(wasm.to_vec()),
                text(&v.routes),
                text(&v.jobs),
                Value::Boolean(v.factory),
                opt_text(v.uploaded_by.as_deref()),
                Value::Int(v.uploaded_at),
                opt_text(v.contract.as_deref()),
                opt_text(v.migrations.as_deref()),
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// The name a stored hash belongs to.
pub async fn name_of(tx: &mut Transaction, hash: &str) -> Result<Option<String>, sqlx::Error> {
    let rows = tx
        .query(
            "SELECT name FROM component_versions WHERE hash = $1",
            &[text(hash)],
        )
        .await?;
    Ok(rows.rows.first().map(|r| string(r, 0)))
}

/// Makes `hash` the active version of `name` (an operator's choice); the version it replaced
/// (`Some(None)` when the name had none), or `None` when it was active already.
pub async fn activate(
    tx: &mut Transaction,
    name: &str,
    hash: &str,
    by: &str,
    at: i64,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let rows = tx
        .query(
            "INSERT INTO component_active (name, hash, previous_hash, activated_by, activated_at) \
             VALUES ($1, $2, NULL, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET previous_hash = component_active.hash, \
               hash = excluded.hash, activated_by = excluded.activated_by, \
               activated_at = excluded.activated_at \
             WHERE component_active.hash <> excluded.hash \
               AND component_active.canary_hash IS NULL \
             RETURNING previous_hash",
            &[text(name), text(hash), text(by), Value::Int(at)],
        )
        .await?;
    Ok(rows.rows.first().map(|r| opt_string(r, 0)))
}

/// Activates a factory version where the name has no active version, or where the active one
/// is an older factory version the Core itself activated (a Core upgrade). An operator's own
/// choice — an upload, or an older version activated or rolled back to by hand — stays.
/// One statement, so replicas starting together on one database agree.
pub async fn activate_factory(
    tx: &mut Transaction,
    name: &str,
    hash: &str,
    at: i64,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let rows = tx
        .query(
            "INSERT INTO component_active (name, hash, previous_hash, activated_by, activated_at) \
             VALUES ($1, $2, NULL, NULL, $3) \
             ON CONFLICT (name) DO UPDATE SET previous_hash = component_active.hash, \
               hash = excluded.hash, activated_by = NULL, activated_at = excluded.activated_at \
             WHERE component_active.hash <> excluded.hash \
               AND component_active.activated_by IS NULL \
               AND component_active.canary_hash IS NULL \
               AND (SELECT v.factory FROM component_versions v \
                    WHERE v.hash = component_active.hash) \
               AND (SELECT v.uploaded_at FROM component_versions v \
                    WHERE v.hash = component_active.hash) \
                 < (SELECT v.uploaded_at FROM component_versions v WHERE v.hash = excluded.hash) \
             RETURNING previous_hash",
            &[text(name), text(hash), Value::Int(at)],
        )
        .await?;
    Ok(rows.rows.first().map(|r| opt_string(r, 0)))
}

/// Swaps the active and the previous version of `name`, if they are still `from` and `to`.
pub async fn rollback(
    tx: &mut Transaction,
    name: &str,
    from: &str,
    to: &str,
    by: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let changed = tx
        .execute(
            "UPDATE component_active SET hash = previous_hash, previous_hash = hash, \
               activated_by = $4, activated_at = $5 \
             WHERE name = $1 AND hash = $2 AND previous_hash = $3 AND canary_hash IS NULL",
            &[text(name), text(from), text(to), text(by), Value::Int(at)],
        )
        .await?;
    Ok(changed == 1)
}

/// Starts `canary` beside `active`, the name's active version, unless that changed or a canary
/// runs already; whether it started.
pub async fn start_canary(
    tx: &mut Transaction,
    name: &str,
    active: &str,
    canary: &Canary,
) -> Result<bool, sqlx::Error> {
    let changed = tx
        .execute(
            "UPDATE component_active SET canary_hash = $3, canary_percent = $4, \
               canary_margin = $5, canary_started_at = $6, canary_until = $7, canary_by = $8 \
             WHERE name = $1 AND hash = $2 AND canary_hash IS NULL",
            &[
                text(name),
                text(active),
                text(&canary.hash),
                Value::Int(canary.percent),
                Value::Float(canary.margin),
                Value::Int(canary.started_at),
                Value::Int(canary.until),
                opt_text(canary.by.as_deref()),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Ends the canary `hash` started at `started_at`, the active version keeping every request;
/// whether it was still running (replicas deciding at once end it once).
pub async fn end_canary(
    tx: &mut Transaction,
    name: &str,
    hash: &str,
    started_at: i64,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE component_active SET {NO_CANARY} \
         WHERE name = $1 AND canary_hash = $2 AND canary_started_at = $3"
    );
    let changed = tx
        .execute(&sql, &[text(name), text(hash), Value::Int(started_at)])
        .await?;
    Ok(changed == 1)
}

/// Makes the running canary `hash` the active version (the old one becomes the previous);
/// whether it was still running. Activated by `by`, or when a replica promoted it at the
/// window's end, by the admin who started the canary (it is that admin's choice, not the
/// Core's own factory activation).
pub async fn promote_canary(
    tx: &mut Transaction,
    name: &str,
    hash: &str,
    started_at: i64,
    by: Option<&str>,
    at: i64,
) -> Result<bool, sqlx::Error> {
    // Both backends read the row's old values on the right of SET.
    let sql = format!(
        "UPDATE component_active SET previous_hash = hash, hash = canary_hash, \
           activated_by = COALESCE($4, canary_by), activated_at = $5, {NO_CANARY} \
         WHERE name = $1 AND canary_hash = $2 AND canary_started_at = $3"
    );
    let changed = tx
        .execute(
            &sql,
            &[
                text(name),
                text(hash),
                Value::Int(started_at),
                opt_text(by),
                Value::Int(at),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Deletes an inactive version (and forgets it as anyone's rollback target); whether it went.
pub async fn delete_version(tx: &mut Transaction, hash: &str) -> Result<bool, sqlx::Error> {
    tx.execute(
        "UPDATE component_active SET previous_hash = NULL WHERE previous_hash = $1",
        &[text(hash)],
    )
    .await?;
    let deleted = tx
        .execute(
            "DELETE FROM component_versions WHERE hash = $1 \
             AND NOT EXISTS (SELECT 1 FROM component_active a \
                             WHERE a.hash = $1 OR a.canary_hash = $1)",
            &[text(hash)],
        )
        .await?;
    Ok(deleted == 1)
}

/// Moves the active set's revision; the new one.
pub async fn bump(tx: &mut Transaction) -> Result<i64, sqlx::Error> {
    let rows = tx
        .query(
            "INSERT INTO component_set (id, revision) VALUES (1, 1) \
             ON CONFLICT (id) DO UPDATE SET revision = component_set.revision + 1 \
             RETURNING revision",
            &[],
        )
        .await?;
    Ok(rows.rows.first().map_or(0, |r| int(r, 0)))
}

pub async fn audit(tx: &mut Transaction, a: Audit<'_>) -> Result<(), sqlx::Error> {
    tx.execute(
        "INSERT INTO audit_log \
         (id, actor_id, action, target_type, target_id, ip, before, after, created_at) \
         VALUES ($1, $2, $3, 'component', $4, $5, $6, $7, $8)",
        &[
            text(&uuid::Uuid::new_v4().to_string()),
            opt_text(a.actor),
            text(a.action),
            text(a.name),
            opt_text(a.ip),
            json_text(&a.before),
            json_text(&a.after),
            Value::Int(a.at),
        ],
    )
    .await?;
    Ok(())
}

/// Records a schema step as run by `applied_by` unless it is recorded already; whether this
/// call recorded it. Inserted before the step runs: a transaction recording the same step at
/// once waits here on the primary key until this one ends, then finds the row.
pub async fn claim_migration(tx: &mut Transaction, step: &Applied) -> Result<bool, sqlx::Error> {
    let inserted = tx
        .execute(
            "INSERT INTO component_migrations \
             (component, version, name, checksum, applied_by, applied_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (component, version) DO NOTHING",
            &[
                text(&step.component),
                Value::Int(step.version),
                text(&step.name),
                text(&step.checksum),
                text(&step.applied_by),
                Value::Int(step.applied_at),
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// The recorded steps of `component` (every component when `None`), in order.
pub async fn applied(db: &Database, component: Option<&str>) -> Result<Vec<Applied>, sqlx::Error> {
    let rows = match component {
        Some(name) => {
            let sql = format!(
                "SELECT {APPLIED_COLUMNS} FROM component_migrations \
                 WHERE component = $1 ORDER BY version"
            );
            db.query(&sql, &[text(name)]).await?
        }
        None => {
            let sql = format!(
                "SELECT {APPLIED_COLUMNS} FROM component_migrations ORDER BY component, version"
            );
            db.query(&sql, &[]).await?
        }
    };
    Ok(rows.rows.iter().map(|r| applied_row(r)).collect())
}

/// The recorded step `version` of `component`, read inside the activating transaction.
pub async fn applied_step(
    tx: &mut Transaction,
    component: &str,
    version: i64,
) -> Result<Option<Applied>, sqlx::Error> {
    let sql = format!(
        "SELECT {APPLIED_COLUMNS} FROM component_migrations WHERE component = $1 AND version = $2"
    );
    let rows = tx
        .query(&sql, &[text(component), Value::Int(version)])
        .await?;
    Ok(rows.rows.first().map(|r| applied_row(r)))
}

fn applied_row(r: &[Value]) -> Applied {
    Applied {
        component: string(r, 0),
        version: int(r, 1),
        name: string(r, 2),
        checksum: string(r, 3),
        applied_by: string(r, 4),
        applied_at: int(r, 5),
    }
}

fn version_row(r: &[Value]) -> Version {
    Version {
        hash: string(r, 0),
        name: string(r, 1),
        size: int(r, 2),
        routes: string(r, 3),
        jobs: string(r, 4),
        factory: boolean(r, 5),
        uploaded_by: opt_string(r, 6),
        uploaded_at: int(r, 7),
        contract: opt_string(r, 8),
        migrations: opt_string(r, 9),
    }
}

fn active_row(r: &[Value]) -> Active {
    Active {
        name: string(r, 0),
        hash: string(r, 1),
        previous_hash: opt_string(r, 2),
        activated_by: opt_string(r, 3),
        activated_at: int(r, 4),
        canary: opt_string(r, 5).map(|hash| Canary {
            hash,
            percent: int(r, 6),
            margin: float(r, 7),
            started_at: int(r, 8),
            until: int(r, 9),
            by: opt_string(r, 10),
        }),
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

fn json_text(v: &Json) -> Value {
    if v.is_null() {
        Value::Null
    } else {
        Value::Text(v.to_string())
    }
}

fn string(r: &[Value], i: usize) -> String {
    opt_string(r, i).unwrap_or_default()
}

fn opt_string(r: &[Value], i: usize) -> Option<String> {
    match r.get(i) {
        Some(Value::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

fn int(r: &[Value], i: usize) -> i64 {
    match r.get(i) {
        Some(Value::Int(n)) => *n,
        _ => 0,
    }
}

fn float(r: &[Value], i: usize) -> f64 {
    match r.get(i) {
        Some(Value::Float(f)) => *f,
        // SQLite keeps a REAL that holds a whole number as one.
        Some(Value::Int(n)) => *n as f64,
        _ => 0.0,
    }
}

/// PostgreSQL answers BOOLEAN, SQLite the integer it keeps.
fn boolean(r: &[Value], i: usize) -> bool {
    match r.get(i) {
        Some(Value::Boolean(b)) => *b,
        Some(Value::Int(n)) => *n != 0,
        _ => false,
    }
}
