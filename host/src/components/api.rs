//! `/admin/components`: the operator's API over component versions (host routes, admin only).
//!
//! - `GET /admin/components` — every name: active version, stored versions, a newer factory
//!   version the folder holds, this replica's figures for the active version; the revision.
//! - `POST /admin/components?name=N[&activate=true]` — the raw `.wasm` as the body, loaded and
//!   checked against the served set before anything is stored (400 with the reason).
//! - `POST /admin/components/:name/activate` `{"hash", "canary"?}`,
//!   `POST /admin/components/:name/rollback`, `POST /admin/components/:name/promote` (canaries:
//!   `canary.rs`), `DELETE /admin/components/:name/versions/:hash`.
//!
//! Every change is written with its `audit_log` row in one transaction; an activation moves the
//! set's revision in that transaction too, and this replica swaps before it answers, then
//! announces the revision to the other replicas.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value as Json};

use super::store::{self, Active, Audit, Version};
use super::{announce, canary, schema, set, version, Error};
use crate::app::Core;
use crate::bindings::AuthLevel;
use crate::body::{self, Limits, RequestBody};
use crate::iface::clock::now_ms;
use crate::response::{self, Response};
use crate::runtime::{LoadError, LoadedComponent};
use crate::{auth, input, registry};

const LIST: &str = "/admin/components";
const ACTIVATE: &str = "/admin/components/:name/activate";
const ROLLBACK: &str = "/admin/components/:name/rollback";
const PROMOTE: &str = "/admin/components/:name/promote";
const VERSION: &str = "/admin/components/:name/versions/:hash";

/// The API's route pattern for `path`, if it is one of them.
pub fn pattern(path: &str) -> Option<&'static str> {
    match segments(path).as_slice() {
        ["admin", "components"] => Some(LIST),
        ["admin", "components", _, "activate"] => Some(ACTIVATE),
        ["admin", "components", _, "rollback"] => Some(ROLLBACK),
        ["admin", "components", _, "promote"] => Some(PROMOTE),
        ["admin", "components", _, "versions", _] => Some(VERSION),
        _ => None,
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Every route the API serves, as (method, pattern): what requests are let through and what
/// `/openapi.json` must describe.
pub const ROUTES: [(&str, &str); 6] = [
    ("GET", LIST),
    ("POST", LIST),
    ("POST", ACTIVATE),
    ("POST", ROLLBACK),
    ("POST", PROMOTE),
    ("DELETE", VERSION),
];

/// The methods `ROUTES` allows on `pattern`.
fn methods(pattern: &str) -> Vec<Method> {
    ROUTES
        .iter()
        .filter(|(_, p)| *p == pattern)
        .filter_map(|(m, _)| Method::from_bytes(m.as_bytes()).ok())
        .collect()
}

/// A refusal: status, code, message, and the request field it is about.
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) field: Option<&'static str>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 about one field of the body, named in the message and in `field`.
    pub(super) fn field(field: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            field: Some(field),
            ..Refusal::new(StatusCode::BAD_REQUEST, "validation_error", message)
        }
    }

    fn into_response(self) -> Response {
        match self.field {
            None => response::error(self.status, self.code, &self.message),
            Some(field) => response::json(
                self.status,
                &json!({ "error": { "code": self.code, "message": self.message, "field": field } }),
            ),
        }
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "components: database unavailable");
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; retry shortly",
        )
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        match e {
            Error::Database(e) => e.into(),
            Error::Load(e) => {
                Refusal::new(StatusCode::BAD_REQUEST, "invalid_component", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "components: stored versions inconsistent");
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    other.to_string(),
                )
            }
        }
    }
}

pub(super) type Answer = Result<Response, Refusal>;

/// Who asks, and from where: what the audit log records.
pub(super) struct Caller<'a> {
    pub(super) core: &'a Core,
    pub(super) id: String,
    pub(super) ip: String,
}

