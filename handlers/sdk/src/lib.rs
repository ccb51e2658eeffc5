//! Guest SDK for Nexuma handler components.
//!
//! A component serves a few HTTP routes from inside the host's wasmtime sandbox. The host owns
//! every capability (database, key-value store, token secrets, password hashing, clock, log,
//! outbound HTTP) and lends it through the WIT world `nexuma:core/handler`; this crate wraps those imports in small
//! Rust helpers so component code stays short. A component is one route table — each route's
//! method, path, auth level, handler and doc in one row — exported once:
//!
//! ```no_run
//! use nexuma_sdk::{
//!     export_component, response, ApiError, AuthLevel, Component, Endpoint, Request, Response,
//! };
//!
//! struct Hello;
//!
//! impl Component for Hello {
//!     const ROUTES: &'static [Endpoint] = &[Endpoint::get("/hello/:name", greet)
//!         .auth(AuthLevel::Public)
//!         .summary("Greets someone")
//!         .doc(|route| route.param::<String>("name", "Who to greet"))];
//! }
//!
//! fn greet(req: &Request) -> Result<Response, ApiError> {
//!     let name = req.param("name")?;
//!     response::json(200, &serde_json::json!({ "hello": name }))
//! }
//!
//! export_component!(Hello);
//! ```
//!
//! Errors are values: every helper returns `Result<_, ApiError>` (or an error that converts into
//! one), so handlers use `?` and the SDK turns the error into the JSON error response
//! `{"error": {"code": "...", "message": "..."}}`.

#![warn(missing_docs)]

/// The raw bindings generated from `wit/nexuma.wit`, for anything the helpers do not cover.
// Generated code, documented by the WIT file it comes from.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "handler",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_handler",
    });
}

/// Account changes the host must see at once (role, status, block flag, deletion).
pub mod account;
/// The Core's own routes called in-process, as a page's caller: `api::Request::get(path).bearer(token).send()?`.
pub mod api;
/// The content epoch that invalidates caches of what users are shown.
pub mod cache;
/// Keyset paging of large lists: the `after` cursor, its query and the SQL after it.
pub mod cursor;
pub mod db;
mod endpoint;
mod error;
pub mod html;
/// Outbound HTTP(S) through the host, with optional certificate pinning: `http::Request::get(url).send()?`.
pub mod http;
pub mod id;
pub mod log;
/// The balances' currency, shared by billing and the read side.
pub mod money;
/// Telegram notifications: the kinds (recipients, placeholders, default texts) and the outbox
/// writer, used in the transaction of the event.
pub mod notify;
/// JSON Schema patterns for text checks (control characters, blank text).
pub mod pattern;
/// The audit log and the outbox of node-facing changes, written in the change's transaction.
pub mod record;
mod request;
pub mod response;
mod route;
pub use route::{answer_schema_of, query_schema_of, schema_of};
/// Telegram Login Widget checks and bot messages with the host's bot token.
pub mod telegram;
/// Attempt throttles counted before the check, shared by every login path.
pub mod throttle;

pub use bindings::nexuma::core::types::{AuthLevel, Caller, Job, Migration, Request, Response};
pub use endpoint::{Doc, Endpoint, Handler};
pub use error::ApiError;
pub use request::{present, Paging, DEFAULT_LIMIT, MAX_LIMIT};
pub use route::Route;

/// Wall-clock time from the host (`clock::now_ms()`, epoch milliseconds).
pub use bindings::nexuma::core::clock;
/// The shared key-value store (Redis or in-process). `KvError` converts into a 503 `ApiError`.
pub use bindings::nexuma::core::kv;
/// Password hashing (argon2id) done natively by the host.
pub use bindings::nexuma::core::passwords;
/// The Core's non-secret settings, e.g. `settings::public_url()` for links.
pub use bindings::nexuma::core::settings;
/// Access and refresh tokens; the signing secrets stay in the host.
pub use bindings::nexuma::core::tokens;

