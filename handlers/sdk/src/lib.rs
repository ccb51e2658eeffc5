//! Guest SDK for Nexuma handler components.
//!
//! A component serves a few HTTP routes from inside the host's wasmtime sandbox. The host owns
//! every capability (database, key-value store, token secrets, password hashing, clock, log,
//! outbound HTTP) and lends it through the WIT world `nexuma:core/handler`; this crate wraps those imports in small
//! Rust helpers so component code stays short:
//!
//! ```ignore
//! use nexuma_sdk::{export_component, response, ApiError, AuthLevel, Component, Request, Response, Route};
//!
//! struct Hello;
//!
//! impl Component for Hello {
//!     fn routes() -> Vec<Route> {
//!         vec![Route::get("/hello/:name").auth(AuthLevel::Public).summary("Greets someone")]
//!     }
//!
//!     fn handle(req: &Request) -> Result<Response, ApiError> {
//!         match (req.method.as_str(), req.route.as_str()) {
//!             ("GET", "/hello/:name") => {
//!                 let name = req.param("name")?;
//!                 response::json(200, &serde_json::json!({ "hello": name }))
//!             }
//!             _ => Err(req.unhandled()),
//!         }
//!     }
//! }
//!
//! export_component!(Hello);
//! ```
//!
//! Errors are values: every helper returns `Result<_, ApiError>` (or an error that converts into
//! one), so handlers use `?` and the SDK turns the error into the JSON error response
//! `{"error": {"code": "...", "message": "..."}}`.

/// The raw bindings generated from `wit/nexuma.wit`, for anything the helpers do not cover.
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
/// The content epoch that invalidates caches of what users are shown.
pub mod cache;
pub mod db;
mod error;
/// Outbound HTTP(S) through the host, with optional certificate pinning: `http::Request::get(url).send()?`.
pub mod html;
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

/// What a component implements: the routes it declares and how it answers them.
///
/// The host calls `routes` once at load time to build its route table (and OpenAPI document) and
/// then, for every request, a fresh instance's `handle`. `req.route` is the matched pattern (for
/// example `/admin/users/:id`), so `handle` usually matches on `(method, route)`.
pub trait Component {
    /// The routes this component serves.
    fn routes() -> Vec<Route>;
    /// Answers one request; an `Err` becomes the JSON error response.
    fn handle(req: &Request) -> Result<Response, ApiError>;
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

/// Runs a component's `handle` and turns an error into its response. Used by
/// [`export_component!`]; public only so the macro can reach it.
#[doc(hidden)]
pub fn dispatch<C: Component>(req: &Request) -> Response {
    match C::handle(req) {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

/// Exports a [`Component`] implementation as the component's `routes` and `handle`.
///
/// Use it once per component crate, at the crate root: `export_component!(MyComponent);`.
#[macro_export]
macro_rules! export_component {
    ($component:ty) => {
        #[doc(hidden)]
        struct __NexumaGuest;

        impl $crate::bindings::Guest for __NexumaGuest {
            fn routes() -> ::std::vec::Vec<$crate::bindings::nexuma::core::types::Route> {
                <$component as $crate::Component>::routes()
                    .into_iter()
                    .map($crate::Route::into_record)
                    .collect()
            }

            fn route_docs() -> ::std::vec::Vec<$crate::bindings::nexuma::core::types::RouteDoc> {
                <$component as $crate::Component>::routes()
                    .iter()
                    .filter_map($crate::Route::route_doc)
                    .collect()
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
