//! Routing: rules, balancers and blocking options — reusable as rule sets
//! (`/admin/routing-rule-sets`) that nodes reference in order — and how a node's routing and
//! outbounds are put together.

use std::borrow::Cow;

use nexuma_sdk::db::{self, Executor, Pool, Row};
use nexuma_sdk::record::{self, Change};
use nexuma_sdk::{clock, id, response, ApiError, Request, Response};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xray::NOT_BLANK;

use crate::model::{self, text, Node};

/// The outbounds every node has; the first is where unmatched traffic goes.
pub const BUILTIN_OUTBOUNDS: [&str; 2] = ["direct", "block"];
pub const DOMAIN_STRATEGIES: [&str; 3] = ["AsIs", "IPIfNonMatch", "IPOnDemand"];
const MATCHERS: [&str; 10] = [
    "domain",
    "ip",
    "port",
    "sourcePort",
    "network",
    "source",
    "user",
    "inboundTag",
    "protocol",
    "attrs",
];
const LIST_MATCHERS: [&str; 6] = ["domain", "ip", "source", "user", "inboundTag", "protocol"];
const OTHER_KEYS: [&str; 5] = [
    "type",
    "outboundTag",
    "balancerTag",
    "ruleTag",
    "domainMatcher",
];
const NAME_MAX: usize = 100;
pub const MAX_RULES: usize = 1000;
/// The tags a node's own outbound cannot have.
const RESERVED_OUTBOUND_TAGS: [&str; 3] = [BUILTIN_OUTBOUNDS[0], BUILTIN_OUTBOUNDS[1], "api"];
/// Routing rules' targets: a rule names exactly one.
const TARGETS: [&str; 2] = ["outboundTag", "balancerTag"];

/// A non-empty string.
fn named() -> Value {
    json!({ "type": "string", "minLength": 1 })
}

/// A non-empty list of non-empty strings.
fn names() -> Value {
    json!({ "type": "array", "minItems": 1, "items": named() })
}

/// The JSON Schema of one routing rule as [`check_rules`] takes it (the rule itself is kept as
/// the JSON it came as): known keys only, at least one matcher, exactly one target. Whether
/// the target exists on a node is checked where the node is ([`check_node`]).
pub struct Rule;

impl JsonSchema for Rule {
    fn schema_name() -> Cow<'static, str> {
        "RoutingRule".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut properties = serde_json::Map::new();
        for key in MATCHERS {
            let schema = match key {
                _ if LIST_MATCHERS.contains(&key) => names(),
                "port" | "sourcePort" => json!({
                    "type": ["string", "integer"], "minimum": 0,
                    "description": "a port, a range (1000-2000) or a list (80,443)"
                }),
                "network" => json!({ "type": "string", "description": "tcp, udp or tcp,udp" }),
                _ => json!({}),
            };
            properties.insert(key.into(), schema);
        }
        for key in OTHER_KEYS {
            let schema = match key {
                "type" => json!({ "description": "set to `field`" }),
                _ => json!({}),
            };
            properties.insert(key.into(), schema);
        }
        let target = |given: &str, other: &str| json!({ "required": [given], "properties": { given: named(), other: { "not": named() } } });
        let matchers: Vec<Value> = MATCHERS
            .iter()
            .map(|m| json!({ "required": [m] }))
            .collect();
        Schema::try_from(json!({
            "type": "object",
            "description": "a core routing rule: matchers, and outboundTag or balancerTag",
            "properties": properties,
            "additionalProperties": false,
            "anyOf": matchers,
            "oneOf": [target(TARGETS[0], TARGETS[1]), target(TARGETS[1], TARGETS[0])],
        }))
        .expect("an object")
    }
}

/// The JSON Schema of one extra outbound of a node as [`check_outbounds`] takes it (kept as the
/// JSON it came as): a tag of its own and a protocol; the rest is the core's.
pub struct Outbound;

impl JsonSchema for Outbound {
    fn schema_name() -> Cow<'static, str> {
        "Outbound".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut tag = named();
        tag["not"] = json!({ "enum": RESERVED_OUTBOUND_TAGS });
        Schema::try_from(json!({
            "type": "object",
            "description": "a core outbound; its tag unique on the node",
            "required": ["tag", "protocol"],
            "properties": { "tag": tag, "protocol": named() },
        }))
        .expect("an object")
    }
}

