//! The bundled components: each `.wasm` in `COMPONENTS_DIR` is a factory version, registered
//! (inserted if its hash is new) and activated where nothing else should win — see
//! `store::activate_factory`. All in one transaction, idempotent, so any number of replicas may
//! start together on one database.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::{announce, schema, store, version, Core, Error};
use crate::iface::clock::now_ms;
use crate::registry::{self, FolderComponent};
use crate::runtime::LoadedComponent;

/// Loads and registers the folder; its components, to be reused when the set is loaded.
pub async fn register(core: &Core) -> Result<Vec<Arc<LoadedComponent>>, Error> {
    let folder =
        registry::read_folder(&core.runtime, &core.caps, &core.config.components_dir).await?;
    let now = now_ms();
    let mut tx = core.caps.db.begin().await?;
    let backend = core.caps.db.backend();
    let mut moved = 0;
    for file in &folder {
        if store_one(&mut tx, backend, file, now).await? {
            moved += 1;
        }
    }
    let revision = if moved > 0 {
        let revision = store::bump(&mut tx).await?;
        tracing::info!(activated = moved, revision, "factory components activated");
        Some(revision)
    } else {
        None
    };
    tx.commit().await?;
    if let Some(revision) = revision {
        announce::publish(core, revision);
    }
    let hashes: HashMap<String, String> = folder
        .iter()
        .map(|f| (f.component.name.to_string(), f.component.sha256.clone()))
        .collect();
    *core.components.factory_map() = hashes;
    Ok(folder.into_iter().map(|f| f.component).collect())
}

/// Registers one file; whether it became the active version of its name.
async fn store_one(
    tx: &mut crate::iface::db::Transaction,
    backend: &'static str,
    file: &FolderComponent,
    now: i64,
) -> Result<bool, Error> {
    let component = &file.component;
    let row = version::describe(component, file.bytes.len(), true, None, now);
    store::insert_version(tx, &row, &file.bytes).await?;
    match store::name_of(tx, &row.hash).await? {
        Some(stored) if stored != row.name => {
            return Err(Error::SameBytes {
                file: format!("{}.wasm", row.name),
                stored,
            })
        }
        _ => {}
    }
    // A failing schema step undoes this file's activation only: the Core starts on what was
    // active, and says why.
    tx.execute("SAVEPOINT factory_activation", &[]).await?;
    let Some(previous) = store::activate_factory(tx, &row.name, &row.hash, now).await? else {
        return Ok(false);
    };
    let ran = match schema::apply(tx, backend, component, now).await {
        Ok(ran) => ran,
        Err(e) if e.is_migration() => {
            tx.execute("ROLLBACK TO SAVEPOINT factory_activation", &[])
                .await?;
            tracing::error!(component = %row.name, sha256 = %row.hash, error = %e,
                active = ?previous, "factory version not activated: its migration failed");
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    tracing::info!(component = %row.name, sha256 = %row.hash, previous = ?previous,
        migrations_run = ?ran, "factory version activated");
    store::audit(
        tx,
        store::Audit {
            actor: None,
            action: "component.activate",
            name: &row.name,
            ip: None,
            before: previous.map_or(json!(null), |h| json!({ "hash": h })),
            after: json!({ "hash": row.hash, "factory": true, "migrationsRun": ran }),
            at: now,
        },
    )
    .await?;
    Ok(true)
}
