//! The loaded set of components and its route table, swapped atomically as a whole.
//! A request pins the set it started with, so a swap never cuts a request short.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::iface::Capabilities;
use crate::routes::{Overlap, Owner, RouteTable};
use crate::runtime::{LoadError, LoadedComponent, Runtime};

pub struct LoadedSet {
    /// The active version of each name: what jobs run on and what most requests reach.
    pub components: Vec<Arc<LoadedComponent>>,
    /// Canaries running beside some of them, each with exactly its active version's routes.
    pub canaries: Vec<Arc<Canary>>,
    pub table: RouteTable<Versions>,
}

/// A canary as served: another version of an active component's name taking `percent` of its
/// requests (`components/canary.rs`), with what the replicas decide on.
#[derive(Debug)]
pub struct Canary {
    pub component: Arc<LoadedComponent>,
    /// The active version it is compared with.
    pub active: Arc<LoadedComponent>,
    /// 1..=99.
    pub percent: u8,
    pub margin: f64,
    pub started_at: i64,
    pub until: i64,
}

/// What a route of the served set leads to: its name's versions.
pub struct Versions {
    /// The name's active version.
    pub component: Arc<LoadedComponent>,
    /// The name's canary, when one runs: same routes, another version.
    pub canary: Option<Arc<Canary>>,
}

impl Versions {
    /// The version one request runs on, drawn once at dispatch: the canary for its share of
    /// requests, else the active version. No lock and no allocation on the way.
    pub fn pick(&self) -> &Arc<LoadedComponent> {
        match &self.canary {
            Some(canary) if percent_draw() < canary.percent => &canary.component,
            _ => &self.component,
        }
    }
}

impl Owner for Versions {
    fn owner(&self) -> &str {
        &self.component.name
    }
}

/// 0..100, uniform (fastrand's per-thread generator: no lock, statistical quality, not secrecy).
fn percent_draw() -> u8 {
    fastrand::u8(..100)
}

impl From<Overlap> for LoadError {
    fn from(o: Overlap) -> Self {
        LoadError::Overlap {
            method: o.method,
            path: o.path,
            first: o.first,
            other_path: o.other_path,
            second: o.second,
        }
    }
}

/// Every route of `components`, each with its name's canary if one of `canaries` runs beside
/// it; two routes of one method and shape are refused.
fn route_table(
    components: &[Arc<LoadedComponent>],
    canaries: &[Arc<Canary>],
) -> Result<RouteTable<Versions>, LoadError> {
    let mut table = RouteTable::default();
    for component in components {
        let canary = canaries.iter().find(|c| Arc::ptr_eq(&c.active, component));
        for route in &component.routes {
            let target = Versions {
                component: Arc::clone(component),
                canary: canary.cloned(),
            };
            table.add(route.clone(), target)?;
        }
    }
    Ok(table)
}

impl LoadedSet {
    pub fn new(components: Vec<Arc<LoadedComponent>>) -> Result<Self, LoadError> {
        Self::with_canaries(components, Vec::new())
    }

    /// The set with canaries; each must name one of `components` as its active version.
    pub fn with_canaries(
        components: Vec<Arc<LoadedComponent>>,
        canaries: Vec<Arc<Canary>>,
    ) -> Result<Self, LoadError> {
        let table = route_table(&components, &canaries)?;
        Ok(LoadedSet {
            components,
            canaries,
            table,
        })
    }
}

pub struct Registry {
    current: ArcSwap<LoadedSet>,
}

impl Registry {
    pub fn new(set: LoadedSet) -> Self {
        Registry {
            current: ArcSwap::from_pointee(set),
        }
    }

    pub fn current(&self) -> Arc<LoadedSet> {
        self.current.load_full()
    }

    /// Replaces the whole set; requests already running finish on the old one.
    pub fn replace(&self, set: LoadedSet) {
        self.current.store(Arc::new(set));
    }
}

/// Whether `name` may name a component: lower-case letters, digits, '-' and '_'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// One `.wasm` of the components folder, loaded, with the bytes it was loaded from.
pub struct FolderComponent {
    pub component: Arc<LoadedComponent>,
    pub bytes: Vec<u8>,
}

/// Loads every `*.wasm` in `dir` (named by file stem) and checks that their routes fit together.
pub async fn read_folder(
    runtime: &Arc<Runtime>,
    caps: &Arc<Capabilities>,
    dir: &Path,
) -> Result<Vec<FolderComponent>, LoadError> {
    let read_err = |source| LoadError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(LoadError::Empty(dir.display().to_string()));
    }
    let mut loaded = Vec::with_capacity(paths.len());
    for path in paths {
        loaded.push(read_file(runtime, caps, &path).await?);
    }
    // The folder alone must make a set: a clash between two bundled components is refused
    // before either is registered.
    LoadedSet::new(loaded.iter().map(|f| Arc::clone(&f.component)).collect())?;
    Ok(loaded)
}

async fn read_file(
    runtime: &Arc<Runtime>,
    caps: &Arc<Capabilities>,
    path: &Path,
) -> Result<FolderComponent, LoadError> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let within = |source: LoadError| LoadError::Component {
        component: name.clone(),
        source: Box::new(source),
    };
    if !valid_name(&name) {
        return Err(LoadError::BadName(name));
    }
    let bytes = std::fs::read(path).map_err(|source| {
        within(LoadError::Read {
            path: path.display().to_string(),
            source,
        })
    })?;
    let started = std::time::Instant::now();
    let component = LoadedComponent::load(runtime, caps, &name, bytes.clone())
        .await
        .map_err(within)?;
    tracing::info!(
        component = %name,
        sha256 = %component.sha256,
        routes = component.routes.len(),
        load_ms = started.elapsed().as_millis() as u64,
        "component loaded"
    );
    Ok(FolderComponent {
        component: Arc::new(component),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_spread_over_every_percent() {
        let mut seen = [0u32; 100];
        for _ in 0..100_000 {
            seen[percent_draw() as usize] += 1;
        }
        // 1000 expected per percent; a stuck or skewed generator leaves some far off.
        assert!(seen.iter().all(|n| (700..1300).contains(n)), "{seen:?}");
    }
}