pub(crate) async fn handle<B: RequestBody>(
    core: &Core,
    pattern: &'static str,
    req: http::Request<B>,
    ip: IpAddr,
) -> Response {
    let (parts, body) = req.into_parts();
    let query = input::query_pairs(parts.uri.query());
    let params = params(parts.uri.path());
    let head = parts.method == Method::HEAD;
    let method = if head {
        Method::GET
    } else {
        parts.method.clone()
    };
    let caller = match admitted(core, pattern, &parts, &params, &query, &method).await {
        Ok(id) => Caller {
            core,
            id,
            ip: ip.to_string(),
        },
        Err(refusal) => return drained(core, body, refusal).await,
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let answer = match (pattern, &method) {
        (LIST, &Method::GET) => list(core).await,
        (LIST, _) => upload(&caller, &query, &parts.headers, body).await,
        (ACTIVATE, _) => activate(&caller, &param("name"), &parts.headers, body).await,
        (ROLLBACK, _) => rollback(&caller, &param("name")).await,
        (PROMOTE, _) => canary::promote(&caller, &param("name")).await,
        _ => delete(&caller, &param("name"), &param("hash")).await,
    };
    let response = answer.unwrap_or_else(Refusal::into_response);
    if head {
        response::without_body(response)
    } else {
        response
    }
}

/// The admin's id, once the request's path, query and method are sound; else the refusal.
async fn admitted(
    core: &Core,
    pattern: &str,
    parts: &http::request::Parts,
    params: &[(String, String)],
    query: &[(String, String)],
    method: &Method,
) -> Result<String, Response> {
    if let Some(refusal) = input::nul_refusal(params, query) {
        return Err(refusal);
    }
    if !methods(pattern).iter().any(|m| m == method) {
        return Err(not_allowed(&parts.method, pattern));
    }
    admin(core, method, &parts.headers).await
}

/// Reads what the client is still sending (up to `BODY_LIMIT_BYTES`) before refusing: an
/// upload refused unread would have its connection closed mid-body, and the client would see
/// a broken connection rather than the 401 or 403. Past the limit it is cut as any body is.
async fn drained<B: RequestBody>(core: &Core, body: B, refusal: Response) -> Response {
    match body::read(&HeaderMap::new(), body, Limits::request(&core.config)).await {
        Ok(_) => refusal,
        Err(_) => response::closing(refusal),
    }
}

/// `name` and `hash` from the path, percent-decoded (so the NUL check sees `%00`).
fn params(path: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let segs = segments(path);
    let mut out = Vec::new();
    if let Some(name) = segs.get(2) {
        out.push(("name".to_string(), decode(name)));
    }
    if let Some(hash) = segs.get(4) {
        out.push(("hash".to_string(), decode(hash)));
    }
    out
}

fn not_allowed(method: &Method, pattern: &str) -> Response {
    let allowed = methods(pattern);
    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    response::not_allowed(method, &allow.join(", "))
}

/// The admin's id, or the refusal auth.rs gives components' admin routes.
async fn admin(core: &Core, method: &Method, headers: &HeaderMap) -> Result<String, Response> {
    match auth::authenticate(AuthLevel::Admin, method, headers, &core.caps).await {
        Ok(Some(caller)) => Ok(caller.id),
        // Not given for an admin route: a token is required there.
        Ok(None) => Err(response::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a Bearer access token is required",
        )),
        Err(refusal) => Err(refusal.response(AuthLevel::Admin)),
    }
}

// ---------------------------------------------------------------------------------------------
// GET

async fn list(core: &Core) -> Answer {
    let db = &core.caps.db;
    let revision = store::revision(db).await?;
    let active = store::active(db).await?;
    let versions = store::versions(db).await?;
    let applied = store::applied(db, None).await?;
    let names: BTreeSet<&str> = active
        .iter()
        .map(|a| a.name.as_str())
        .chain(versions.iter().map(|v| v.name.as_str()))
        .collect();
    let mut components = Vec::with_capacity(names.len());
    for name in names {
        let row = active.iter().find(|a| a.name == name);
        components.push(entry(core, name, row, &versions, &applied).await);
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "revision": revision,
            "replica": core.components.replica,
            "servedRevision": core.components.revision(),
            "components": components,
        }),
    ))
}

