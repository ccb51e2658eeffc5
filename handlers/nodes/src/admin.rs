//! `/admin/nodes`: nodes, their configuration, registration codes, keys and operations.

use std::collections::BTreeMap;

use nexuma_sdk::db::{self, Executor, Pool, Value};
use nexuma_sdk::record;
use nexuma_sdk::{clock, id, response, ApiError, Request, Response};
use serde::Deserialize;
use serde_json::json;
use xray::InboundSpec;

use crate::model::{self, text, Node, NodeRouting, Op, STATUSES};
use crate::routing;
use crate::secrets;
use crate::{build, revisions};

const NAME_MAX: usize = 100;
const MAX_INBOUNDS: usize = 50;
/// Registration codes live 24 h unless asked otherwise (at most 30 days).
const CODE_TTL_MINUTES: i64 = 24 * 60;
const CODE_TTL_MAX_MINUTES: i64 = 30 * 24 * 60;
pub const OP_KINDS: [&str; 2] = ["restart-core", "resync"];

/// A node's editable fields as a request gives them (absent: unchanged).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fields {
    name: Option<String>,
    address: Option<String>,
    status: Option<String>,
    inbounds: Option<Vec<InboundSpec>>,
    outbounds: Option<Vec<serde_json::Value>>,
    rule_set_ids: Option<Vec<String>>,
    routing: Option<NodeRouting>,
}

impl Fields {
    fn apply(self, node: &mut Node) {
        if let Some(v) = self.name {
            node.name = v.trim().to_string();
        }
        if let Some(v) = self.address {
            node.address = v.trim().to_string();
        }
        if let Some(v) = self.status {
            node.status = v;
        }
        if let Some(v) = self.inbounds {
            node.inbounds = v;
        }
        if let Some(v) = self.outbounds {
            node.outbounds = v;
        }
        if let Some(v) = self.rule_set_ids {
            node.rule_set_ids = v;
        }
        if let Some(v) = self.routing {
            node.routing = v;
        }
    }
}

fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 253
        && (address.parse::<std::net::IpAddr>().is_ok()
            || address.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
}

