//! The loaded set of components and its route table, swapped atomically as a whole.
//! A request pins the set it started with, so a swap never cuts a request short.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::iface::Capabilities;
use crate::routes::RouteTable;
use crate::runtime::{LoadError, LoadedComponent, Runtime};

pub struct LoadedSet {
    /// The active version of each name: what jobs run on and what most requests reach.
    pub components: Vec<Arc<LoadedComponent>>,
    /// Canaries running beside some of them, each with exactly its active version's routes.
    pub canaries: Vec<Arc<Canary>>,
    pub table: RouteTable,
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

impl LoadedSet {
    pub fn new(components: Vec<Arc<LoadedComponent>>) -> Result<Self, LoadError> {
        Self::with_canaries(components, Vec::new())
    }

    /// The set with canaries; each must name one of `components` as its active version.
    pub fn with_canaries(
        components: Vec<Arc<LoadedComponent>>,
        canaries: Vec<Arc<Canary>>,
    ) -> Result<Self, LoadError> {
        let table = RouteTable::build(&components, &canaries)?;
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