/// One name as the list shows it.
async fn entry(
    core: &Core,
    name: &str,
    active: Option<&Active>,
    versions: &[Version],
    applied: &[store::Applied],
) -> Json {
    let active_hash = active.map(|a| a.hash.as_str());
    let mine: Vec<&Version> = versions.iter().filter(|v| v.name == name).collect();
    let active_json = active.map(|a| {
        let factory = mine.iter().any(|v| v.hash == a.hash && v.factory);
        json!({ "hash": a.hash, "factory": factory, "activatedAt": a.activated_at,
                "activatedBy": a.activated_by })
    });
    let newer_factory = newer_factory(core, name, active, &mine);
    json!({
        "name": name,
        "active": active_json,
        "previousHash": active.and_then(|a| a.previous_hash.clone()),
        "newerFactory": newer_factory,
        "stats": active_hash.and_then(|h| stats(core, name, h)),
        "migrations": applied
            .iter()
            .filter(|m| m.component == name)
            .map(|m| json!({ "version": m.version, "name": m.name, "appliedBy": m.applied_by,
                             "appliedAt": m.applied_at }))
            .collect::<Vec<_>>(),
        "canary": canary::view(core, active).await,
        "versions": mine
            .iter()
            .map(|v| version::to_json(v, Some(v.hash.as_str()) == active_hash))
            .collect::<Vec<_>>(),
    })
}

/// The folder's version of `name` when it is not the active one and came after it: what a
/// Core upgrade brought while an operator's own choice stays active.
fn newer_factory(
    core: &Core,
    name: &str,
    active: Option<&Active>,
    versions: &[&Version],
) -> Option<String> {
    let folder = core.components.factory_hash(name)?;
    let uploaded = |hash: &str| {
        versions
            .iter()
            .find(|v| v.hash == hash)
            .map(|v| v.uploaded_at)
    };
    let newer = match active {
        None => true,
        Some(a) if a.hash == folder => false,
        Some(a) => uploaded(&folder) > uploaded(&a.hash),
    };
    newer.then_some(folder)
}

/// This replica's figures for the version it serves under `name`, since it loaded it.
fn stats(core: &Core, name: &str, hash: &str) -> Option<Json> {
    let set = core.registry.current();
    let component = set
        .components
        .iter()
        .find(|c| &*c.name == name && c.sha256 == hash)?;
    let s = component.stats.snapshot();
    Some(json!({
        "replica": core.components.replica,
        "since": component.loaded_at,
        "calls": s.calls,
        "traps": s.traps,
        "deadlineHits": s.deadline_hits,
        "serverErrors": s.server_errors,
        "memoryPeakBytes": s.memory_peak,
    }))
}

/// The name's entry after a change, with the set's revision.
pub(super) async fn entry_now(core: &Core, name: &str, status: StatusCode) -> Answer {
    let db = &core.caps.db;
    let revision = store::revision(db).await?;
    let active = store::active_of(db, name).await?;
    let versions = store::versions(db).await?;
    let applied = store::applied(db, Some(name)).await?;
    let mut body = entry(core, name, active.as_ref(), &versions, &applied).await;
    body["revision"] = json!(revision);
    Ok(response::json(status, &body))
}

// ---------------------------------------------------------------------------------------------
// Changes

