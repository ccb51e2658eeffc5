//! `GET /sub/:uuid/info` (public metadata, nothing secret) and `GET /me/configs` (the caller's
//! connections, link by link).

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::{id, response, settings, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::access::{self, Reason, State};
use crate::catalog;
use crate::parse::Shown;

/// `GET /sub/:uuid/info`: nothing is ever `null`; what there is none of (no limit, no expiry,
/// no name, no reason while active) is left out (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub status: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Reason")]
    pub status_reason: Option<Reason>,
    /// Why it grants nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub message: Option<&'static str>,
    /// The tariff's name.
    pub tariff: String,
    pub traffic_used_bytes: i64,
    /// Absent: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub traffic_limit_bytes: Option<i64>,
    /// Epoch milliseconds; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub expires_at: Option<i64>,
    pub link: InfoLink,
    /// The names of the subscription's named links, never their UUIDs.
    pub links: Vec<String>,
    pub urls: Urls,
}

#[derive(Serialize, JsonSchema)]
pub struct InfoLink {
    /// Absent for an unnamed link.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub name: Option<String>,
    pub enabled: bool,
}

/// The subscription's addresses: by the client's headers, and in each format.
#[derive(Serialize, JsonSchema)]
pub struct Urls {
    pub auto: String,
    pub v2ray: String,
    pub clash: String,
    pub singbox: String,
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
    let (status, status_reason) = view.state();
    let body = Info {
        status,
        status_reason,
        message: view.inactive_reason(),
        tariff: view.tariff_name,
        traffic_used_bytes: view.traffic_used,
        traffic_limit_bytes: view.traffic_limit,
        expires_at: view.expires_at,
        link: InfoLink {
            name: view.link_name,
            enabled: view.enabled,
        },
        links: names,
        urls: Urls {
            v2ray: format!("{base}/v2ray"),
            clash: format!("{base}/clash"),
            singbox: format!("{base}/singbox"),
            auto: base,
        },
    };
    Ok(response::json(200, &body)?.with_header("cache-control", "no-cache"))
}

/// `GET /me/configs` (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
pub struct Configs {
    pub items: Vec<Config>,
}

/// One link of the caller's, with its connections (none while it grants nothing).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[schemars(extend("format" = "uuid"))]
    pub link_id: String,
    pub link_name: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    pub subscription_id: String,
    /// The subscription's address (`/sub/:uuid`).
    pub url: String,
    pub connections: Vec<ConfigConnection>,
    pub status: State,
    /// Null while active and for a cancelled subscription.
    pub status_reason: Option<Reason>,
    /// Why it grants nothing; null while active.
    pub message: Option<&'static str>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigConnection {
    #[serde(flatten)]
    pub shown: Shown,
    pub share_link: String,
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
        let (status, status_reason) = view.state();
        items.push(Config {
            connections: connections
                .iter()
                .map(|c| ConfigConnection {
                    shown: Shown::of(c),
                    share_link: xray::link::share_link(c),
                })
                .collect(),
            url: format!("{base}/sub/{}", view.uuid),
            status,
            status_reason,
            message: view.inactive_reason(),
            link_id: view.link_id,
            link_name: view.link_name,
            subscription_id: view.subscription_id,
        });
    }
    response::json(200, &Configs { items })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn required(schema: &Value) -> Vec<&str> {
        let list = schema["required"].as_array();
        list.map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// `/info` never answers `null`: what there is none of is left out, and the schema does not
    /// require it; `/me/configs` answers its `null`s, and the schema requires them.
    #[test]
    fn info_leaves_out_what_configs_answer_null() {
        let info = nexuma_sdk::answer_schema_of::<Info>();
        let always = required(&info);
        for absent in ["statusReason", "message", "trafficLimitBytes", "expiresAt"] {
            assert!(!always.contains(&absent), "{absent} may be absent: {info}");
        }
        assert!(!info.to_string().contains("\"null\""), "{info}");
        assert!(!required(&info["properties"]["link"]).contains(&"name"));
        let shown = serde_json::to_value(Info {
            status: State::Active,
            status_reason: None,
            message: None,
            tariff: "Basic".into(),
            traffic_used_bytes: 0,
            traffic_limit_bytes: None,
            expires_at: None,
            link: InfoLink {
                name: None,
                enabled: true,
            },
            links: Vec::new(),
            urls: Urls {
                auto: String::new(),
                v2ray: String::new(),
                clash: String::new(),
                singbox: String::new(),
            },
        })
        .expect("info");
        assert!(!shown.to_string().contains("null"), "{shown}");
        assert_eq!(shown["link"], json!({ "enabled": true }));

        let config = &nexuma_sdk::answer_schema_of::<Configs>()["properties"]["items"]["items"];
        for nullable in ["linkName", "statusReason", "message"] {
            assert!(required(config).contains(&nullable), "{config}");
            let types = &config["properties"][nullable];
            assert!(types.to_string().contains("null"), "{nullable}: {types}");
        }
        let connection = &config["properties"]["connections"]["items"];
        assert!(required(connection).contains(&"shareLink"), "{connection}");
        assert!(
            required(connection).contains(&"outbound"),
            "flattened: {connection}"
        );
    }

    /// The states the schema lists are those `LinkView::state` answers.
    #[test]
    fn the_states_are_listed() {
        let info = nexuma_sdk::answer_schema_of::<Info>();
        let listed = info["properties"]["status"].to_string();
        for state in [
            State::Active,
            State::Expired,
            State::Cancelled,
            State::Disabled,
            State::Suspended,
        ] {
            let name = serde_json::to_value(state).expect("state");
            assert!(listed.contains(&name.to_string()), "{name} in {listed}");
        }
        let reasons = info["properties"]["statusReason"].to_string();
        assert!(reasons.contains("\"traffic_limit\""), "{reasons}");
    }
}
