//! A loaded component: its compiled code pre-linked against the host interfaces, the routes it
//! declared, and the per-call bounds (fresh instance, memory cap, deadline).

use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;
use wasmtime::{Store, UpdateDeadline};

use super::contract::{Contract, Instance, Pre};
use super::engine::Runtime;
use super::route_docs::RouteDocs;
use super::state::State;
use crate::bindings::nexuma::core::response_cache::Policy;
use crate::bindings::nexuma::core::types::{Job, Migration, RouteDoc};
use crate::bindings::{Request, Response, Route};
use crate::iface::api::Source;
use crate::iface::{Call, Capabilities, HostCtx};
use crate::metrics;

/// Why a component (or a folder of them) could not be loaded, at start or on an upload or
/// reload.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The `.wasm` file could not be read from disk.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file that was being read.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file's stem is not a valid component name; it holds that name.
    #[error("component name {0:?} must be lower-case letters, digits, '-' or '_'")]
    BadName(String),
    /// The bytes are not a component wasmtime can compile (or not WebAssembly at all).
    #[error("cannot compile: {0}")]
    Compile(String),
    /// The component targets no `nexuma:core` version this host serves, or several at once.
    #[error("does not target a contract this Core serves: {0}")]
    Contract(String),
    /// The component imports something the host's linker does not provide.
    #[error("does not fit the nexuma:core handler world: {0}")]
    Link(String),
    /// The component's `routes()` export trapped or failed when called at load.
    #[error("its routes() call failed: {0}")]
    Routes(String),
    /// The component's `jobs()` export trapped or failed when called at load.
    #[error("its jobs() call failed: {0}")]
    Jobs(String),
    /// The component's `migrations()` export trapped or failed when called at load.
    #[error("its migrations() call failed: {0}")]
    Migrations(String),
    /// The component's `route-docs()` export trapped or failed when called at load.
    #[error("its route-docs() call failed: {0}")]
    RouteDocs(String),
    /// A declared migration is out of order, unnamed, or lacks SQL for one of the two backends.
    #[error("declares an invalid migration {version}: {reason}")]
    BadMigration {
        /// The migration's version number as declared.
        version: u32,
        /// What is wrong with it.
        reason: String,
    },
    /// A declared job has a bad or repeated name, or an interval below `MIN_JOB_INTERVAL_MS`.
    #[error("declares an invalid job {name:?}: {reason}")]
    BadJob {
        /// The job's name as declared.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A declared route has a bad method, path, status or schema, or claims a path the host
    /// serves itself.
    #[error("declares an invalid route {method} {path}: {reason}")]
    BadRoute {
        /// The route's HTTP method as declared.
        method: String,
        /// The route's path pattern as declared.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two components of one set claim routes that can match the same request.
    #[error("{method} {path} of component {first} overlaps {other_path} of component {second}")]
    Overlap {
        /// The HTTP method both routes answer.
        method: String,
        /// The first component's path pattern.
        path: String,
        /// The component that declared `path`.
        first: String,
        /// The second component's path pattern.
        other_path: String,
        /// The component that declared `other_path`.
        second: String,
    },
    /// The components folder holds no `.wasm` file; it holds the folder's path.
    #[error("the folder {0} holds no .wasm components")]
    Empty(String),
    /// Wraps any other error with the name of the component it concerns.
    #[error("component {component}: {source}")]
    Component {
        /// The component's name.
        component: String,
        /// What went wrong with it.
        source: Box<LoadError>,
    },
}

impl From<crate::pattern::InvalidRoute> for LoadError {
    fn from(e: crate::pattern::InvalidRoute) -> Self {
        LoadError::BadRoute {
            method: e.method,
            path: e.path,
            reason: e.reason,
        }
    }
}

/// The first four bytes of every WebAssembly module and component.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Why a call produced no response.
#[derive(Debug, Error)]
pub enum CallError {
    /// The guest trapped (a panic, an out-of-bounds access, a failed host call); holds the trap
    /// text.
    #[error("the component trapped: {0}")]
    Trap(String),
    /// The call ran past the wall-clock deadline it was given (holds that deadline).
    #[error("the component ran past its {0:?} deadline")]
    Deadline(std::time::Duration),
    /// The guest tried to grow its memory beyond the per-instance cap.
    #[error("the component exceeded its memory cap: {0}")]
    Memory(String),
    /// The instance pool has no free slot for another concurrent call.
    #[error("every instance slot is in use")]
    Busy,
}

/// A component's answer to a request, and whether it let the host keep it.
pub struct Answer {
    /// The HTTP response the component returned.
    pub response: Response,
    /// How long the host may keep the response in its cache, if the component allowed it at all.
    pub keep: Option<Policy>,
}

/// What a component says about itself when it is loaded.
struct Declared {
    routes: Vec<Route>,
    jobs: Vec<Job>,
    migrations: Vec<Migration>,
    docs: Vec<RouteDoc>,
}

/// Raised from the epoch callback when a call's wall-clock deadline has passed.
#[derive(Debug, Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

/// One component, compiled and pre-linked, with what it declared at load; shared by every call
/// to it.
pub struct LoadedComponent {
    /// The component's name (its file stem, or the name it was uploaded under); logs and the
    /// admin API know it by this.
    pub name: Arc<str>,
    /// Hex SHA-256 of the `.wasm` bytes; tells versions apart in canaries and the admin API.
    pub sha256: String,
    /// The routes it declared, validated at load.
    pub routes: Vec<Route>,
    /// The scheduled jobs it declared, validated at load.
    pub jobs: Vec<Job>,
    /// The contract version it was built for.
    pub contract: Contract,
    /// The schema steps of its own tables, in order (none before contract 0.1.1).
    pub migrations: Vec<Migration>,
    /// What it says about its routes beyond their records (none before contract 0.1.2).
    pub docs: RouteDocs,
    /// Requests this version served on this replica since it was loaded.
    pub stats: super::Stats,
    /// When this replica loaded it (epoch ms).
    pub loaded_at: i64,
    pre: Pre,
    runtime: Arc<Runtime>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl LoadedComponent {
    /// Compiles (or loads from the cache), links, and asks the component for its routes.
    pub async fn load(
        runtime: &Arc<Runtime>,
        capabilities: &Arc<Capabilities>,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Self, LoadError> {
        // Said plainly here: the compiler's own message for this is a dump of the bytes.
        if !bytes.starts_with(WASM_MAGIC) {
            return Err(LoadError::Compile(
                "not a WebAssembly file (it does not start with \\0asm)".into(),
            ));
        }
        let rt = Arc::clone(runtime);
        let (component, sha256) = tokio::task::spawn_blocking(move || rt.compile(&bytes))
            .await
            .map_err(|e| LoadError::Compile(e.to_string()))??;
        let contract = Contract::of(&component, &runtime.engine)?;
        let pre = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = Pre::new(contract, pre)?;
        let mut loaded = LoadedComponent {
            name: name.into(),
            sha256,
            routes: Vec::new(),
            jobs: Vec::new(),
            contract,
            migrations: Vec::new(),
            docs: RouteDocs::default(),
            stats: super::Stats::default(),
            loaded_at: crate::iface::clock::now_ms(),
            pre,
            runtime: Arc::clone(runtime),
        };
        let declared = loaded.call_declarations(capabilities).await?;
        for route in &declared.routes {
            crate::pattern::validate(route)?;
        }
        validate_jobs(&declared.jobs)?;
        validate_migrations(&declared.migrations)?;
        loaded.jobs = declared.jobs;
        loaded.docs = RouteDocs::read(declared.docs, &declared.routes)?;
        loaded.routes = declared.routes;
        loaded.migrations = declared.migrations;
        Ok(loaded)
    }

    fn new_store(
        &self,
        capabilities: &Arc<Capabilities>,
        id: Arc<str>,
        source: Source,
    ) -> Store<State> {
        let limits = &self.runtime.limits;
        let deadline = Instant::now() + limits.timeout;
        let call = Call {
            component: Arc::clone(&self.name),
            request_id: id,
            deadline,
            source,
        };
        let host = HostCtx::new(Arc::clone(capabilities), call);
        let mut store = Store::new(&self.runtime.engine, State::new(host, limits.memory_bytes));
        store.limiter(|s| s);
        store.set_epoch_deadline(1);
        // Each tick: trap once the wall-clock deadline has passed, otherwise yield to the
        // executor so a busy guest never holds a worker thread for long.
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(DeadlineExceeded.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// The one way into the component: a fresh store and instance, `export` called on it, all
    /// within the deadline, and the outcome told apart. The store comes back with the result
    /// for what the call left in it (memory peak, stderr, the keep policy).
    async fn call<R>(
        &self,
        capabilities: &Arc<Capabilities>,
        id: Arc<str>,
        source: Source,
        export: impl AsyncFnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> (Result<R, CallError>, Store<State>) {
        let mut store = self.new_store(capabilities, id, source);
        // The host may wait on I/O (a slow query) where epochs cannot reach: bound it too.
        let outcome = tokio::time::timeout(self.runtime.limits.timeout, async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            export(&instance, &mut store).await
        })
        .await;
        let result = self.outcome_of(outcome, &store);
        (result, store)
    }

    /// A [`Self::call`] that serves traffic (a request, a job tick): counted as an
    /// instantiation, its memory peak exported. Calls at load are not.
    async fn call_metered<R>(
        &self,
        capabilities: &Arc<Capabilities>,
        id: Arc<str>,
        source: Source,
        export: impl AsyncFnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> (Result<R, CallError>, Store<State>) {
        metrics::instantiation(&self.name);
        let (result, store) = self.call(capabilities, id, source, export).await;
        metrics::memory_peak(&self.name, store.data().memory_peak);
        (result, store)
    }

    /// Asks one instance what the component declares: its routes, jobs, migrations and route
    /// docs.
    async fn call_declarations(
        &self,
        capabilities: &Arc<Capabilities>,
    ) -> Result<Declared, LoadError> {
        let (outcome, store) = self
            .call(
                capabilities,
                "load".into(),
                Source::HOST,
                async |instance, store| {
                    let routes = instance.call_routes(store).await;
                    let jobs = instance.call_jobs(store).await;
                    let migrations = instance.call_migrations(store).await;
                    let docs = instance.call_route_docs(store).await;
                    Ok((routes, jobs, migrations, docs))
                },
            )
            .await;
        let (routes, jobs, migrations, docs) =
            outcome.map_err(|e| LoadError::Routes(e.to_string()))?;
        Ok(Declared {
            routes: self.declared(routes, &store, LoadError::Routes)?,
            jobs: self.declared(jobs, &store, LoadError::Jobs)?,
            migrations: self.declared(migrations, &store, LoadError::Migrations)?,
            docs: self.declared(docs, &store, LoadError::RouteDocs)?,
        })
    }

    /// One export's answer at load, or the load error naming that export.
    fn declared<R>(
        &self,
        answer: wasmtime::Result<R>,
        store: &Store<State>,
        err: fn(String) -> LoadError,
    ) -> Result<R, LoadError> {
        self.outcome_of(Ok(answer), store)
            .map_err(|e| err(e.to_string()))
    }

    /// Runs one tick of a job in a fresh instance; the inner error is the job's own message.
    pub async fn run_job(
        &self,
        capabilities: &Arc<Capabilities>,
        run_id: Arc<str>,
        name: &str,
    ) -> Result<Result<(), String>, CallError> {
        let (result, _store) = self
            .call_metered(
                capabilities,
                run_id,
                Source::HOST,
                async |instance, store| instance.call_run_job(store, name).await,
            )
            .await;
        result
    }

    /// Runs one request in a fresh instance; `source` is whom its in-process calls act for.
    pub async fn handle(
        &self,
        capabilities: &Arc<Capabilities>,
        request_id: Arc<str>,
        source: Source,
        request: &Request,
    ) -> Result<Answer, CallError> {
        let (result, store) = self
            .call_metered(capabilities, request_id, source, async |instance, store| {
                instance.call_handle(store, request).await
            })
            .await;
        self.stats.call(store.data().memory_peak);
        self.count_failure(&result);
        let response = result?;
        Ok(Answer {
            response,
            keep: store.into_data().host.into_keep(),
        })
    }

    /// Counts a request that ran past its deadline or trapped (a full pool is neither).
    fn count_failure<R>(&self, result: &Result<R, CallError>) {
        match result {
            Err(CallError::Deadline(_)) => {
                metrics::deadline_hit(&self.name);
                self.stats.deadline_hit();
            }
            Err(CallError::Busy) | Ok(_) => {}
            Err(_) => {
                metrics::trap(&self.name);
                self.stats.trap();
            }
        }
    }

    /// What a call's outcome means: its value, or why there is none (deadline, a full pool, the
    /// memory cap, or a trap with what the guest wrote to stderr).
    fn outcome_of<R>(
        &self,
        outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
        store: &Store<State>,
    ) -> Result<R, CallError> {
        let timeout = self.runtime.limits.timeout;
        let err = match outcome {
            Err(_) => return Err(CallError::Deadline(timeout)),
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => err,
        };
        if err.downcast_ref::<DeadlineExceeded>().is_some()
            || matches!(
                err.downcast_ref::<wasmtime::Trap>(),
                Some(wasmtime::Trap::Interrupt)
            )
        {
            return Err(CallError::Deadline(timeout));
        }
        if err
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return Err(CallError::Busy);
        }
        if store.data().memory_exceeded {
            return Err(CallError::Memory(format!("{err:#}")));
        }
        let stderr = store.data().stderr_text();
        let detail = if stderr.is_empty() {
            format!("{err:#}")
        } else {
            format!("{stderr} ({err:#})")
        };
        Err(CallError::Trap(detail))
    }
}

/// Shortest interval a job may declare: the scheduler looks for due jobs every 50 ms.
pub const MIN_JOB_INTERVAL_MS: u64 = 100;

fn validate_jobs(jobs: &[Job]) -> Result<(), LoadError> {
    for (i, job) in jobs.iter().enumerate() {
        let bad = |reason: &str| LoadError::BadJob {
            name: job.name.clone(),
            reason: reason.to_string(),
        };
        let name_ok = !job.name.is_empty()
            && job
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(bad("a job name is letters, digits, '-' or '_'"));
        }
        if job.interval_ms < MIN_JOB_INTERVAL_MS {
            return Err(bad("the interval must be at least 100 ms"));
        }
        if jobs[..i].iter().any(|other| other.name == job.name) {
            return Err(bad("the name is declared twice"));
        }
    }
    Ok(())
}

/// Longest name a migration may carry: it is shown in lists and logs.
const MAX_MIGRATION_NAME: usize = 200;

/// Steps are numbered 1, 2, 3, ... in order, named, with SQL for both backends.
fn validate_migrations(migrations: &[Migration]) -> Result<(), LoadError> {
    for (i, m) in migrations.iter().enumerate() {
        let bad = |reason: &str| LoadError::BadMigration {
            version: m.version,
            reason: reason.to_string(),
        };
        if u64::from(m.version) != i as u64 + 1 {
            return Err(bad(&format!(
                "versions must run 1, 2, 3, ... in order; position {} holds {}",
                i + 1,
                m.version
            )));
        }
        if m.name.trim().is_empty() || m.name.len() > MAX_MIGRATION_NAME {
            return Err(bad("a migration needs a name of 1-200 bytes"));
        }
        if m.postgres.trim().is_empty() || m.sqlite.trim().is_empty() {
            return Err(bad("a migration needs SQL for both PostgreSQL and SQLite"));
        }
    }
    Ok(())
}