/// Checks a node as it would be saved; the error names the first bad field. `new_inbounds`:
/// the request gave the inbounds, so each must be one the node's core runs (when it said).
fn validate(db: &impl Executor, node: &mut Node, new_inbounds: bool) -> Result<(), ApiError> {
    if node.name.is_empty() || node.name.chars().count() > NAME_MAX {
        return Err(ApiError::validation(
            "name",
            format!("must be 1 to {NAME_MAX} characters"),
        ));
    }
    if !valid_address(&node.address) {
        return Err(ApiError::validation(
            "address",
            "must be the host name or IP address clients connect to",
        ));
    }
    if !STATUSES.contains(&node.status.as_str()) {
        return Err(ApiError::validation(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    if node.inbounds.len() > MAX_INBOUNDS {
        return Err(ApiError::validation(
            "inbounds",
            format!("at most {MAX_INBOUNDS}"),
        ));
    }
    for inbound in node.inbounds.iter_mut() {
        inbound.complete();
    }
    for (i, inbound) in node.inbounds.iter().enumerate() {
        if let Err(bad) = inbound.validate() {
            return Err(ApiError::validation(
                format!("inbounds[{i}].{}", bad.field),
                bad.message,
            ));
        }
        let earlier = &node.inbounds[..i];
        if earlier.iter().any(|o| o.tag == inbound.tag) {
            return Err(ApiError::validation(
                format!("inbounds[{i}].tag"),
                format!("`{}` is used twice", inbound.tag),
            ));
        }
        if earlier.iter().any(|o| o.port == inbound.port) {
            return Err(ApiError::validation(
                format!("inbounds[{i}].port"),
                format!("{} is used twice", inbound.port),
            ));
        }
    }
    if new_inbounds {
        check_core(node)?;
    }
    routing::check_outbounds(&node.outbounds)?;
    routing::check_rules("routing.rules", &mut node.routing.rules)?;
    let mut seen = Vec::new();
    for id in &node.rule_set_ids {
        if seen.contains(&id) {
            return Err(ApiError::validation(
                "ruleSetIds",
                format!("{id} is listed twice"),
            ));
        }
        seen.push(id);
    }
    let sets = routing::sets(db, &node.rule_set_ids)?;
    routing::check_node(node, &sets)
}

/// Refuses an inbound the node's reported core cannot run (one it would silently weaken or
/// fail on). A node that has not reported is not checked: its inbounds are held back instead.
fn check_core(node: &Node) -> Result<(), ApiError> {
    let Some(caps) = &node.core_capabilities else {
        return Ok(());
    };
    for (i, inbound) in node.inbounds.iter().enumerate() {
        if let Some(missing) = caps.missing(inbound) {
            return Err(ApiError::validation(
                format!("inbounds[{i}].{}", missing.field),
                format!(
                    "inbound `{}`: the node's core ({}) cannot run {missing}",
                    inbound.tag,
                    node.core_version.as_deref().unwrap_or("unnamed")
                ),
            ));
        }
    }
    Ok(())
}

/// Whether anything a node's config is built from differs.
fn node_facing(a: &Node, b: &Node) -> bool {
    (a.status == "disabled") != (b.status == "disabled")
        || a.inbounds != b.inbounds
        || a.outbounds != b.outbounds
        || a.rule_set_ids != b.rule_set_ids
        || a.routing != b.routing
}

/// The node view without secrets: REALITY private keys and PEM keys are withheld.
fn redacted(node: &Node, now: i64) -> serde_json::Value {
    let mut view = node.view(now);
    if let Some(inbounds) = view["inbounds"].as_array_mut() {
        for (inbound, spec) in inbounds.iter_mut().zip(&node.inbounds) {
            if spec.reality.is_some() {
                inbound["reality"]["privateKey"] = json!("(hidden)");
            }
            if inbound["tls"]["key"].is_string() {
                inbound["tls"]["key"] = json!("(hidden)");
            }
        }
    }
    view
}

/// Secrets a PATCH may leave as `(hidden)`: keep the stored value.
fn keep_hidden(before: &Node, node: &mut Node) {
    for inbound in node.inbounds.iter_mut() {
        let Some(old) = before.inbounds.iter().find(|o| o.tag == inbound.tag) else {
            continue;
        };
        if let (Some(new), Some(old)) = (inbound.reality.as_mut(), old.reality.as_ref()) {
            if new.private_key == "(hidden)" {
                new.private_key = old.private_key.clone();
            }
        }
        if let (Some(new), Some(old)) = (inbound.tls.as_mut(), old.tls.as_ref()) {
            if new.key.as_deref() == Some("(hidden)") {
                new.key = old.key.clone();
            }
        }
    }
}

pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let now = clock::now_ms();
    let status = req.query("status").filter(|s| !s.is_empty());
    if status.is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::validation(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let (filter, mut params): (&str, Vec<Value>) = match status {
        Some(s) => ("WHERE status = $1", vec![s.into()]),
        None => ("", Vec::new()),
    };
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM nodes {filter}"),
        &params,
    )?;
    let n = params.len();
    params.push(limit.into());
    params.push(offset.into());
    let items = db::query(
        &format!(
            "SELECT {} FROM nodes {filter} ORDER BY created_at, id LIMIT ${} OFFSET ${}",
            model::COLUMNS,
            n + 1,
            n + 2
        ),
        &params,
    )?
    .iter()
    .map(Node::from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let online = online_now(None)?;
    let items: Vec<_> = items
        .iter()
        .map(|node| with_online(redacted(node, now), node, &online, now))
        .collect();
    response::page(&items, total, limit, offset)
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let node = model::load(&Pool, req.param("id")?)?;
    let now = clock::now_ms();
    let online = online_now(Some(&node.id))?;
    response::json(200, &with_online(redacted(&node, now), &node, &online, now))
}

/// (links, distinct users) online per node from the agents' session events: one node's, or
/// every node's.
fn online_now(node: Option<&str>) -> Result<BTreeMap<String, (i64, i64)>, ApiError> {
    let (filter, params): (&str, Vec<Value>) = match node {
        Some(id) => ("AND p.node_id = $1", vec![id.into()]),
        None => ("", Vec::new()),
    };
    let rows = db::query(
        &format!(
            "SELECT p.node_id, CAST(COUNT(DISTINCT p.link_id) AS BIGINT) AS links, \
             CAST(COUNT(DISTINCT l.user_id) AS BIGINT) AS users FROM link_presence p \
             JOIN subscription_links l ON l.id = p.link_id WHERE p.online {filter} \
             GROUP BY p.node_id"
        ),
        &params,
    )?;
    let mut counts = BTreeMap::new();
    for row in rows.iter() {
        counts.insert(
            row.string("node_id")?,
            (row.i64("links")?, row.i64("users")?),
        );
    }
    Ok(counts)
}

/// The view with `onlineLinks` / `onlineUsers`; a node whose agent fell silent has nobody
/// online now, whatever its last events said.
fn with_online(
    mut view: serde_json::Value,
    node: &Node,
    counts: &BTreeMap<String, (i64, i64)>,
    now: i64,
) -> serde_json::Value {
    let live = node
        .last_heartbeat_at
        .is_some_and(|at| now - at <= model::HEARTBEAT_STALE_MS);
    let (links, users) = match counts.get(&node.id) {
        Some(c) if live => *c,
        _ => (0, 0),
    };
    view["onlineLinks"] = json!(links);
    view["onlineUsers"] = json!(users);
    view
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let body: Fields = req.json()?;
    if body.name.is_none() || body.address.is_none() {
        let field = if body.name.is_none() {
            "name"
        } else {
            "address"
        };
        return Err(ApiError::validation(field, "is required"));
    }
    let now = clock::now_ms();
    let mut node = Node {
        id: id::new_v4(),
        name: String::new(),
        address: String::new(),
        status: "active".into(),
        inbounds: Vec::new(),
        outbounds: Vec::new(),
        rule_set_ids: Vec::new(),
        routing: NodeRouting::default(),
        revision: 0,
        config_hash: None,
        applied_revision: None,
        sync_error: None,
        sync_at: None,
        last_heartbeat_at: None,
        agent_status: None,
        agent_version: None,
        core_version: None,
        core_flavor: None,
        hostname: None,
        cpu_load: None,
        memory_load: None,
        clients: None,
        last_error: None,
        last_error_kind: None,
        last_error_at: None,
        pending_ops: Vec::new(),
        registered_at: None,
        created_at: now,
        updated_at: now,
        core_capabilities: None,
    };
    body.apply(&mut node);
    validate(&Pool, &mut node, true)?;
    let tx = db::begin()?;
    tx.execute(
        "INSERT INTO nodes (id, name, address, status, inbounds, outbounds, rule_set_ids, routing, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            node.id.as_str().into(),
            node.name.as_str().into(),
            node.address.as_str().into(),
            node.status.as_str().into(),
            text(&node.inbounds).into(),
            text(&node.outbounds).into(),
            text(&node.rule_set_ids).into(),
            text(&node.routing).into(),
            now.into(),
        ],
    )?;
    routing::node_config_changed(&tx, &node.id, now)?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.create",
        &node.id,
        None,
        Some(redacted(&node, now)),
        now,
    )?;
    // Subscriptions list active nodes by name and address.
    tx.content_changed();
    tx.commit()?;
    response::json(201, &redacted(&node, now))
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: Fields = req.json()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let before = model::load(&tx, id)?;
    let mut node = before.clone();
    let new_inbounds = body.inbounds.is_some();
    body.apply(&mut node);
    keep_hidden(&before, &mut node);
    validate(&tx, &mut node, new_inbounds)?;
    node.updated_at = now;
    tx.execute(
        "UPDATE nodes SET name = $2, address = $3, status = $4, inbounds = $5, outbounds = $6, \
         rule_set_ids = $7, routing = $8, updated_at = $9 WHERE id = $1",
        &[
            id.into(),
            node.name.as_str().into(),
            node.address.as_str().into(),
            node.status.as_str().into(),
            text(&node.inbounds).into(),
            text(&node.outbounds).into(),
            text(&node.rule_set_ids).into(),
            text(&node.routing).into(),
            now.into(),
        ],
    )?;
    if node_facing(&before, &node) {
        routing::node_config_changed(&tx, id, now)?;
    }
    tx.content_changed();
    record::audit_request(
        &tx,
        req,
        "node",
        "node.update",
        id,
        Some(redacted(&before, now)),
        Some(redacted(&node, now)),
        now,
    )?;
    tx.commit()?;
    response::json(200, &redacted(&node, now))
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let node = model::load(&tx, id)?;
    tx.execute(
        "DELETE FROM node_credentials WHERE node_id = $1",
        &[id.into()],
    )?;
    tx.execute("DELETE FROM nodes WHERE id = $1", &[id.into()])?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.delete",
        id,
        Some(redacted(&node, now)),
        None,
        now,
    )?;
    tx.content_changed();
    tx.commit()?;
    response::no_content()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CodeBody {
    ttl_minutes: Option<i64>,
}

/// `POST /admin/nodes/:id/registration-code`: a one-time code for the node's agent. Only its
/// hash is kept; the code is shown once.
pub fn registration_code(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: CodeBody = if req.body.iter().all(u8::is_ascii_whitespace) {
        CodeBody::default()
    } else {
        req.json()?
    };
    let ttl = body.ttl_minutes.unwrap_or(CODE_TTL_MINUTES);
    if !(1..=CODE_TTL_MAX_MINUTES).contains(&ttl) {
        return Err(ApiError::validation(
            "ttlMinutes",
            format!("must be from 1 to {CODE_TTL_MAX_MINUTES}"),
        ));
    }
    let now = clock::now_ms();
    let code = secrets::token::<18>()?;
    let expires_at = now + ttl * 60_000;
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    model::load(&tx, id)?;
    tx.execute(
        "INSERT INTO node_registration_codes (code_hash, node_id, expires_at, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            secrets::sha256_hex(&code).into(),
            id.into(),
            expires_at.into(),
            req.caller.as_ref().map(|c| c.id.clone()).into(),
            now.into(),
        ],
    )?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.registration_code",
        id,
        None,
        Some(json!({ "expiresAt": expires_at })),
        now,
    )?;
    tx.commit()?;
    response::json(
        201,
        &json!({ "nodeId": id, "code": code, "expiresAt": expires_at }),
    )
}

