//! Rust bindings of the `handler` world (`wit/nexuma.wit`), generated at build time.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "handler",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "nexuma:core/db.transaction": crate::iface::db::Transaction,
    },
});

pub use nexuma::core::types::{AuthLevel, Caller};