async fn upload<B: RequestBody>(
    caller: &Caller<'_>,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: B,
) -> Answer {
    let core = caller.core;
    let name = upload_name(query)?;
    let activate = flag(query, "activate")?;
    let bytes = match body::read(headers, body, Limits::upload(&core.config)).await {
        Ok(bytes) => bytes,
        Err(response) => return Ok(response),
    };
    if bytes.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body must be the component's .wasm file",
        ));
    }
    if activate {
        // An activation would leave the running canary beside another version.
        canary::not_running(core, &name).await?;
    }
    let candidate = checked(core, &name, &bytes).await?;
    let hash = candidate.sha256.clone();
    if let Some(stored) = store::version(&core.caps.db, &hash).await? {
        if stored.name != name {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                "stored_under_another_name",
                format!(
                    "these bytes are already stored as version {hash} of component {:?}",
                    stored.name
                ),
            ));
        }
    }
    let now = now_ms();
    let row = version::describe(&candidate, bytes.len(), false, Some(&caller.id), now);
    let mut tx = core.caps.db.begin().await?;
    let inserted = store::insert_version(&mut tx, &row, &bytes).await?;
    if inserted {
        store::audit(
            &mut tx,
            audit(
                caller,
                "component.upload",
                &name,
                json!(null),
                version::to_json(&row, false),
                now,
            ),
        )
        .await?;
    }
    let activated = if activate {
        activate_in(&mut tx, caller, &candidate, now).await?
    } else {
        None
    };
    tx.commit().await?;
    tracing::info!(component = %name, sha256 = %hash, inserted, activated = activated.is_some(),
        actor = %caller.id, "component uploaded");
    if let Some(revision) = activated {
        swap(core, &candidate, revision).await;
    }
    let active = store::active_of(&core.caps.db, &name).await?;
    let stored = store::version(&core.caps.db, &hash).await?.unwrap_or(row);
    let is_active = active.is_some_and(|a| a.hash == hash);
    Ok(response::json(
        if inserted {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &version::to_json(&stored, is_active),
    ))
}

fn upload_name(query: &[(String, String)]) -> Result<String, Refusal> {
    let name = query
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the query must name the component: ?name=<name>",
            )
        })?;
    if !registry::valid_name(&name) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "name must be 1-64 lower-case letters, digits, '-' or '_'",
        ));
    }
    Ok(name)
}

fn flag(query: &[(String, String)], key: &str) -> Result<bool, Refusal> {
    match query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
    {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{key} must be true or false"),
        )),
    }
}

/// Loads `bytes` as component `name` with the Core's runtime and checks it fits the served set.
async fn checked(core: &Core, name: &str, bytes: &Bytes) -> Result<Arc<LoadedComponent>, Refusal> {
    let component = LoadedComponent::load(&core.runtime, &core.caps, name, bytes.to_vec())
        .await
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "invalid_component", e.to_string()))?;
    let component = Arc::new(component);
    fits(core, &component)?;
    Ok(component)
}

pub(super) fn fits(core: &Core, candidate: &Arc<LoadedComponent>) -> Result<(), Refusal> {
    set::fits(core, candidate).map_err(|e: LoadError| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "does_not_fit",
            format!(
                "component {} does not fit the active set: {e}",
                candidate.name
            ),
        )
    })
}

/// Activates inside `tx`, running the version's pending schema steps first; the set's new
/// revision when anything changed (with its audit row). A failing step is refused and, since
/// the caller then drops `tx`, leaves the active version as it was.
async fn activate_in(
    tx: &mut crate::iface::db::Transaction,
    caller: &Caller<'_>,
    candidate: &LoadedComponent,
    now: i64,
) -> Result<Option<i64>, Refusal> {
    let (name, hash) = (&*candidate.name, candidate.sha256.as_str());
    let Some(previous) = store::activate(tx, name, hash, &caller.id, now).await? else {
        return Ok(None);
    };
    let ran = migrate(tx, caller.core, candidate, previous.as_deref(), now).await?;
    let before = previous.map_or(json!(null), |h| json!({ "hash": h }));
    store::audit(
        tx,
        audit(
            caller,
            "component.activate",
            name,
            before,
            json!({ "hash": hash, "migrationsRun": ran }),
            now,
        ),
    )
    .await?;
    Ok(Some(store::bump(tx).await?))
}

/// Runs `candidate`'s pending schema steps in `tx`; a refusal says which version stays active.
pub(super) async fn migrate(
    tx: &mut crate::iface::db::Transaction,
    core: &Core,
    candidate: &LoadedComponent,
    stays: Option<&str>,
    now: i64,
) -> Result<Vec<u32>, Refusal> {
    schema::apply(tx, core.caps.db.backend(), candidate, now)
        .await
        .map_err(|e| match e {
            e if e.is_migration() => {
                let stays = stays.map_or(String::new(), |h| format!(", version {h} stays active"));
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "migration_failed",
                    format!("{e}; nothing was changed{stays}"),
                )
            }
            other => other.into(),
        })
}