/// `POST /admin/nodes/:id/revoke-keys`: every key of the node stops working at once.
pub fn revoke_keys(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    model::load(&tx, id)?;
    let revoked = tx.execute(
        "DELETE FROM node_credentials WHERE node_id = $1",
        &[id.into()],
    )?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.revoke_keys",
        id,
        None,
        Some(json!({ "revoked": revoked })),
        now,
    )?;
    tx.commit()?;
    response::json(200, &json!({ "revoked": revoked }))
}

/// `POST /admin/nodes/:id/restart-core` and `.../resync`: an operation for the agent, handed
/// out with every heartbeat until the agent reports it done.
pub fn operation(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let kind = if req.route.ends_with("/restart-core") {
        "restart-core"
    } else {
        "resync"
    };
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let mut node = model::load(&tx, id)?;
    let op = Op {
        id: id::new_v4(),
        kind: kind.to_string(),
        created_at: now,
    };
    // One of each kind waiting is enough.
    node.pending_ops.retain(|o| o.kind != kind);
    node.pending_ops.push(op.clone());
    tx.execute(
        "UPDATE nodes SET pending_ops = $2 WHERE id = $1",
        &[id.into(), text(&node.pending_ops).into()],
    )?;
    record::audit_request(
        &tx,
        req,
        "node",
        &format!("node.{kind}"),
        id,
        None,
        Some(json!({ "op": op })),
        now,
    )?;
    tx.commit()?;
    response::json(202, &op)
}

