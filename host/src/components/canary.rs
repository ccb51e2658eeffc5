//! Canary activation: another stored version of a name serves a share of its requests beside
//! the active version for a window; every replica counts both (`decide.rs`) and the canary ends
//! by itself — rolled back when it fails more often than the active version by more than the
//! margin, promoted at the window's end — or by an operator (`promote`, `rollback`).
//!
//! A canary serves exactly the active version's routes (method, path, auth), so the route table
//! keeps one entry per route and a request picks its version there once. Every start and end is
//! one conditional statement with its audit row and the set's revision in one transaction, then
//! swapped here and announced, like an activation: replicas deciding at once end it once.

use std::collections::BTreeSet;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Map, Value as Json};

use super::api::{self, Answer, Caller, Refusal};
use super::store::{self, Active, Audit};
use super::{decide, version};
use crate::app::Core;
use crate::iface::clock::now_ms;
use crate::runtime::LoadedComponent;

/// The window when the request names none: long enough for a quiet route to collect calls.
const WINDOW_SECONDS: (i64, i64, i64) = (5, 86_400, 600);
/// The margin when the request names none: 5 points of failure rate above the active version's.
const MARGIN: f64 = 0.05;
const SETTINGS: [&str; 3] = ["percent", "windowSeconds", "margin"];

/// What `activate` asks for in `"canary"`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ask {
    pub percent: i64,
    pub window_seconds: i64,
    pub margin: f64,
}

/// The body's `canary`, checked; `None` when the activation asks for none.
pub(super) fn ask(body: &Json) -> Result<Option<Ask>, Refusal> {
    let settings = match body.get("canary") {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Object(settings)) => settings,
        Some(_) => {
            return Err(Refusal::field(
                "canary",
                "canary must be an object: {\"percent\": 1-99, \"windowSeconds\": 5-86400, \
                 \"margin\": 0-1}",
            ))
        }
    };
    if let Some(other) = settings.keys().find(|k| !SETTINGS.contains(&k.as_str())) {
        return Err(Refusal::field(
            "canary",
            format!("canary.{other} is not a canary setting (percent, windowSeconds, margin)"),
        ));
    }
    let (lo, hi, default) = WINDOW_SECONDS;
    Ok(Some(Ask {
        percent: whole(settings, "percent", "canary.percent", (1, 99), None)?,
        window_seconds: whole(
            settings,
            "windowSeconds",
            "canary.windowSeconds",
            (lo, hi),
            Some(default),
        )?,
        margin: margin(settings)?,
    }))
}

fn whole(
    settings: &Map<String, Json>,
    key: &str,
    field: &'static str,
    (lo, hi): (i64, i64),
    default: Option<i64>,
) -> Result<i64, Refusal> {
    match (settings.get(key), default) {
        (None, Some(d)) => Ok(d),
        (Some(v), _) if v.as_i64().is_some_and(|n| (lo..=hi).contains(&n)) => {
            Ok(v.as_i64().unwrap_or(lo))
        }
        _ => Err(Refusal::field(
            field,
            format!("{field} must be a whole number from {lo} to {hi}"),
        )),
    }
}

fn margin(settings: &Map<String, Json>) -> Result<f64, Refusal> {
    match settings.get("margin") {
        None => Ok(MARGIN),
        Some(v) => v
            .as_f64()
            .filter(|m| (0.0..=1.0).contains(m))
            .ok_or_else(|| {
                Refusal::field(
                    "canary.margin",
                    "canary.margin must be a number from 0 to 1 (0.05: the canary may fail 5 \
                     points more often than the active version)",
                )
            }),
    }
}

/// Whether two versions declare the same routes: method, path and auth level.
pub fn same_routes(a: &LoadedComponent, b: &LoadedComponent) -> bool {
    routes_of(a) == routes_of(b)
}

fn routes_of(c: &LoadedComponent) -> BTreeSet<(&str, &str, &'static str)> {
    c.routes
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.path.as_str(),
                version::auth_name(r.auth),
            )
        })
        .collect()
}

fn show_routes(c: &LoadedComponent) -> String {
    let shown: Vec<String> = routes_of(c)
        .into_iter()
        .map(|(m, p, a)| format!("{m} {p} ({a})"))
        .collect();
    shown.join(", ")
}

/// 409 when a canary of `name` runs: a plain activation would leave it beside another version.
pub(super) async fn not_running(core: &Core, name: &str) -> Result<(), Refusal> {
    match store::active_of(&core.caps.db, name).await? {
        Some(Active {
            canary: Some(running),
            ..
        }) => Err(running_refusal(name, &running)),
        _ => Ok(()),
    }
}

