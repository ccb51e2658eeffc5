//! `GET /sub/:uuid/info` (public metadata, nothing secret) and `GET /me/configs` (the caller's
//! connections, link by link).

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::{id, response, settings, ApiError, Request, Response};
use serde_json::json;

use crate::access::{self, LinkView};
use crate::catalog;

fn status(view: &LinkView) -> serde_json::Value {
    let (state, reason) = view.state();
    json!({ "status": state, "statusReason": reason, "message": view.inactive_reason() })
}

/// `value` without its null members, at any depth: `/info` leaves out what there is none of
/// (no limit, no expiry, no name) instead of showing `null`.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other,
    }
}

pub fn info(req: &Request) -> Result<Response, ApiError> {
    let uuid = req.param("uuid")?.to_ascii_lowercase();
    let not_found = || ApiError::not_found("not_found", "there is no subscription at this address");
    if !id::is_uuid(&uuid) {
        return Err(not_found());
    }
    let view = access::by_uuid(&Pool, &uuid)?.ok_or_else(not_found)?;
    // The names of the subscription's named links, never their UUIDs (an unnamed link has
    // nothing to show here).
    let names: Vec<String> = Pool
        .query(
            "SELECT name FROM subscription_links WHERE subscription_id = $1 \
             AND name IS NOT NULL ORDER BY created_at, id",
            &[view.subscription_id.as_str().into()],
        )?
        .iter()
        .map(|r| r.string("name"))
        .collect::<Result<_, _>>()?;
    let base = format!("{}/sub/{uuid}", settings::public_url());
    let mut body = json!({
        "tariff": view.tariff_name,
        "trafficUsedBytes": view.traffic_used,
        "trafficLimitBytes": view.traffic_limit,
        "expiresAt": view.expires_at,
        "link": { "name": view.link_name, "enabled": view.enabled },
        "links": names,
        "urls": {
            "auto": base,
            "v2ray": format!("{base}/v2ray"),
            "clash": format!("{base}/clash"),
            "singbox": format!("{base}/singbox"),
        },
    });
    if let (Some(object), Some(state)) = (body.as_object_mut(), status(&view).as_object()) {
        object.extend(state.clone());
    }
    Ok(response::json(200, &without_nulls(body))?.with_header("cache-control", "no-cache"))
}

pub fn configs(req: &Request) -> Result<Response, ApiError> {
    let user = &req.caller()?.id;
    let base = settings::public_url();
    let mut items = Vec::new();
    let (_, catalog) = catalog::load(&Pool)?;
    for view in access::of_user(&Pool, user)? {
        let connections = match view.inactive_reason() {
            None => access::connections(&Pool, &catalog.nodes, &view)?,
            Some(_) => Vec::new(),
        };
        let connections: Vec<serde_json::Value> = connections
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "protocol": c.protocol.name(),
                    "address": c.address,
                    "port": c.port,
                    "shareLink": xray::link::share_link(c),
                    "outbound": xray::outbound::outbound(c),
                })
            })
            .collect();
        let mut item = json!({
            "linkId": view.link_id,
            "linkName": view.link_name,
            "subscriptionId": view.subscription_id,
            "url": format!("{base}/sub/{}", view.uuid),
            "connections": connections,
        });
        if let (Some(object), Some(state)) = (item.as_object_mut(), status(&view).as_object()) {
            object.extend(state.clone());
        }
        items.push(item);
    }
    response::json(200, &json!({ "items": items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_left_out_at_any_depth() {
        let shown = without_nulls(json!({
            "expiresAt": null,
            "link": { "name": null, "enabled": true },
            "links": [null, "Laptop"],
            "trafficUsedBytes": 0,
        }));
        assert_eq!(
            shown,
            json!({ "link": { "enabled": true }, "links": ["Laptop"], "trafficUsedBytes": 0 })
        );
    }
}
