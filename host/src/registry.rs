//! The loaded set of components and its route table, swapped atomically as a whole.
//! A request pins the set it started with, so a swap never cuts a request short.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::routes::RouteTable;
use crate::runtime::{Capabilities, LoadError, LoadedComponent, Runtime};

pub struct LoadedSet {
    pub components: Vec<Arc<LoadedComponent>>,
    pub table: RouteTable,
}

impl LoadedSet {
    pub fn new(components: Vec<Arc<LoadedComponent>>) -> Result<Self, LoadError> {
        let table = RouteTable::build(&components)?;
        Ok(LoadedSet { components, table })
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Loads every `*.wasm` in `dir` (named by file stem) and builds their route table.
pub async fn load_dir(
    runtime: &Arc<Runtime>,
    caps: &Arc<Capabilities>,
    dir: &Path,
) -> Result<LoadedSet, LoadError> {
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
    let mut components = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let within = |source: LoadError| LoadError::In {
            component: name.clone(),
            source: Box::new(source),
        };
        if !valid_name(&name) {
            return Err(LoadError::BadName(name));
        }
        let bytes = std::fs::read(&path).map_err(|source| {
            within(LoadError::Read {
                path: path.display().to_string(),
                source,
            })
        })?;
        let started = std::time::Instant::now();
        let component = LoadedComponent::load(runtime, caps, &name, bytes)
            .await
            .map_err(within)?;
        tracing::info!(
            component = %name,
            sha256 = %component.sha256,
            routes = component.routes.len(),
            load_ms = started.elapsed().as_millis() as u64,
            "component loaded"
        );
        components.push(Arc::new(component));
    }
    LoadedSet::new(components)
}
