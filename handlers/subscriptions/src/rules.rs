//! Which format a client gets: an ordered, operator-editable list of rules on request headers
//! (`GET/PUT /admin/subscription-rules`), seeded with the union of Marzban's and Remnawave's
//! defaults. The first rule that matches wins; no match is v2ray. The rules themselves and
//! their matching are `format_rules`'; this module stores them.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, db, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use format_rules::{defaults, headers, pick, Rule};

const SETTING: &str = "subscriptions.rules";
const MAX_RULES: usize = 100;

/// The rules in force: the operator's, or the defaults.
pub fn load(db: &impl Executor) -> Result<Vec<Rule>, ApiError> {
    let rows = db.query(
        "SELECT value FROM settings WHERE key = $1",
        &[SETTING.into()],
    )?;
    let Some(raw) = rows.first().map(|r| r.string("value")).transpose()? else {
        return Ok(defaults());
    };
    Ok(serde_json::from_str(&raw).unwrap_or_else(|e| {
        log::warn(
            "subscription rules unreadable; using the defaults",
            &[("error", &e.to_string())],
        );
        defaults()
    }))
}

/// `GET /admin/subscription-rules`: the rules in force and the defaults.
#[derive(Serialize, JsonSchema)]
pub struct Listing {
    pub rules: Vec<Rule>,
    /// What an empty list of the operator's falls back to: Marzban's and Remnawave's rules.
    pub defaults: Vec<Rule>,
}

pub fn get(_req: &Request) -> Result<Response, ApiError> {
    let listing = Listing {
        rules: load(&Pool)?,
        defaults: defaults(),
    };
    response::json(200, &listing)
}

/// `PUT /admin/subscription-rules` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// The new list, in order; `[]` sends everyone v2ray.
    #[schemars(length(max = MAX_RULES))]
    rules: Vec<Rule>,
}

/// `PUT /admin/subscription-rules`'s answer: the list as stored.
#[derive(Serialize, JsonSchema)]
pub struct Replaced {
    pub rules: Vec<Rule>,
}

/// `PUT /admin/subscription-rules {rules}`: replaces the list; `[]` sends everyone v2ray.
pub fn put(req: &Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    if body.rules.len() > MAX_RULES {
        return Err(ApiError::validation(
            "rules",
            format!("at most {MAX_RULES}"),
        ));
    }
    let mut rules = body.rules;
    for (i, r) in rules.iter_mut().enumerate() {
        r.header = r.header.trim().to_ascii_lowercase();
        r.name = r.name.trim().to_string();
        r.check(i)
            .map_err(|e| ApiError::validation(e.field, e.message))?;
    }
    let before = load(&Pool)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    db::set_setting(
        &tx,
        SETTING,
        &serde_json::to_string(&rules).map_err(ApiError::internal)?,
        now,
    )?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "subscription_rules.update",
            target_type: "settings",
            target_id: SETTING,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&rules).ok(),
        },
        now,
    )?;
    tx.content_changed();
    tx.commit()?;
    response::json(200, &Replaced { rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived schemas list every format a rule may answer with (the defaults' `browser`
    /// included) and refuse what the parser refuses: unknown fields, a missing format.
    #[test]
    fn the_schemas_say_what_rules_hold() {
        let listing = nexuma_sdk::answer_schema_of::<Listing>();
        let rule = &listing["properties"]["defaults"]["items"];
        // A documented enum comes as `oneOf` of `const`s, each with its description.
        let format = &rule["properties"]["format"];
        let formats: Vec<&serde_json::Value> = format["oneOf"]
            .as_array()
            .map(|all| all.iter().map(|v| &v["const"]).collect())
            .unwrap_or_default();
        for f in defaults().iter().map(|r| r.format) {
            let name = serde_json::to_value(f).expect("format");
            assert!(formats.contains(&&name), "{name} in {format}");
        }
        assert_eq!(rule["additionalProperties"], false);
        let body = nexuma_sdk::schema_of::<Body>();
        assert_eq!(body["required"], serde_json::json!(["rules"]));
        let unknown: Result<Rule, _> = serde_json::from_value(serde_json::json!({
            "name": "x", "header": "user-agent", "match": "prefix", "values": ["a"],
            "format": "clash", "extra": 1
        }));
        assert!(
            unknown.is_err(),
            "the parser refuses what the schema refuses"
        );
    }
}