async fn activate<B: RequestBody>(
    caller: &Caller<'_>,
    name: &str,
    headers: &HeaderMap,
    body: B,
) -> Answer {
    let core = caller.core;
    let bytes = match body::read(headers, body, Limits::request(&core.config)).await {
        Ok(bytes) => bytes,
        Err(response) => return Ok(response),
    };
    let (hash, body) = requested_hash(&bytes, headers)?;
    let ask = canary::ask(&body)?;
    let stored = store::version(&core.caps.db, &hash).await?;
    if stored.is_none_or(|v| v.name != name) {
        return Err(not_found(name, &hash));
    }
    if let Some(ask) = ask {
        return canary::start(caller, name, &hash, ask).await;
    }
    canary::not_running(core, name).await?;
    let candidate = loaded(core, name, &hash).await?;
    fits(core, &candidate)?;
    let now = now_ms();
    let mut tx = core.caps.db.begin().await?;
    let changed = activate_in(&mut tx, caller, &candidate, now).await?;
    tx.commit().await?;
    tracing::info!(component = %name, sha256 = %hash, changed = changed.is_some(),
        actor = %caller.id, "component activated");
    if let Some(revision) = changed {
        swap(core, &candidate, revision).await;
    }
    entry_now(core, name, StatusCode::OK).await
}

/// The requested hash, and the whole body (for its other fields).
fn requested_hash(body: &[u8], headers: &HeaderMap) -> Result<(String, Json), Refusal> {
    if input::body_has_nul(body, headers) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "nul_character",
            "the request body contains a NUL character",
        ));
    }
    let value: Json = serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body must be JSON {{\"hash\": \"...\"}}: {e}"),
        )
    })?;
    match value["hash"].as_str() {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok((h.to_ascii_lowercase(), value))
        }
        _ => Err(Refusal::field(
            "hash",
            "hash must be the version's SHA-256, 64 hex digits",
        )),
    }
}

fn not_found(name: &str, hash: &str) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("component {name:?} has no version {hash}"),
    )
}

/// The version as this replica serves it, or freshly loaded from the folder or the database.
pub(super) async fn loaded(
    core: &Core,
    name: &str,
    hash: &str,
) -> Result<Arc<LoadedComponent>, Refusal> {
    let current = core.registry.current();
    let canaries = current.canaries.iter().map(|c| &c.component);
    if let Some(c) = current
        .components
        .iter()
        .chain(canaries)
        .find(|c| &*c.name == name && c.sha256 == hash)
    {
        return Ok(Arc::clone(c));
    }
    Ok(Arc::new(set::load_version(core, name, hash).await?))
}

async fn rollback(caller: &Caller<'_>, name: &str) -> Answer {
    let core = caller.core;
    let Some(active) = store::active_of(&core.caps.db, name).await? else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no component {name:?} is active"),
        ));
    };
    if let Some(running) = &active.canary {
        return canary::stop(caller, name, &active.hash, running).await;
    }
    let Some(previous) = active.previous_hash.clone() else {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "no_previous_version",
            format!("component {name:?} has no previous version to roll back to"),
        ));
    };
    let candidate = loaded(core, name, &previous).await?;
    fits(core, &candidate)?;
    let now = now_ms();
    let mut tx = core.caps.db.begin().await?;
    if !store::rollback(&mut tx, name, &active.hash, &previous, &caller.id, now).await? {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("component {name:?} changed meanwhile; look at the list and try again"),
        ));
    }
    migrate(&mut tx, core, &candidate, Some(&active.hash), now).await?;
    store::audit(
        &mut tx,
        audit(
            caller,
            "component.rollback",
            name,
            json!({ "hash": active.hash }),
            json!({ "hash": previous }),
            now,
        ),
    )
    .await?;
    let revision = store::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(component = %name, from = %active.hash, to = %previous, actor = %caller.id,
        revision, "component rolled back");
    swap(core, &candidate, revision).await;
    entry_now(core, name, StatusCode::OK).await
}

