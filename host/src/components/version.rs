//! A component version as stored and as the admin API shows it.

use serde_json::{json, Value as Json};

use super::store::Version;
use crate::bindings::AuthLevel;
use crate::runtime::LoadedComponent;

/// The row for a loaded component's bytes.
pub fn describe(
    component: &LoadedComponent,
    size: usize,
    factory: bool,
    uploaded_by: Option<&str>,
    at: i64,
) -> Version {
    let routes: Vec<Json> = component
        .routes
        .iter()
        .map(|r| json!({ "method": r.method, "path": r.path, "auth": auth_name(r.auth) }))
        .collect();
    let jobs: Vec<Json> = component
        .jobs
        .iter()
        .map(|j| json!({ "name": j.name, "intervalMs": j.interval_ms }))
        .collect();
    let migrations: Vec<Json> = component
        .migrations
        .iter()
        .map(|m| json!({ "version": m.version, "name": m.name }))
        .collect();
    Version {
        hash: component.sha256.clone(),
        name: component.name.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        routes: Json::Array(routes).to_string(),
        jobs: Json::Array(jobs).to_string(),
        factory,
        uploaded_by: uploaded_by.map(str::to_string),
        uploaded_at: at,
        contract: Some(component.contract.as_str().to_string()),
        migrations: Some(Json::Array(migrations).to_string()),
    }
}

/// The API's view of a version.
pub fn to_json(v: &Version, active: bool) -> Json {
    json!({
        "name": v.name,
        "hash": v.hash,
        "size": v.size,
        "routes": parse_list(&v.routes),
        "jobs": parse_list(&v.jobs),
        "contract": v.contract,
        "migrations": v.migrations.as_deref().map_or(json!([]), parse_list),
        "factory": v.factory,
        "uploadedAt": v.uploaded_at,
        "uploadedBy": v.uploaded_by,
        "active": active,
    })
}

/// Stored JSON text back as JSON (the host wrote it; anything else shows as an empty list).
fn parse_list(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| json!([]))
}

pub fn auth_name(level: AuthLevel) -> &'static str {
    match level {
        AuthLevel::Public => "public",
        AuthLevel::User => "user",
        AuthLevel::Admin => "admin",
        AuthLevel::Node => "node",
    }
}
