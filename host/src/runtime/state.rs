//! What one instance's store holds: WASI context, resource table, limits, and the Nexuma
//! interfaces' context (`iface::HostCtx`), which the runtime does not look inside.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::iface::{HostCtx, HostCtxView, HostView};

/// Bytes of a guest's stderr kept for the log (panic messages).
const STDERR_CAPACITY: usize = 8 * 1024;

pub struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// What the Nexuma interfaces hold for this instance.
    pub(crate) host: HostCtx,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) memory_cap: usize,
    /// Set when the guest asked for more memory than `memory_cap`.
    pub(crate) memory_exceeded: bool,
    /// The largest size, in bytes, a linear memory of this instance was allowed to grow to
    /// (its initial size counts: wasmtime asks the limiter when a memory is created).
    pub(crate) memory_peak: usize,
}

/// The typed error a guest's over-cap `memory.grow` traps with.
#[derive(Debug, thiserror::Error)]
#[error("the component tried to grow its memory to {desired} bytes, over its {cap}-byte cap")]
pub struct MemoryLimitExceeded {
    pub desired: usize,
    pub cap: usize,
}

impl State {
    pub fn new(host: HostCtx, memory_cap: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No files, sockets, environment or arguments: a component reaches the world only
        // through the Nexuma interfaces. Random and clocks come from WASI.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        State {
            wasi,
            table: ResourceTable::new(),
            host,
            stderr,
            memory_cap,
            memory_exceeded: false,
            memory_peak: 0,
        }
    }

    /// What the guest wrote to stderr, e.g. its panic message.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HostView for State {
    fn host(&mut self) -> HostCtxView<'_> {
        HostCtxView {
            ctx: &mut self.host,
            table: &mut self.table,
        }
    }
}

impl wasmtime::ResourceLimiter for State {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_exceeded = true;
            return Err(MemoryLimitExceeded {
                desired,
                cap: self.memory_cap,
            }
            .into());
        }
        self.memory_peak = self.memory_peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