/// The JSON Schema of one balancer as [`RuleSet::validate`] takes it (kept as the JSON it came
/// as): a tag unique in the set and a selector of outbound tag prefixes; the rest is the
/// core's.
pub struct Balancer;

impl JsonSchema for Balancer {
    fn schema_name() -> Cow<'static, str> {
        "Balancer".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::try_from(json!({
            "type": "object",
            "required": ["tag", "selector"],
            "properties": { "tag": named(), "selector": names() },
        }))
        .expect("an object")
    }
}

/// Blocking options: shorthands that become rules to the `block` outbound.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Blocking {
    #[serde(default)]
    pub bittorrent: bool,
    /// `geoip:private` (needs geoip.dat on the node).
    #[serde(default)]
    pub private_ips: bool,
    #[serde(default)]
    #[schemars(inner(regex(pattern = NOT_BLANK)))]
    pub domains: Vec<String>,
    #[serde(default)]
    #[schemars(inner(regex(pattern = NOT_BLANK)))]
    pub ips: Vec<String>,
}

impl Blocking {
    fn rules(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let block = |key: &str, values: Value| json!({ "type": "field", key: values, "outboundTag": "block" });
        if self.bittorrent {
            out.push(block("protocol", json!(["bittorrent"])));
        }
        if self.private_ips {
            out.push(block("ip", json!(["geoip:private"])));
        }
        if !self.domains.is_empty() {
            out.push(block("domain", json!(self.domains)));
        }
        if !self.ips.is_empty() {
            out.push(block("ip", json!(self.ips)));
        }
        out
    }
}

/// A routing rule set as stored and answered (its JSON Schema is derived from this type).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleSet {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    #[schemars(length(min = 1, max = NAME_MAX))]
    pub name: String,
    #[schemars(with = "Vec<Rule>", length(max = MAX_RULES))]
    pub rules: Vec<Value>,
    #[schemars(with = "Vec<Balancer>")]
    pub balancers: Vec<Value>,
    pub blocking: Blocking,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, rules, balancers, blocking, created_at, updated_at";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: &str) -> Result<T, ApiError> {
    serde_json::from_str(row.str(column)?)
        .map_err(|e| ApiError::internal(format!("routing_rule_sets.{column}: {e}")))
}

impl RuleSet {
    fn from_row(row: Row<'_>) -> Result<RuleSet, ApiError> {
        Ok(RuleSet {
            id: row.string("id")?,
            name: row.string("name")?,
            rules: json_column(&row, "rules")?,
            balancers: json_column(&row, "balancers")?,
            blocking: json_column(&row, "blocking")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
        })
    }

    fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Structural checks: rules, balancers (unique tags), blocking lists.
    fn validate(&mut self) -> Result<(), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX {
            return Err(ApiError::validation(
                "name",
                format!("must be 1 to {NAME_MAX} characters"),
            ));
        }
        self.name = name.to_string();
        check_rules("rules", &mut self.rules)?;
        let mut tags: Vec<&str> = Vec::new();
        for (i, balancer) in self.balancers.iter().enumerate() {
            let field = format!("balancers[{i}]");
            let tag = balancer.get("tag").and_then(Value::as_str).unwrap_or("");
            let selector_ok = balancer
                .get("selector")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    !s.is_empty() && s.iter().all(|v| v.as_str().is_some_and(|v| !v.is_empty()))
                });
            if tag.is_empty() || !selector_ok {
                return Err(ApiError::validation(
                    field,
                    "needs a tag and a non-empty selector (outbound tag prefixes)",
                ));
            }
            if tags.contains(&tag) {
                return Err(ApiError::validation(
                    field,
                    format!("tag `{tag}` is used twice"),
                ));
            }
            tags.push(tag);
        }
        for (field, list) in [
            ("blocking.domains", &self.blocking.domains),
            ("blocking.ips", &self.blocking.ips),
        ] {
            if list.iter().any(|v| v.trim().is_empty()) {
                return Err(ApiError::validation(field, "items must be non-empty"));
            }
        }
        Ok(())
    }

    /// Tags of its balancers.
    fn balancer_tags(&self) -> impl Iterator<Item = &str> {
        self.balancers
            .iter()
            .filter_map(|b| b.get("tag").and_then(Value::as_str))
    }
}

