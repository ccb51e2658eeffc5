//! Components' own schema. The steps a version declares (`migrations` export, contract 0.1.1)
//! run in the transaction that activates it, so a failing step leaves nothing behind and the
//! version that was active stays active. Each step is recorded in `component_migrations` before
//! its SQL runs; that row is the lock between replicas activating at once (see
//! `store::claim_migration`). A recorded step is never run again, and one whose SQL changed
//! since it ran is refused.

use super::store::{self, Applied};
use super::Error;
use crate::iface::db::Transaction;
use crate::runtime::{content_hash, LoadedComponent};

/// Runs `component`'s pending steps inside `tx`; the versions it ran.
pub async fn apply(
    tx: &mut Transaction,
    backend: &'static str,
    component: &LoadedComponent,
    now: i64,
) -> Result<Vec<u32>, Error> {
    let mut ran = Vec::new();
    for step in &component.migrations {
        let sql = match backend {
            "sqlite" => &step.sqlite,
            _ => &step.postgres,
        };
        let record = Applied {
            component: component.name.to_string(),
            version: i64::from(step.version),
            name: step.name.clone(),
            checksum: content_hash(sql.as_bytes()),
            applied_by: component.sha256.clone(),
            applied_at: now,
        };
        if store::claim_migration(tx, &record).await? {
            run(tx, backend, &record, &step.postgres, &step.sqlite).await?;
            ran.push(step.version);
        } else {
            unchanged(tx, &record).await?;
        }
    }
    Ok(ran)
}

async fn run(
    tx: &mut Transaction,
    backend: &'static str,
    step: &Applied,
    postgres: &str,
    sqlite: &str,
) -> Result<(), Error> {
    match tx.run_script(postgres, sqlite).await {
        Ok(()) => {
            tracing::info!(component = %step.component, migration = step.version,
                name = %step.name, "component migration ran");
            Ok(())
        }
        // The database refused the SQL: the step's fault, said to the operator.
        Err(sqlx::Error::Database(e)) => Err(Error::Migration {
            component: step.component.clone(),
            version: step.version,
            step: step.name.clone(),
            backend,
            reason: e.message().to_string(),
        }),
        Err(e) => Err(Error::Database(e)),
    }
}

/// A step recorded before must be the same SQL.
async fn unchanged(tx: &mut Transaction, step: &Applied) -> Result<(), Error> {
    let recorded = store::applied_step(tx, &step.component, step.version).await?;
    match recorded {
        Some(r) if r.checksum != step.checksum => Err(Error::MigrationChanged {
            component: step.component.clone(),
            version: step.version,
            step: step.name.clone(),
            applied_by: r.applied_by,
        }),
        _ => Ok(()),
    }
}