async fn delete(caller: &Caller<'_>, name: &str, hash: &str) -> Answer {
    let core = caller.core;
    let Some(stored) = store::version(&core.caps.db, hash)
        .await?
        .filter(|v| v.name == name)
    else {
        return Err(not_found(name, hash));
    };
    let active = store::active_of(&core.caps.db, name).await?;
    if active.as_ref().is_some_and(|a| a.hash == hash) {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "version_active",
            "this version is active; activate another one first",
        ));
    }
    if active
        .and_then(|a| a.canary)
        .is_some_and(|c| c.hash == hash)
    {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "version_in_canary",
            "this version runs as a canary; promote it or roll it back first",
        ));
    }
    if core.components.factory_hash(name).as_deref() == Some(hash) {
        return Err(Refusal::new(StatusCode::CONFLICT, "factory_version",
            "this is the components folder's version; it would be registered again at the next start"));
    }
    let now = now_ms();
    let mut tx = core.caps.db.begin().await?;
    if !store::delete_version(&mut tx, hash).await? {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "version_active",
            "this version became active meanwhile",
        ));
    }
    store::audit(
        &mut tx,
        audit(
            caller,
            "component.delete",
            name,
            version::to_json(&stored, false),
            json!(null),
            now,
        ),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(component = %name, sha256 = %hash, actor = %caller.id, "component version deleted");
    let mut resp = http::Response::new(http_body_util::Full::new(Bytes::new()));
    *resp.status_mut() = http::StatusCode::NO_CONTENT;
    Ok(resp)
}

pub(super) fn audit<'a>(
    caller: &'a Caller<'_>,
    action: &'a str,
    name: &'a str,
    before: Json,
    after: Json,
    at: i64,
) -> Audit<'a> {
    Audit {
        actor: Some(&caller.id),
        action,
        name,
        ip: Some(&caller.ip),
        before,
        after,
        at,
    }
}

/// Swaps this replica's set at once, before the answer: the caller sees its change served here.
/// Should that fail, the follower tries again on its next look. Then announces `revision`, so
/// the other replicas load it now; after the swap, because this replica hears its own
/// announcement too and must find it served already rather than load the set a second time.
pub(super) async fn swap(core: &Core, candidate: &Arc<LoadedComponent>, revision: i64) {
    if let Err(e) = set::sync(core, std::slice::from_ref(candidate)).await {
        tracing::error!(component = %candidate.name, error = %e,
            "the change is stored but this replica could not load the new set yet");
    }
    announce::publish(core, revision);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_paths_are_its_own() {
        assert_eq!(pattern("/admin/components"), Some(LIST));
        assert_eq!(pattern("/admin/components/"), Some(LIST));
        assert_eq!(pattern("/admin/components/probe/activate"), Some(ACTIVATE));
        assert_eq!(pattern("/admin/components/probe/rollback"), Some(ROLLBACK));
        assert_eq!(pattern("/admin/components/probe/promote"), Some(PROMOTE));
        assert_eq!(
            pattern("/admin/components/probe/versions/ab"),
            Some(VERSION)
        );
        assert_eq!(pattern("/admin/components/probe"), None);
        assert_eq!(pattern("/admin/componentsx"), None);
        assert_eq!(pattern("/admin/users"), None);
    }

    #[test]
    fn path_parameters_are_decoded() {
        let p = params("/admin/components/a%00b/versions/c%20d");
        assert_eq!(p[0], ("name".into(), "a\0b".into()));
        assert_eq!(p[1], ("hash".into(), "c d".into()));
    }

    #[test]
    fn the_hash_is_64_hex_digits() {
        let headers = HeaderMap::new();
        let ok = format!("{{\"hash\":\"{}\"}}", "A".repeat(64));
        assert_eq!(
            requested_hash(ok.as_bytes(), &headers).ok().map(|(h, _)| h),
            Some("a".repeat(64))
        );
        assert!(requested_hash(b"{\"hash\":\"abc\"}", &headers).is_err());
        assert!(requested_hash(b"not json", &headers).is_err());
    }
}
