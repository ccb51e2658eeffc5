//! Host implementations of the WIT interfaces, one module per interface.
//!
//! Each module owns its backend (pool, client, keys), built from its own part of the
//! configuration, and implements its `Host` trait on a narrow view of an instance's store
//! (`DbCtx`, `KvCtx`, ...). `ctx` holds what the views are cut from and links each interface
//! to its view; nothing here knows the runtime's store type.

pub mod api;
pub mod clock;
mod ctx;
pub mod db;
pub mod http;
pub mod kv;
pub mod log;
pub mod passwords;
pub mod response_cache;
pub mod settings;
pub mod telegram;
pub mod tokens;

pub use ctx::{add_to_linker, Call, Capabilities, HostCtx, HostCtxView, HostView};