/// What a component implements: its route table, and its jobs and schema steps if it has any.
///
/// The host reads the routes (and their docs) once at load time to build its route table and
/// OpenAPI document, then, for every request, calls a fresh instance's `handle`, which runs the
/// handler of the row whose method and path pattern the host matched (`req.route`, e.g.
/// `/admin/users/:id`).
pub trait Component {
    /// The routes this component serves, one [`Endpoint`] each: the only place a route is named.
    const ROUTES: &'static [Endpoint];
    /// Background jobs the host runs on a schedule (none unless overridden).
    fn jobs() -> Vec<Job> {
        Vec::new()
    }
    /// Runs one tick of the job `name`, in a fresh instance like a request.
    fn run_job(name: &str) -> Result<(), ApiError> {
        Err(ApiError::not_found(
            "unknown_job",
            format!("no job named {name}"),
        ))
    }
    /// The schema steps of the component's own tables, in order (none unless overridden). The
    /// host runs the pending ones once, before it activates a version, and records them.
    fn migrations() -> Vec<Migration> {
        Vec::new()
    }
}

impl Migration {
    /// A step whose SQL runs as it is on PostgreSQL and on SQLite.
    pub fn portable(version: u32, name: &str, sql: &str) -> Self {
        Migration::per_backend(version, name, sql, sql)
    }

    /// A step with its own SQL for each backend.
    pub fn per_backend(version: u32, name: &str, postgres: &str, sqlite: &str) -> Self {
        Migration {
            version,
            name: name.to_string(),
            postgres: postgres.to_string(),
            sqlite: sqlite.to_string(),
        }
    }
}

impl Job {
    /// A job that runs every `interval_ms` milliseconds.
    pub fn every(name: &str, interval_ms: u64) -> Self {
        Job {
            name: name.to_string(),
            interval_ms,
        }
    }
}

/// Runs a component's job and turns an error into the message the host logs. Used by
/// [`export_component!`]; public only so the macro can reach it.
#[doc(hidden)]
pub fn run_job<C: Component>(name: &str) -> Result<(), String> {
    C::run_job(name).map_err(|err| format!("{}: {}", err.code, err.message))
}

/// Answers a request from a component's route table and turns an error into its response.
/// Used by [`export_component!`]; public only so the macro can reach it.
#[doc(hidden)]
pub fn dispatch<C: Component>(req: &Request) -> Response {
    match endpoint::handle(C::ROUTES, req) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

/// The `routes` export of a component. Used by [`export_component!`].
#[doc(hidden)]
pub fn records<C: Component>() -> Vec<bindings::nexuma::core::types::Route> {
    endpoint::records(C::ROUTES)
}

/// The `route-docs` export of a component. Used by [`export_component!`].
#[doc(hidden)]
pub fn route_docs<C: Component>() -> Vec<bindings::nexuma::core::types::RouteDoc> {
    endpoint::route_docs(C::ROUTES)
}

/// Exports a [`Component`] implementation as the component's world exports (`routes`,
/// `route-docs` and `handle` from its table, `jobs`, `run-job`, `migrations`).
///
/// Use it once per component crate, at the crate root: `export_component!(MyComponent);`.
#[macro_export]
macro_rules! export_component {
    ($component:ty) => {
        #[doc(hidden)]
        struct __NexumaGuest;

        impl $crate::bindings::Guest for __NexumaGuest {
            fn routes() -> ::std::vec::Vec<$crate::bindings::nexuma::core::types::Route> {
                $crate::records::<$component>()
            }

            fn route_docs() -> ::std::vec::Vec<$crate::bindings::nexuma::core::types::RouteDoc> {
                $crate::route_docs::<$component>()
            }

            fn handle(req: $crate::Request) -> $crate::Response {
                $crate::dispatch::<$component>(&req)
            }

            fn jobs() -> ::std::vec::Vec<$crate::Job> {
                <$component as $crate::Component>::jobs()
            }

            fn run_job(name: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                $crate::run_job::<$component>(&name)
            }

            fn migrations() -> ::std::vec::Vec<$crate::Migration> {
                <$component as $crate::Component>::migrations()
            }
        }

        $crate::bindings::export_handler!(__NexumaGuest with_types_in $crate::bindings);
    };
}
