//! Which released version of the `nexuma:core` contract a component was built for, and its
//! exports bound for that version. The version is read from the component's import names
//! (`nexuma:core/types@0.1.0`, ...): the guest bindings always import `types`.
//!
//! The imports are implemented once, for the current version; a frozen version differs only in
//! its exports, so each version here is a thin wrapper around its generated `HandlerPre`.

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

use super::loaded::LoadError;
use super::State;
use crate::bindings::nexuma::core::types::{Job, Migration, RouteDoc};
use crate::bindings::{self, Request, Response, Route};

/// The package every contract version belongs to.
const PACKAGE: &str = "nexuma:core/";

/// A contract version this host binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// The first release: routes, handle, jobs, run-job.
    V0_1_0,
    /// Adds `migrations`.
    V0_1_1,
    /// Adds `route-docs`.
    V0_1_2,
    /// Adds the `api` import; the exports are 0.1.2's.
    V0_1_3,
}

impl Contract {
    /// Every version this host serves, oldest first.
    pub const ALL: [Contract; 4] = [
        Contract::V0_1_0,
        Contract::V0_1_1,
        Contract::V0_1_2,
        Contract::V0_1_3,
    ];

    /// The version as `major.minor.patch`, as stored with a version and shown by the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1_0 => "0.1.0",
            Contract::V0_1_1 => "0.1.1",
            Contract::V0_1_2 => "0.1.2",
            Contract::V0_1_3 => "0.1.3",
        }
    }

    fn parse(version: &str) -> Option<Self> {
        Contract::ALL.into_iter().find(|c| c.as_str() == version)
    }

    /// The versions this host accepts, for messages: `nexuma:core@0.1.0, nexuma:core@0.1.1`.
    pub fn accepted() -> String {
        Contract::ALL
            .iter()
            .map(|c| format!("nexuma:core@{}", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The version `component` targets; refused when it names one this host does not bind, or
    /// several, or none.
    pub fn of(component: &Component, engine: &Engine) -> Result<Self, LoadError> {
        let ty = component.component_type();
        let mut versions: Vec<&str> = ty
            .imports(engine)
            .filter_map(|(name, _)| name.strip_prefix(PACKAGE))
            .map(|rest| rest.split_once('@').map_or("", |(_, v)| v))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        match versions.as_slice() {
            [] => Err(LoadError::Contract(format!(
                "it imports nothing from nexuma:core; build it against one of {}",
                Contract::accepted()
            ))),
            [one] => Contract::parse(one).ok_or_else(|| {
                LoadError::Contract(format!(
                    "it was built for nexuma:core@{one}; this Core accepts {}",
                    Contract::accepted()
                ))
            }),
            several => Err(LoadError::Contract(format!(
                "it mixes contract versions {}; build it against one of {}",
                several.join(", "),
                Contract::accepted()
            ))),
        }
    }
}

/// A component pre-linked with the exports of its contract version. 0.1.2 and 0.1.3 export the
/// same functions (0.1.3 only imports more), so both bind on the current world.
pub enum Pre {
    V0_1_0(bindings::v0_1_0::HandlerPre<State>),
    V0_1_1(bindings::v0_1_1::HandlerPre<State>),
    Current(bindings::HandlerPre<State>),
}

impl Pre {
    pub fn new(contract: Contract, pre: InstancePre<State>) -> Result<Self, LoadError> {
        let link = |e: wasmtime::Error| LoadError::Link(format!("{e:#}"));
        Ok(match contract {
            Contract::V0_1_0 => Pre::V0_1_0(bindings::v0_1_0::HandlerPre::new(pre).map_err(link)?),
            Contract::V0_1_1 => Pre::V0_1_1(bindings::v0_1_1::HandlerPre::new(pre).map_err(link)?),
            Contract::V0_1_2 | Contract::V0_1_3 => {
                Pre::Current(bindings::HandlerPre::new(pre).map_err(link)?)
            }
        })
    }

    pub async fn instantiate_async(&self, store: &mut Store<State>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::V0_1_0(pre) => Instance::V0_1_0(pre.instantiate_async(store).await?),
            Pre::V0_1_1(pre) => Instance::V0_1_1(pre.instantiate_async(store).await?),
            Pre::Current(pre) => Instance::Current(pre.instantiate_async(store).await?),
        })
    }
}

/// A fresh instance of any version.
pub enum Instance {
    V0_1_0(bindings::v0_1_0::Handler),
    V0_1_1(bindings::v0_1_1::Handler),
    Current(bindings::Handler),
}

impl Instance {
    pub async fn call_routes(&self, store: &mut Store<State>) -> wasmtime::Result<Vec<Route>> {
        match self {
            Instance::V0_1_0(i) => i.call_routes(store).await,
            Instance::V0_1_1(i) => i.call_routes(store).await,
            Instance::Current(i) => i.call_routes(store).await,
        }
    }

    pub async fn call_jobs(&self, store: &mut Store<State>) -> wasmtime::Result<Vec<Job>> {
        match self {
            Instance::V0_1_0(i) => i.call_jobs(store).await,
            Instance::V0_1_1(i) => i.call_jobs(store).await,
            Instance::Current(i) => i.call_jobs(store).await,
        }
    }

    pub async fn call_handle(
        &self,
        store: &mut Store<State>,
        request: &Request,
    ) -> wasmtime::Result<Response> {
        match self {
            Instance::V0_1_0(i) => i.call_handle(store, request).await,
            Instance::V0_1_1(i) => i.call_handle(store, request).await,
            Instance::Current(i) => i.call_handle(store, request).await,
        }
    }

    pub async fn call_run_job(
        &self,
        store: &mut Store<State>,
        name: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::V0_1_0(i) => i.call_run_job(store, name).await,
            Instance::V0_1_1(i) => i.call_run_job(store, name).await,
            Instance::Current(i) => i.call_run_job(store, name).await,
        }
    }

    /// A 0.1.0 component brings no migrations.
    pub async fn call_migrations(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Vec<Migration>> {
        match self {
            Instance::V0_1_0(_) => Ok(Vec::new()),
            Instance::V0_1_1(i) => i.call_migrations(store).await,
            Instance::Current(i) => i.call_migrations(store).await,
        }
    }

    /// A component before 0.1.2 documents its routes by their records alone.
    pub async fn call_route_docs(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Vec<RouteDoc>> {
        match self {
            Instance::V0_1_0(_) | Instance::V0_1_1(_) => Ok(Vec::new()),
            Instance::Current(i) => i.call_route_docs(store).await,
        }
    }
}