/// `GET /admin/nodes/:id/config`: the config the node gets for its latest revision.
pub fn config(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let node = model::load(&Pool, id)?;
    let rows = Pool.query(
        "SELECT revision, body FROM node_configs WHERE node_id = $1",
        &[id.into()],
    )?;
    let Some(row) = rows.first() else {
        return Err(ApiError::not_found(
            "config_not_built",
            format!(
                "node {} has no config yet; it is built within seconds",
                node.name
            ),
        ));
    };
    let body = build::with_revision(row.i64("revision")?, row.str("body")?);
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    })
}

/// `GET /admin/nodes/:id/errors`: what the agent reported, newest first.
pub fn errors(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    model::load(&Pool, id)?;
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM node_errors WHERE node_id = $1",
        &[id.into()],
    )?;
    let items = Pool
        .query(
            "SELECT kind, message, at FROM node_errors WHERE node_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
            &[id.into(), limit.into(), offset.into()],
        )?
        .iter()
        .map(|r| {
            Ok(json!({ "kind": r.str("kind")?, "message": r.str("message")?, "at": r.i64("at")? }))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    response::page(&items, total, limit, offset)
}

/// `POST /admin/nodes/sync`: brings everything up to date now — waiting usage reports counted,
/// then the revision pass.
pub fn sync(_req: &Request) -> Result<Response, ApiError> {
    let mut applied = crate::usage::Applied::default();
    loop {
        let pass = crate::usage::apply_pending()?;
        if pass.reports == 0 {
            break;
        }
        applied.reports += pass.reports;
        applied.entries += pass.entries;
    }
    let revisions = revisions::sync(clock::now_ms())?;
    response::json(
        200,
        &json!({
            "usageReports": applied.reports,
            "usageEntries": applied.entries,
            "changes": revisions.changes,
            "nodesBuilt": revisions.nodes_built,
            "revisionsBumped": revisions.revisions_bumped,
        }),
    )
}

/// `POST /admin/nodes/reality-keys`: a new REALITY key pair.
pub fn reality_keys(_req: &Request) -> Result<Response, ApiError> {
    let (private, public) = xray::key_pair(secrets::random::<32>()?);
    response::json(200, &json!({ "privateKey": private, "publicKey": public }))
}