/// Checks routing rules (and adds `type: field`, which v2ray needs and Xray ignores).
pub fn check_rules(field: &str, rules: &mut [Value]) -> Result<(), ApiError> {
    if rules.len() > MAX_RULES {
        return Err(ApiError::validation(
            field,
            format!("at most {MAX_RULES} rules"),
        ));
    }
    for (i, rule) in rules.iter_mut().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(object) = rule.as_object_mut() else {
            return Err(ApiError::validation(at, "must be an object"));
        };
        if let Some(key) = object
            .keys()
            .find(|k| !MATCHERS.contains(&k.as_str()) && !OTHER_KEYS.contains(&k.as_str()))
        {
            return Err(ApiError::validation(at, format!("unknown key `{key}`")));
        }
        let targets = TARGETS
            .iter()
            .filter(|k| {
                object
                    .get(**k)
                    .and_then(Value::as_str)
                    .is_some_and(|v| !v.is_empty())
            })
            .count();
        if targets != 1 {
            return Err(ApiError::validation(
                at,
                "needs exactly one of outboundTag and balancerTag",
            ));
        }
        if !MATCHERS.iter().any(|m| object.contains_key(*m)) {
            return Err(ApiError::validation(
                at,
                format!("needs a matcher: one of {}", MATCHERS.join(", ")),
            ));
        }
        for key in LIST_MATCHERS {
            if let Some(value) = object.get(key) {
                let ok = value.as_array().is_some_and(|a| {
                    !a.is_empty() && a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                });
                if !ok {
                    return Err(ApiError::validation(
                        format!("{at}.{key}"),
                        "must be a non-empty list of non-empty strings",
                    ));
                }
            }
        }
        for key in ["port", "sourcePort"] {
            if let Some(value) = object.get(key) {
                if !(value.is_string() || value.is_u64()) {
                    return Err(ApiError::validation(
                        format!("{at}.{key}"),
                        "must be a port, a range (1000-2000) or a list (80,443)",
                    ));
                }
            }
        }
        if object.get("network").is_some_and(|v| !v.is_string()) {
            return Err(ApiError::validation(
                format!("{at}.network"),
                "must be tcp, udp or tcp,udp",
            ));
        }
        object.insert("type".into(), json!("field"));
    }
    Ok(())
}

/// The rule sets with these ids, in this order; 400 naming the first unknown one.
pub fn sets(db: &impl Executor, ids: &[String]) -> Result<Vec<RuleSet>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let found = db
            .query(
                &format!("SELECT {COLUMNS} FROM routing_rule_sets WHERE id = $1"),
                &[id.into()],
            )?
            .first()
            .map(RuleSet::from_row)
            .transpose()?;
        match found {
            Some(set) => out.push(set),
            None => {
                return Err(ApiError::validation(
                    "ruleSetIds",
                    format!("no routing rule set with id {id}"),
                ))
            }
        }
    }
    Ok(out)
}