fn running_refusal(name: &str, running: &store::Canary) -> Refusal {
    Refusal::new(
        StatusCode::CONFLICT,
        "canary_running",
        format!(
            "a canary of {name:?} (version {}) is running; promote it or roll it back first",
            short(&running.hash)
        ),
    )
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// `activate` with `"canary"`: `hash` serves `ask.percent` % of `name`'s requests.
pub(super) async fn start(caller: &Caller<'_>, name: &str, hash: &str, ask: Ask) -> Answer {
    let core = caller.core;
    let Some(active) = store::active_of(&core.caps.db, name).await? else {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "no_active_version",
            format!(
                "component {name:?} has no active version to compare a canary with; activate it \
                 without a canary"
            ),
        ));
    };
    if let Some(running) = &active.canary {
        return Err(running_refusal(name, running));
    }
    if active.hash == hash {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "already_active",
            format!(
                "version {} is {name:?}'s active version already",
                short(hash)
            ),
        ));
    }
    let candidate = api::loaded(core, name, hash).await?;
    let stable = api::loaded(core, name, &active.hash).await?;
    if !same_routes(&stable, &candidate) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "routes_differ",
            format!(
                "version {} declares other routes than the active version of {name:?} ({} \
                 against {}); a canary must serve exactly the same routes: activate it without \
                 a canary",
                short(hash),
                show_routes(&candidate),
                show_routes(&stable)
            ),
        ));
    }
    api::fits(core, &candidate)?;
    let now = now_ms();
    let row = store::Canary {
        hash: hash.to_string(),
        percent: ask.percent,
        margin: ask.margin,
        started_at: now,
        until: now + ask.window_seconds * 1000,
        by: Some(caller.id.clone()),
    };
    let mut tx = core.caps.db.begin().await?;
    if !store::start_canary(&mut tx, name, &active.hash, &row).await? {
        return Err(changed_meanwhile(name));
    }
    // Its schema steps run before it takes a single request; a failing one ends nothing.
    let ran = api::migrate(&mut tx, core, &candidate, Some(&active.hash), now).await?;
    let before = json!({ "hash": active.hash });
    let after = json!({ "hash": active.hash, "canary": row_json(&row, ask.window_seconds),
                        "migrationsRun": ran });
    let audit = api::audit(caller, "component.canary", name, before, after, now);
    store::audit(&mut tx, audit).await?;
    let revision = store::bump(&mut tx).await?;
    tx.commit().await?;
    tracing::info!(component = %name, active = %active.hash, canary = %hash,
        percent = ask.percent, window_seconds = ask.window_seconds, margin = ask.margin,
        actor = %caller.id, revision, "canary started");
    api::swap(core, &candidate, revision).await;
    api::entry_now(core, name, StatusCode::OK).await
}

fn row_json(row: &store::Canary, window_seconds: i64) -> Json {
    json!({ "hash": row.hash, "percent": row.percent, "windowSeconds": window_seconds,
            "margin": row.margin, "until": row.until })
}

fn changed_meanwhile(name: &str) -> Refusal {
    Refusal::new(
        StatusCode::CONFLICT,
        "conflict",
        format!("component {name:?} changed meanwhile; look at the list and try again"),
    )
}

/// The name's running canary, or the refusal.
async fn running(core: &Core, name: &str) -> Result<(String, store::Canary), Refusal> {
    let Some(active) = store::active_of(&core.caps.db, name).await? else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no component {name:?} is active"),
        ));
    };
    match active.canary {
        Some(canary) => Ok((active.hash, canary)),
        None => Err(Refusal::new(
            StatusCode::CONFLICT,
            "no_canary",
            format!("no canary of {name:?} is running"),
        )),
    }
}

/// `POST /admin/components/:name/promote`: the canary takes every request now.
pub(super) async fn promote(caller: &Caller<'_>, name: &str) -> Answer {
    let (active, canary) = running(caller.core, name).await?;
    let candidate = api::loaded(caller.core, name, &canary.hash).await?;
    let end = Ended::by_operator(caller, name, &active, &canary, End::Promote);
    match conclude(caller.core, &end, &candidate).await? {
        Some(_) => api::entry_now(caller.core, name, StatusCode::OK).await,
        None => Err(changed_meanwhile(name)),
    }
}

/// `rollback` while a canary runs: the canary ends, the active version keeps every request.
pub(super) async fn stop(
    caller: &Caller<'_>,
    name: &str,
    active: &str,
    canary: &store::Canary,
) -> Answer {
    let candidate = api::loaded(caller.core, name, active).await?;
    let end = Ended::by_operator(caller, name, active, canary, End::Rollback);
    match conclude(caller.core, &end, &candidate).await? {
        Some(_) => api::entry_now(caller.core, name, StatusCode::OK).await,
        None => Err(changed_meanwhile(name)),
    }
}

/// How a canary ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// The canary becomes the active version.
    Promote,
    /// The active version keeps every request.
    Rollback,
}

/// One canary's end, as the audit log tells it. No actor: a replica decided it.
pub(super) struct Ended<'a> {
    pub name: &'a str,
    pub active: &'a str,
    pub canary: &'a str,
    pub started_at: i64,
    pub percent: i64,
    pub how: End,
    pub actor: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub reason: String,
}

