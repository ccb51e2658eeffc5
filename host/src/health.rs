//! `GET /health`: database, key-value store and the loaded components with their hashes.
//! 503 while either store is unreachable: most routes need both (logins count attempts in the
//! key-value store), so a load balancer should send traffic elsewhere.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;

use crate::app::Core;
use crate::response::{json, Response};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn respond(core: &Core) -> Response {
    let (db, kv) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, core.caps.db.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, core.caps.kv.ping()),
    );
    let db_ok = matches!(db, Ok(Ok(())));
    let kv_ok = matches!(kv, Ok(Ok(())));
    if let Ok(Err(e)) = &db {
        tracing::warn!(error = %e, "health: database check failed");
    }
    if let Ok(Err(e)) = &kv {
        tracing::warn!(error = %e, "health: key-value check failed");
    }
    let set = core.registry.current();
    let components: Vec<_> = set
        .components
        .iter()
        .map(|c| {
            let jobs: Vec<&str> = c.jobs.iter().map(|j| j.name.as_str()).collect();
            json!({ "name": &*c.name, "sha256": c.sha256, "routes": c.routes.len(), "jobs": jobs })
        })
        .collect();
    let status = if db_ok && kv_ok { "ok" } else { "error" };
    let check = |ok: bool, backend: &str| json!({ "status": if ok { "ok" } else { "unreachable" }, "backend": backend });
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "database": check(db_ok, core.caps.db.backend()),
        "kv": check(kv_ok, core.caps.kv.backend()),
        "components": components,
    });
    if db_ok && kv_ok {
        return json(StatusCode::OK, &body);
    }
    let mut resp = json(StatusCode::SERVICE_UNAVAILABLE, &body);
    resp.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("5"),
    );
    resp
}