/// Checks what a node's routing refers to: its domain strategy, and that every rule (its own
/// and its rule sets') goes to an outbound or balancer the node has.
pub fn check_node(node: &Node, sets: &[RuleSet]) -> Result<(), ApiError> {
    if let Some(strategy) = &node.routing.domain_strategy {
        if !DOMAIN_STRATEGIES.contains(&strategy.as_str()) {
            return Err(ApiError::validation(
                "routing.domainStrategy",
                format!("must be one of {}", DOMAIN_STRATEGIES.join(", ")),
            ));
        }
    }
    let outbounds: Vec<&str> = BUILTIN_OUTBOUNDS
        .into_iter()
        .chain(
            node.outbounds
                .iter()
                .filter_map(|o| o.get("tag").and_then(Value::as_str)),
        )
        .collect();
    let mut balancers: Vec<&str> = Vec::new();
    for set in sets {
        for tag in set.balancer_tags() {
            if balancers.contains(&tag) {
                return Err(ApiError::validation(
                    "ruleSetIds",
                    format!("balancer tag `{tag}` appears in two of the node's rule sets"),
                ));
            }
            balancers.push(tag);
        }
    }
    let own = node
        .routing
        .rules
        .iter()
        .map(|r| ("routing.rules".to_string(), r));
    let from_sets = sets.iter().flat_map(|s| {
        s.rules
            .iter()
            .map(move |r| (format!("rule set {}", s.name), r))
    });
    for (whose, rule) in own.chain(from_sets) {
        if let Some(tag) = rule.get("outboundTag").and_then(Value::as_str) {
            if !outbounds.contains(&tag) {
                return Err(ApiError::validation(
                    "routing",
                    format!("{whose}: no outbound tagged `{tag}` on node {}", node.name),
                ));
            }
        }
        if let Some(tag) = rule.get("balancerTag").and_then(Value::as_str) {
            if !balancers.contains(&tag) {
                return Err(ApiError::validation(
                    "routing",
                    format!("{whose}: no balancer tagged `{tag}` on node {}", node.name),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a node's extra outbounds: objects with a unique tag of their own and a protocol.
pub fn check_outbounds(outbounds: &[Value]) -> Result<(), ApiError> {
    let mut tags: Vec<&str> = Vec::new();
    for (i, outbound) in outbounds.iter().enumerate() {
        let field = format!("outbounds[{i}]");
        let tag = outbound.get("tag").and_then(Value::as_str).unwrap_or("");
        let protocol = outbound
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("");
        if tag.is_empty() || protocol.is_empty() {
            return Err(ApiError::validation(field, "needs a tag and a protocol"));
        }
        if RESERVED_OUTBOUND_TAGS.contains(&tag) || tags.contains(&tag) {
            return Err(ApiError::validation(
                field,
                format!("tag `{tag}` is taken (direct, block and api are built in)"),
            ));
        }
        tags.push(tag);
    }
    Ok(())
}

/// The node's outbounds in the core config: direct (the default), block, then its own.
pub fn outbounds(node: &Node) -> Value {
    let mut all = vec![
        json!({ "protocol": "freedom", "tag": "direct" }),
        json!({ "protocol": "blackhole", "tag": "block" }),
    ];
    all.extend(node.outbounds.iter().cloned());
    Value::Array(all)
}

/// The node's routing section: its own rules, then each rule set's blocking rules and rules.
pub fn section(node: &Node, sets: &[RuleSet]) -> Value {
    let mut rules: Vec<Value> = node.routing.rules.clone();
    let mut balancers: Vec<Value> = Vec::new();
    for set in sets {
        rules.extend(set.blocking.rules());
        rules.extend(set.rules.iter().cloned());
        balancers.extend(set.balancers.iter().cloned());
    }
    json!({
        "domainStrategy": node.routing.domain_strategy.as_deref().unwrap_or("AsIs"),
        "rules": rules,
        "balancers": balancers,
    })
}

fn load(db: &impl Executor, id: &str) -> Result<RuleSet, ApiError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM routing_rule_sets WHERE id = $1"),
        &[id.into()],
    )?
    .first()
    .map(RuleSet::from_row)
    .transpose()?
    .ok_or_else(|| {
        ApiError::not_found(
            "rule_set_not_found",
            format!("no routing rule set with id {id}"),
        )
    })
}

/// Nodes that reference rule set `id`.
fn users_of(db: &impl Executor, id: &str) -> Result<Vec<Node>, ApiError> {
    Ok(model::all(db)?
        .into_iter()
        .filter(|n| n.rule_set_ids.iter().any(|r| r == id))
        .collect())
}

pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM routing_rule_sets",
        &[],
    )?;
    let items = db::query(
        &format!(
            "SELECT {COLUMNS} FROM routing_rule_sets ORDER BY created_at, id LIMIT $1 OFFSET $2"
        ),
        &[limit.into(), offset.into()],
    )?
    .iter()
    .map(RuleSet::from_row)
    .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    response::json(200, &load(&Pool, req.param("id")?)?)
}

/// A rule set's fields as a create or change gives them (absent or null: unchanged; a create
/// needs a name). Its JSON Schema is derived from this type.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Body {
    #[schemars(length(max = NAME_MAX), regex(pattern = NOT_BLANK))]
    name: Option<String>,
    /// Routing rules; their targets must exist on every node that uses the set.
    #[schemars(with = "Option<Vec<Rule>>", length(max = MAX_RULES))]
    rules: Option<Vec<Value>>,
    /// Balancers, their tags unique in the set and among a node's sets.
    #[schemars(with = "Option<Vec<Balancer>>")]
    balancers: Option<Vec<Value>>,
    blocking: Option<Blocking>,
}

/// What a create cannot do without.
const CREATE_REQUIRED: [&str; 1] = ["name"];

/// The create body's schema: the fields', with a name required and not null.
pub fn create_schema() -> Value {
    crate::required(nexuma_sdk::schema_of::<Body>(), &CREATE_REQUIRED)
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    let now = clock::now_ms();
    let mut set = RuleSet {
        id: id::new_v4(),
        name: body
            .name
            .ok_or_else(|| ApiError::validation(CREATE_REQUIRED[0], "is required"))?,
        rules: body.rules.unwrap_or_default(),
        balancers: body.balancers.unwrap_or_default(),
        blocking: body.blocking.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    set.validate()?;
    let tx = db::begin()?;
    tx.execute(
        &format!("INSERT INTO routing_rule_sets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &[
            set.id.as_str().into(),
            set.name.as_str().into(),
            text(&set.rules).into(),
            text(&set.balancers).into(),
            text(&set.blocking).into(),
            now.into(),
            now.into(),
        ],
    )?;
    record::audit_request(
        &tx,
        req,
        "routing_rule_set",
        "routing_rule_set.create",
        &set.id,
        None,
        Some(set.json()),
        now,
    )?;
    tx.commit()?;
    response::json(201, &set)
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: Body = req.json()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE routing_rule_sets SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let before = load(&tx, id)?;
    let mut set = before.clone();
    if let Some(v) = body.name {
        set.name = v;
    }
    if let Some(v) = body.rules {
        set.rules = v;
    }
    if let Some(v) = body.balancers {
        set.balancers = v;
    }
    if let Some(v) = body.blocking {
        set.blocking = v;
    }
    set.updated_at = now;
    set.validate()?;
    // Every node using it must still make sense with the new rules.
    let nodes = users_of(&tx, id)?;
    for node in &nodes {
        let mut node_sets = sets(&tx, &node.rule_set_ids)?;
        for s in node_sets.iter_mut().filter(|s| s.id == set.id) {
            *s = set.clone();
        }
        check_node(node, &node_sets).map_err(|e| {
            ApiError::conflict(
                "rule_set_breaks_node",
                format!("node {} uses this rule set: {}", node.name, e.message),
            )
        })?;
    }
    tx.execute(
        "UPDATE routing_rule_sets SET name = $2, rules = $3, balancers = $4, blocking = $5, \
         updated_at = $6 WHERE id = $1",
        &[
            id.into(),
            set.name.as_str().into(),
            text(&set.rules).into(),
            text(&set.balancers).into(),
            text(&set.blocking).into(),
            now.into(),
        ],
    )?;
    let routing_changed = (&set.rules, &set.balancers, &set.blocking)
        != (&before.rules, &before.balancers, &before.blocking);
    if routing_changed {
        for node in &nodes {
            node_config_changed(&tx, &node.id, now)?;
        }
    }
    record::audit_request(
        &tx,
        req,
        "routing_rule_set",
        "routing_rule_set.update",
        id,
        Some(before.json()),
        Some(set.json()),
        now,
    )?;
    tx.commit()?;
    response::json(200, &set)
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE routing_rule_sets SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let set = load(&tx, id)?;
    let nodes = users_of(&tx, id)?;
    if let Some(node) = nodes.first() {
        return Err(ApiError::conflict(
            "rule_set_in_use",
            format!(
                "{} node(s) use this rule set (first: {}); take it off them first",
                nodes.len(),
                node.name
            ),
        ));
    }
    tx.execute("DELETE FROM routing_rule_sets WHERE id = $1", &[id.into()])?;
    record::audit_request(
        &tx,
        req,
        "routing_rule_set",
        "routing_rule_set.delete",
        id,
        Some(set.json()),
        None,
        now,
    )?;
    tx.commit()?;
    response::no_content()
}

/// Records that node `id`'s own configuration changed, for the revision pass.
pub fn node_config_changed(db: &impl Executor, id: &str, now: i64) -> Result<(), ApiError> {
    record::node_change(
        db,
        Change {
            kind: "node.config",
            node_id: Some(id),
            ..Change::default()
        },
        now,
    )
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The rule schema names every key `check_rules` knows and says what it refuses.
    #[test]
    fn a_rule_is_described_as_check_rules_takes_it() {
        let rule = nexuma_sdk::schema_of::<Rule>();
        let keys: Vec<&str> = rule["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), MATCHERS.len() + OTHER_KEYS.len());
        assert!(MATCHERS.iter().chain(&OTHER_KEYS).all(|k| keys.contains(k)));
        assert_eq!(rule["additionalProperties"], false);
        let matchers: Vec<Value> = MATCHERS
            .iter()
            .map(|m| json!({ "required": [m] }))
            .collect();
        assert_eq!(rule["anyOf"], json!(matchers));
        assert_eq!(rule["properties"]["domain"]["minItems"], 1);
        // What the schema allows, check_rules takes; one target each, a matcher each.
        let mut good = vec![
            json!({ "domain": ["example.com"], "outboundTag": "block" }),
            json!({ "port": "80,443", "network": "tcp", "balancerTag": "b", "outboundTag": 5 }),
            json!({ "sourcePort": 53, "outboundTag": "direct", "ruleTag": "dns" }),
        ];
        assert!(check_rules("rules", &mut good).is_ok());
        for bad in [
            json!({ "outboundTag": "block" }),
            json!({ "domain": ["a"], "outboundTag": "block", "balancerTag": "b" }),
            json!({ "domain": [], "outboundTag": "block" }),
            json!({ "domain": ["a"], "outboundTag": "block", "extra": 1 }),
            json!({ "port": -1, "outboundTag": "block" }),
        ] {
            assert!(check_rules("rules", &mut [bad.clone()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn outbounds_and_balancers_and_bodies() {
        let outbound = nexuma_sdk::schema_of::<Outbound>();
        assert_eq!(outbound["required"], json!(["tag", "protocol"]));
        assert_eq!(
            outbound["properties"]["tag"]["not"]["enum"],
            json!(RESERVED_OUTBOUND_TAGS)
        );
        for tag in RESERVED_OUTBOUND_TAGS {
            let taken = [json!({ "tag": tag, "protocol": "freedom" })];
            assert!(check_outbounds(&taken).is_err(), "{tag}");
        }
        let balancer = nexuma_sdk::schema_of::<Balancer>();
        assert_eq!(balancer["required"], json!(["tag", "selector"]));
        assert_eq!(balancer["properties"]["selector"]["minItems"], 1);

        let create = create_schema();
        assert_eq!(create["required"], json!(CREATE_REQUIRED));
        assert_eq!(create["properties"]["name"]["type"], "string");
        assert_eq!(create["properties"]["rules"]["maxItems"], MAX_RULES);
        assert_eq!(create["additionalProperties"], false);
        let patch = nexuma_sdk::schema_of::<Body>();
        assert!(patch.get("required").is_none());
        assert!(serde_json::from_value::<Body>(json!({ "name": null })).is_ok());
        let blocking = nexuma_sdk::schema_of::<Blocking>();
        assert_eq!(
            blocking["properties"]["domains"]["items"]["pattern"],
            NOT_BLANK
        );
        assert!(patch["properties"]["blocking"]
            .to_string()
            .contains("privateIps"));

        let set = nexuma_sdk::answer_schema_of::<RuleSet>();
        assert_eq!(set["required"].as_array().map(Vec::len), Some(7));
        assert_eq!(set["properties"]["name"]["maxLength"], NAME_MAX);
    }
}