impl<'a> Ended<'a> {
    fn by_operator(
        caller: &'a Caller<'_>,
        name: &'a str,
        active: &'a str,
        canary: &'a store::Canary,
        how: End,
    ) -> Self {
        let reason = match how {
            End::Promote => "promoted by an operator",
            End::Rollback => "rolled back by an operator",
        };
        Ended {
            name,
            active,
            canary: &canary.hash,
            started_at: canary.started_at,
            percent: canary.percent,
            how,
            actor: Some(&caller.id),
            ip: Some(&caller.ip),
            reason: reason.into(),
        }
    }
}

/// Ends the canary if it still runs (one conditional statement, its audit row and the set's
/// revision in one transaction), then swaps here and announces; the revision, or `None` when
/// it had ended already (another replica, or an operator, was first). `serving` is the
/// version that takes every request.
pub(super) async fn conclude(
    core: &Core,
    end: &Ended<'_>,
    serving: &Arc<LoadedComponent>,
) -> Result<Option<i64>, sqlx::Error> {
    let now = now_ms();
    let mut tx = core.caps.db.begin().await?;
    let (ended, action, now_active) = match end.how {
        End::Promote => (
            store::promote_canary(
                &mut tx,
                end.name,
                end.canary,
                end.started_at,
                end.actor,
                now,
            )
            .await?,
            "component.promote",
            end.canary,
        ),
        End::Rollback => (
            store::end_canary(&mut tx, end.name, end.canary, end.started_at).await?,
            "component.canary_rollback",
            end.active,
        ),
    };
    if !ended {
        return Ok(None);
    }
    let audit = Audit {
        actor: end.actor,
        action,
        name: end.name,
        ip: end.ip,
        before: json!({ "hash": end.active,
                        "canary": { "hash": end.canary, "percent": end.percent } }),
        after: json!({ "hash": now_active, "reason": end.reason }),
        at: now,
    };
    store::audit(&mut tx, audit).await?;
    let revision = store::bump(&mut tx).await?;
    tx.commit().await?;
    api::swap(core, serving, revision).await;
    Ok(Some(revision))
}

/// The list's view of a name's canary: its settings, the counts across replicas it is judged
/// by (`null` when the key-value store does not answer) and this replica's own figures.
pub(super) async fn view(core: &Core, active: Option<&Active>) -> Json {
    let Some((active, canary)) = active.and_then(|a| a.canary.as_ref().map(|c| (a, c))) else {
        return Json::Null;
    };
    let counts = decide::shared(
        core,
        &active.name,
        &active.hash,
        &canary.hash,
        canary.started_at,
    )
    .await
    .ok();
    json!({
        "hash": canary.hash,
        "percent": canary.percent,
        "margin": canary.margin,
        "startedAt": canary.started_at,
        "until": canary.until,
        "startedBy": canary.by,
        "counts": counts.map(|c| c.to_json()),
        "stats": replica_stats(core, &active.name, &canary.hash),
    })
}

/// This replica's figures for the canary's version, as `stats` shows the active version's.
fn replica_stats(core: &Core, name: &str, hash: &str) -> Option<Json> {
    let set = core.registry.current();
    let served = set
        .canaries
        .iter()
        .find(|c| *c.component.name == *name && c.component.sha256 == hash)?;
    let s = served.component.stats.snapshot();
    Some(json!({
        "replica": core.components.replica,
        "since": served.component.loaded_at,
        "calls": s.calls,
        "traps": s.traps,
        "deadlineHits": s.deadline_hits,
        "serverErrors": s.server_errors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: Json) -> Option<&'static str> {
        ask(&body).err().and_then(|r| r.field)
    }

    #[test]
    fn a_canary_asks_for_a_share_with_defaults() {
        assert_eq!(ask(&json!({ "hash": "x" })).ok(), Some(None));
        let got = ask(&json!({ "canary": { "percent": 10 } })).ok().flatten();
        assert_eq!(
            got,
            Some(Ask {
                percent: 10,
                window_seconds: 600,
                margin: 0.05
            })
        );
        let got = ask(&json!({ "canary": { "percent": 99, "windowSeconds": 5, "margin": 0 } }))
            .ok()
            .flatten();
        assert_eq!(got.map(|a| (a.window_seconds, a.margin)), Some((5, 0.0)));
    }

    #[test]
    fn each_bad_setting_is_named() {
        assert_eq!(field_of(json!({ "canary": 10 })), Some("canary"));
        assert_eq!(field_of(json!({ "canary": {} })), Some("canary.percent"));
        for percent in [json!(0), json!(100), json!(10.5), json!("10")] {
            let body = json!({ "canary": { "percent": percent } });
            assert_eq!(field_of(body), Some("canary.percent"));
        }
        for window in [json!(4), json!(86_401), json!(null)] {
            let body = json!({ "canary": { "percent": 5, "windowSeconds": window } });
            assert_eq!(field_of(body), Some("canary.windowSeconds"));
        }
        for margin in [json!(-0.1), json!(1.5), json!("0.1")] {
            let body = json!({ "canary": { "percent": 5, "margin": margin } });
            assert_eq!(field_of(body), Some("canary.margin"));
        }
        let typo = json!({ "canary": { "percent": 5, "window": 60 } });
        assert_eq!(field_of(typo), Some("canary"));
    }
}
