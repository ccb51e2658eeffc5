//! The active set: read from the database and swapped in whole. A component already loaded
//! (same name and hash) is reused as it is, so a swap costs only the versions that changed;
//! those come from the folder when its file has that hash, else from the database, and compile
//! from the runtime's disk cache when any replica compiled them before.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{store, Core, Error};
use crate::registry::{Canary, LoadedSet};
use crate::runtime::{LoadError, LoadedComponent};

/// Loads the active set and swaps it in; the number of components it holds. `known` are
/// components loaded just now (the folder, an upload) that may be reused.
pub async fn sync(core: &Core, known: &[Arc<LoadedComponent>]) -> Result<usize, Error> {
    let _one_at_a_time = core.components.sync.lock().await;
    // The revision first: a change committed after this read moves it again, so the follower
    // comes back for it.
    let revision = store::revision(&core.caps.db).await?;
    swap_in(core, known, revision).await
}

/// What a follower does when it hears of a change: loads and swaps the active set only if
/// its revision still differs from the served one once this replica's lock is held, so an
/// announcement and the timer noticing the same change swap once; the revision now served
/// and the number of components, or `None` when there was nothing to do.
pub async fn sync_moved(core: &Core) -> Result<Option<(i64, usize)>, Error> {
    let _one_at_a_time = core.components.sync.lock().await;
    let revision = store::revision(&core.caps.db).await?;
    if revision == core.components.revision() {
        return Ok(None);
    }
    let count = swap_in(core, &[], revision).await?;
    Ok(Some((revision, count)))
}

/// Loads the active set as of `revision` and swaps it in; the caller holds the sync lock.
async fn swap_in(
    core: &Core,
    known: &[Arc<LoadedComponent>],
    revision: i64,
) -> Result<usize, Error> {
    let active = store::active(&core.caps.db).await?;
    let current = core.registry.current();
    // What this replica serves already, active or canary, and what the caller just loaded.
    let mut reusable: Vec<Arc<LoadedComponent>> = current.components.clone();
    reusable.extend(current.canaries.iter().map(|c| Arc::clone(&c.component)));
    reusable.extend(known.iter().cloned());
    let mut components = Vec::with_capacity(active.len());
    let mut canaries = Vec::new();
    for row in &active {
        let component = reuse_or_load(core, &reusable, &row.name, &row.hash).await?;
        if let Some(canary) = &row.canary {
            let version = reuse_or_load(core, &reusable, &row.name, &canary.hash).await?;
            if let Some(c) = served_canary(&component, version, canary) {
                canaries.push(Arc::new(c));
            }
        }
        components.push(component);
    }
    let set = LoadedSet::with_canaries(components, canaries)?;
    let count = set.components.len();
    core.registry.replace(set);
    core.components.revision.store(revision, Ordering::Release);
    Ok(count)
}

async fn reuse_or_load(
    core: &Core,
    reusable: &[Arc<LoadedComponent>],
    name: &str,
    hash: &str,
) -> Result<Arc<LoadedComponent>, Error> {
    match reusable
        .iter()
        .find(|c| *c.name == *name && c.sha256 == hash)
    {
        Some(c) => Ok(Arc::clone(c)),
        None => Ok(Arc::new(load_version(core, name, hash).await?)),
    }
}

/// The canary as served beside `active`; `None` (the active version takes every request)
/// when its routes differ, which the API refuses at the start, so only a stale row gets here.
fn served_canary(
    active: &Arc<LoadedComponent>,
    component: Arc<LoadedComponent>,
    row: &store::Canary,
) -> Option<Canary> {
    if !super::canary::same_routes(active, &component) {
        tracing::error!(component = %active.name, canary = %row.hash,
            "the canary's routes differ from the active version's; it serves no requests");
        return None;
    }
    Some(Canary {
        component,
        active: Arc::clone(active),
        percent: u8::try_from(row.percent.clamp(0, 99)).unwrap_or(0),
        margin: row.margin,
        started_at: row.started_at,
        until: row.until,
    })
}

/// Loads one stored version: the folder's bytes when its file has this hash, else the
/// database's.
pub async fn load_version(core: &Core, name: &str, hash: &str) -> Result<LoadedComponent, Error> {
    let bytes = match folder_bytes(core, name, hash) {
        Some(bytes) => bytes,
        None => store::wasm(&core.caps.db, hash)
            .await?
            .ok_or_else(|| Error::Missing {
                name: name.to_string(),
                hash: hash.to_string(),
            })?,
    };
    let started = std::time::Instant::now();
    let component = LoadedComponent::load(&core.runtime, &core.caps, name, bytes)
        .await
        .map_err(|source| LoadError::Component {
            component: name.to_string(),
            source: Box::new(source),
        })?;
    tracing::info!(component = %name, sha256 = %hash, routes = component.routes.len(),
        load_ms = started.elapsed().as_millis() as u64, "component version loaded");
    Ok(component)
}

fn folder_bytes(core: &Core, name: &str, hash: &str) -> Option<Vec<u8>> {
    let path = core.config.components_dir.join(format!("{name}.wasm"));
    let bytes = std::fs::read(path).ok()?;
    (crate::runtime::content_hash(&bytes) == hash).then_some(bytes)
}

/// Whether `candidate` fits the set this replica serves in place of its name's version: no
/// route clash. The LoadError says why not.
pub fn fits(core: &Core, candidate: &Arc<LoadedComponent>) -> Result<(), LoadError> {
    let current = core.registry.current();
    let mut components: Vec<_> = current
        .components
        .iter()
        .filter(|c| c.name != candidate.name)
        .cloned()
        .collect();
    components.push(Arc::clone(candidate));
    LoadedSet::new(components).map(drop)
}
