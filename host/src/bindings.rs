//! Rust bindings of the `handler` world, generated at build time: the current contract
//! (`wit/nexuma.wit`, `nexuma:core@0.1.3`) and every released one the host still serves
//! (`wit/frozen/`). One implementation of the imports serves them all: wasmtime's linker resolves
//! a component's `nexuma:core/db@0.1.0` import to the `@0.1.3` definition (same 0.1 track), so
//! a frozen version needs only its exports bound, on the current version's types — and 0.1.2,
//! whose exports are 0.1.3's, needs no bindings of its own.

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

/// `nexuma:core@0.1.0`: the world without `migrations`. Its types are the current ones.
pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../wit/frozen/nexuma-core-0.1.0",
        world: "handler",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "nexuma:core/types@0.1.0": super::nexuma::core::types,
            "nexuma:core/db@0.1.0": super::nexuma::core::db,
            "nexuma:core/kv@0.1.0": super::nexuma::core::kv,
            "nexuma:core/tokens@0.1.0": super::nexuma::core::tokens,
            "nexuma:core/passwords@0.1.0": super::nexuma::core::passwords,
            "nexuma:core/telegram@0.1.0": super::nexuma::core::telegram,
            "nexuma:core/settings@0.1.0": super::nexuma::core::settings,
            "nexuma:core/clock@0.1.0": super::nexuma::core::clock,
            "nexuma:core/log@0.1.0": super::nexuma::core::log,
            "nexuma:core/http@0.1.0": super::nexuma::core::http,
            "nexuma:core/response-cache@0.1.0": super::nexuma::core::response_cache,
        },
    });
}

/// `nexuma:core@0.1.1`: the world without `route-docs`. Its types are the current ones.
pub mod v0_1_1 {
    wasmtime::component::bindgen!({
        path: "../wit/frozen/nexuma-core-0.1.1",
        world: "handler",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "nexuma:core/types@0.1.1": super::nexuma::core::types,
            "nexuma:core/db@0.1.1": super::nexuma::core::db,
            "nexuma:core/kv@0.1.1": super::nexuma::core::kv,
            "nexuma:core/tokens@0.1.1": super::nexuma::core::tokens,
            "nexuma:core/passwords@0.1.1": super::nexuma::core::passwords,
            "nexuma:core/telegram@0.1.1": super::nexuma::core::telegram,
            "nexuma:core/settings@0.1.1": super::nexuma::core::settings,
            "nexuma:core/clock@0.1.1": super::nexuma::core::clock,
            "nexuma:core/log@0.1.1": super::nexuma::core::log,
            "nexuma:core/http@0.1.1": super::nexuma::core::http,
            "nexuma:core/response-cache@0.1.1": super::nexuma::core::response_cache,
        },
    });
}
