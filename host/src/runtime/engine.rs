//! The one wasmtime `Engine` of the process. Nothing else touches `wasmtime::Config`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::loaded::LoadError;
use super::State;
use crate::config::ComponentLimits;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's wasmtime engine, linker and on-disk cache of compiled components.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    pub(crate) limits: ComponentLimits,
    cache_dir: PathBuf,
    engine_tag: String,
}

impl Runtime {
    /// Builds the engine with the pooling allocator sized by `limits`; fails on an impossible
    /// configuration.
    pub fn new(limits: ComponentLimits, cache_dir: PathBuf) -> anyhow::Result<Arc<Self>> {
        let engine = Engine::new(&engine_config(&limits))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        crate::iface::add_to_linker(&mut linker)?;
        start_epoch_ticker(&engine);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_tag = format!("{:016x}", hasher.finish());
        Ok(Arc::new(Runtime {
            engine,
            linker,
            limits,
            cache_dir,
            engine_tag,
        }))
    }

    /// Compiles a component, or loads its compiled form from the disk cache so a restart
    /// does not compile again. Returns the component and the SHA-256 of its bytes.
    pub fn compile(&self, bytes: &[u8]) -> Result<(Component, String), LoadError> {
        let digest = content_hash(bytes);
        let cached = self
            .cache_dir
            .join(format!("{digest}-{}.cwasm", self.engine_tag));
        if cached.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine with the same
            // compatibility hash (it is in the name), in the host's own data directory.
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(component) => return Ok((component, digest)),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), error = %e, "compiled cache unusable; compiling again")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if let Err(e) = write_cache(&cached, &component) {
            tracing::warn!(path = %cached.display(), error = %e, "could not write the compiled cache");
        }
        Ok((component, digest))
    }
}

fn write_cache(path: &Path, component: &Component) -> anyhow::Result<()> {
    let bytes = component.serialize()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a crash never leaves a torn artifact under the final name.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn engine_config(limits: &ComponentLimits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);

    let n = limits.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A Rust wasip2 component is a handful of core instances around one main memory.
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size(limits.memory_bytes)
        // Keep a little of each memory resident: cheaper than faulting pages in every request.
        .linear_memory_keep_resident(2 * 1024 * 1024)
        .table_keep_resident(512 * 1024)
        // Where the kernel can tell (Linux 6.7+), reset only the pages an instance touched
        // rather than all it keeps resident.
        .pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if limits.perfmap {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Advances the engine's epoch every tick from a plain thread, so even a guest that starves
/// the async workers is interrupted. The thread stops once the engine is gone.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("nexuma-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the epoch ticker; component deadlines will not fire");
    }
}

/// A component's identity: the SHA-256 of its bytes, lower-case hex (the disk cache's key and
/// the version key of components stored in the database).
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
