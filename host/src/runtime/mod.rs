//! The component runtime: one wasmtime `Engine` for the process, a pre-linked `InstancePre`
//! per component, and a fresh, bounded instance for every call.

mod contract;
mod engine;
mod loaded;
mod route_docs;
mod state;
mod stats;

pub use contract::Contract;
pub use engine::{content_hash, Runtime};
pub use loaded::{Answer, CallError, LoadError, LoadedComponent};
pub use route_docs::RouteDocs;
pub(crate) use state::State;
pub use stats::{Stats, StatsSnapshot};
